"""The self-supervised study's results table: probe accuracy per encoder, task and
labelled fraction, as a mean over seeds with its 95 % interval (synaudio.summaries), read
from exactly the probe files params.yaml declares."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synaudio.declared import stage_id
from synaudio.params import RANDOM_ENCODER, Params
from synaudio.studies.ssl import schema
from synaudio.summaries import cell, interval


def declared(params: Params, probes: Path) -> list[tuple[Path, str]]:
    """(probe JSON, the stage that writes it) for every pretrained encoder and the random one."""
    pretrained = [(name, seed, stage_id(schema.probe_stage(name, params), name, seed))
                  for name, seed in schema.trained(params)]  # fmt: skip
    random = [(RANDOM_ENCODER, seed, stage_id("ssl_random_probe", seed)) for seed in params.ssl.seeds]
    return [(probes / name / f"seed{seed}.json", stage) for name, seed, stage in pretrained + random]


def long_rows(results: list[dict]) -> pd.DataFrame:
    rows = []
    for result in results:
        for task, curve in result["tasks"].items():
            for point in curve["points"]:
                rows.append({"encoder": result["model"], "seed": result["seed"], "task": task,
                             "fraction": point["fraction"], "labelled": point["labelled"],
                             "accuracy": point["accuracy"], "chance": curve["chance"]})  # fmt: skip
    return pd.DataFrame(rows)


def _std(values: pd.Series) -> float:
    return float(values.std(ddof=1))


def summarise(long: pd.DataFrame) -> pd.DataFrame:
    """One row per (encoder, task, fraction): mean, std, 95 % half-width, seeds, chance."""
    table = (
        long.groupby(["encoder", "task", "fraction"], sort=False)
        .agg(labelled=("labelled", "first"), mean=("accuracy", "mean"), std=("accuracy", _std),
             seeds=("accuracy", "size"), chance=("chance", "first"))
        .reset_index()
    )  # fmt: skip
    table["ci95"] = [interval(std, seeds) for std, seeds in zip(table["std"], table["seeds"], strict=True)]
    return table


def markdown(table: pd.DataFrame) -> str:
    """Per task: encoders x labelled fractions (accuracy, mean +- 95 % interval over seeds)."""
    out = []
    for task, part in table.groupby("task", sort=False):
        fractions = list(dict.fromkeys(part["fraction"]))
        labelled = dict(zip(part["fraction"], part["labelled"], strict=False))
        head = " | ".join(f"{f:.0%} ({labelled[f]:,} clips)" for f in fractions)
        out += [f"**{task}** (chance {part['chance'].iloc[0]:.3f})", "", f"| encoder | {head} |",
                "|---|" + "---:|" * len(fractions)]  # fmt: skip
        for encoder, rows in part.groupby("encoder", sort=False):
            cells = {r.fraction: cell(r.mean, r.ci95, r.seeds) for r in rows.itertuples()}
            seeds = int(rows["seeds"].max())
            out.append(f"| {encoder} ({seeds} seed{'s' if seeds > 1 else ''}) | "
                       + " | ".join(cells.get(f, "-") for f in fractions) + " |")  # fmt: skip
        out.append("")
    return "\n".join(out)
