"""The results table in Markdown, with the scale and evaluation settings stated under it,
and the README section it is embedded in (between two marker comments)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from synaudio import aggregate
from synaudio.atomic import atomic_write_text
from synaudio.errors import UserError

BEGIN, END = "<!-- results:syntone -->", "<!-- /results:syntone -->"


def scale(items: list[Any], protocol: str) -> str:
    """What was trained: models with their epochs and batch, seeds, training clips."""
    chosen = [i for i in items if i.protocol == protocol]
    if not chosen:
        return "not run"
    runs = {}
    for item in chosen:
        runs.setdefault(item.model, []).append(item)
    parts = []
    for model, group in runs.items():
        summary = group[0].training
        seeds = ", ".join(str(i.seed) for i in group)
        parts.append(f"{model} {summary['epochs']} epochs x batch {summary['batch_size']} (seed {seeds})")
    clips = chosen[0].training["train_clips"]
    return f"{clips:,} training clips; " + "; ".join(parts)


def settings(items: list[Any], protocol: str) -> str:
    chosen = [i for i in items if i.protocol == protocol]
    if not chosen:
        return "not run"
    used = chosen[0].result["settings"]
    skip = {"metrics", "factor_kinds"}
    return ", ".join(f"{k}: {v}" for k, v in used.items() if k not in skip)


def markdown(table: pd.DataFrame, items: list[Any]) -> str:
    """The table plus one line per protocol saying at what scale and how it was evaluated."""
    return (
        aggregate.markdown(table)
        + "\n"
        + "↑ higher is better, ↓ lower is better. Published: the paper's table (mean +- std of 10 "
        + "re-evaluations of one checkpoint). Reconstruction error: summed squared error per held-out "
        + "clip in each protocol's own feature scale (not comparable across protocols).\n\n"
        + f"- **Paper protocol**: {scale(items, 'paper')}. Evaluation: {settings(items, 'paper')}.\n"
        + f"- **Corrected protocol**: {scale(items, 'corrected')}. "
        + f"Evaluation: {settings(items, 'corrected')}; mean +- std across seeds (the value alone for one).\n"
    )


def patch_readme(readme: Path, section: str, markers: tuple[str, str] = (BEGIN, END)) -> None:
    """Replace what lies between the results markers; everything else stays byte-identical."""
    begin, end = markers
    text = readme.read_text()
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise UserError(f"{readme} has no {begin} ... {end} section to write the results table into")
    atomic_write_text(readme, pattern.sub(lambda _: f"{begin}\n{section}{end}", text, count=1))
