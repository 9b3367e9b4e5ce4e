"""The speech engine's system tools: espeak-ng synthesises, sox resamples (always `-R`).

Both run as one subprocess per clip - in-process use carries engine state from one
utterance to the next - so a clip depends only on its own inputs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from synaudio.errors import UserError

TOOLS = {"espeak-ng": "espeak-ng", "sox": "sox"}  # command -> Debian package


def require_tools() -> None:
    missing = [command for command in TOOLS if shutil.which(command) is None]
    if missing:
        packages = " ".join(TOOLS[c] for c in missing)
        raise UserError(
            f"missing {', '.join(missing)}: install with `apt-get install {packages}` "
            "(`make install` does it when run as root)"
        )


def espeak_info() -> tuple[str, Path]:
    """The installed espeak-ng's version line and the data directory it reads."""
    require_tools()
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    version, _, data = out.partition("Data at:")
    if not data.strip():
        raise UserError(f"cannot find espeak-ng's data directory in `espeak-ng --version`: {out!r}")
    return version.strip(), Path(data.strip())


def doctor() -> str:
    """`synaudio doctor`'s line for the engine: its version (or the missing packages named)."""
    return espeak_info()[0]
