"""The README's generated sections: each study's report writes its tables between two
marker comments and leaves every other byte of the file as it was."""

from __future__ import annotations

import re
from pathlib import Path

from synaudio.atomic import atomic_write_text
from synaudio.errors import UserError


def patch_readme(readme: Path, section: str, markers: tuple[str, str]) -> None:
    """Replace what lies between the results markers; everything else stays byte-identical."""
    begin, end = markers
    text = readme.read_text()
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise UserError(f"{readme} has no {begin} ... {end} section to write the results table into")
    atomic_write_text(readme, pattern.sub(lambda _: f"{begin}\n{section}{end}", text, count=1))
