"""The self-supervised study's results tables: probe accuracy per encoder, task and
labelled fraction, and fine-tuning accuracy per encoder, task, fraction and step, each as
a mean over seeds with its 95 % interval (synaudio.summaries), read from exactly the files
params.yaml declares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from synaudio import trivial
from synaudio.declared import stage_id
from synaudio.params import LOG_MEL, RANDOM_ENCODER, SCRATCH, Params
from synaudio.studies.ssl import schema
from synaudio.summaries import cell, interval


def declared(params: Params, probes: Path) -> list[tuple[Path, str]]:
    """(probe JSON, the stage that writes it) for every pretrained encoder and the baselines
    (untrained, log-mel, the VAE family, the trivial features)."""
    pretrained = [(name, seed, stage_id(schema.probe_stage(name, params), name, seed))
                  for name, seed in schema.trained(params)]  # fmt: skip
    random = [(RANDOM_ENCODER, seed, stage_id("ssl_random_probe", seed)) for seed in params.ssl.seeds]
    log_mel = [(LOG_MEL, 0, "ssl_log_mel_probe")]
    family = params.ssl.vae_family
    vaes = [(m, s, stage_id("ssl_vae_probe", m, s)) for m in family.models for s in family.seeds]
    measured = [(name, 0, "ssl_trivial_probe") for name in trivial.REPRESENTATIONS]
    return [
        (probes / name / f"seed{seed}.json", stage)
        for name, seed, stage in pretrained + random + log_mel + vaes + measured
    ]


def finetune_declared(params: Params, folder: Path) -> list[tuple[Path, str]]:
    """(learning curves' JSON, the stage that writes it) for every fine-tuning run."""
    settings = params.ssl.finetune
    runs = [(m, s, stage_id("ssl_finetune", m, s)) for m in settings.methods for s in settings.seeds]
    runs += [(SCRATCH, s, stage_id("ssl_scratch", s)) for s in settings.seeds]
    return [(folder / name / f"seed{seed}.json", stage) for name, seed, stage in runs]


def finetune_rows(results: list[dict]) -> pd.DataFrame:
    rows = []
    for result in results:
        for task, curves in result["tasks"].items():
            for point in curves["points"]:
                for at in point["curve"]:
                    rows.append({"encoder": result["model"], "seed": result["seed"], "task": task,
                                 "fraction": point["fraction"], "labelled": point["labelled"],
                                 "step": at["step"], "accuracy": at["accuracy"],
                                 "chance": curves["chance"]})  # fmt: skip
    return pd.DataFrame(rows)


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


def summarise(long: pd.DataFrame, by: tuple[str, ...] = ("encoder", "task", "fraction")) -> pd.DataFrame:
    """One row per `by` group: mean, std, 95 % half-width, seeds, chance."""
    table = (
        long.groupby(list(by), sort=False)
        .agg(labelled=("labelled", "first"), mean=("accuracy", "mean"), std=("accuracy", _std),
             seeds=("accuracy", "size"), chance=("chance", "first"))
        .reset_index()
    )  # fmt: skip
    table["ci95"] = [interval(std, seeds) for std, seeds in zip(table["std"], table["seeds"], strict=True)]
    return table


def _markdown(
    table: pd.DataFrame,
    title: Callable[[str, pd.DataFrame], str],
    cells: Callable[[pd.DataFrame, float], str],
) -> str:
    """Per task: a `title` line, then encoders x labelled fractions, each cell `cells(rows
    of the encoder, fraction)`."""
    out = []
    for task, part in table.groupby("task", sort=False):
        fractions = list(dict.fromkeys(part["fraction"]))
        labelled = dict(zip(part["fraction"], part["labelled"], strict=False))
        head = " | ".join(f"{f:.0%} ({labelled[f]:,} clips)" for f in fractions)
        out += [title(task, part), "", f"| encoder | {head} |", "|---|" + "---:|" * len(fractions)]
        for encoder, rows in part.groupby("encoder", sort=False):
            seeds = int(rows["seeds"].max())
            out.append(f"| {encoder} ({seeds} seed{'s' if seeds > 1 else ''}) | "
                       + " | ".join(cells(rows, f) for f in fractions) + " |")  # fmt: skip
        out.append("")
    return "\n".join(out)


def _cell(rows: pd.DataFrame) -> str:
    return cell(rows["mean"].iloc[0], rows["ci95"].iloc[0], rows["seeds"].iloc[0]) if len(rows) else "-"


def markdown(table: pd.DataFrame) -> str:
    """Per task: encoders x labelled fractions (accuracy, mean +- 95 % interval over seeds)."""
    return _markdown(
        table,
        lambda task, part: f"**{task}** (chance {part['chance'].iloc[0]:.3f})",
        lambda rows, fraction: _cell(rows[rows["fraction"] == fraction]),
    )


def finetune_markdown(table: pd.DataFrame) -> str:
    """Per task: encoders x labelled fractions, accuracy after the first evaluated steps and
    after the last (mean +- 95 % interval over seeds)."""
    steps = sorted(set(table["step"]))
    early, last = steps[1], steps[-1]

    def cells(rows: pd.DataFrame, fraction: float) -> str:
        at = rows[rows["fraction"] == fraction]
        return f"{_cell(at[at['step'] == early])} / {_cell(at[at['step'] == last])}"

    return _markdown(
        table,
        lambda task, part: (
            f"**{task}**, fine-tuned: accuracy after {early} / {last} steps "
            f"(chance {part['chance'].iloc[0]:.3f})"
        ),
        cells,
    )


def transfer_rows(found: dict[str, Any]) -> pd.DataFrame:
    """Per representation and seed, each read-out and suite score (group, name, score)."""
    return pd.DataFrame([
        {"encoder": run["encoder"], "seed": run["seed"], "group": group, "name": name, "score": score}
        for run in found["runs"] for group in ("read_out", "suite") for name, score in run[group].items()
    ])  # fmt: skip


def summarise_transfer(found: dict[str, Any]) -> pd.DataFrame:
    """One row per (encoder, group, name) - group read_out (name: a SynTone factor) or
    suite (name: a metric): mean, std, 95 % half-width over seeds, and chance (read-out)."""
    long = transfer_rows(found)
    table = (
        long.groupby(["encoder", "group", "name"], sort=False)
        .agg(mean=("score", "mean"), std=("score", _std), seeds=("score", "size"))
        .reset_index()
    )
    table["ci95"] = [interval(std, seeds) for std, seeds in zip(table["std"], table["seeds"], strict=True)]
    table["chance"] = table["name"].map(found["chance"])
    return table


def transfer_markdown(table: pd.DataFrame) -> str:
    """Representations x SynTone factors (waveform: accuracy; the others: R^2), then x the
    metrics suite's scores on the same codes."""
    out = []
    for group, title in (("read_out", "linear read-out"), ("suite", "metrics suite")):
        part = table[table["group"] == group]
        names = list(dict.fromkeys(part["name"]))
        chance = dict(zip(part["name"], part["chance"], strict=False))
        score = {n: "accuracy" if n == "waveform" else "R^2" for n in names}
        heads = [f"{n} ({score[n]}; chance {chance[n]:.2f})" if group == "read_out" else n for n in names]
        out += [f"| representation ({title}) | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(names)]
        for encoder, rows in part.groupby("encoder", sort=False):
            cells = {r.name: cell(r.mean, r.ci95, r.seeds) for r in rows.itertuples()}
            seeds = int(rows["seeds"].max())
            out.append(f"| {encoder} ({seeds} seed{'s' if seeds > 1 else ''}) | "
                       + " | ".join(cells[n] for n in names) + " |")  # fmt: skip
        out.append("")
    return "\n".join(out)
