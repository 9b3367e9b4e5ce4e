"""The self-supervised study's page (reports/ssl.html): the probes' learning curves over
labelled clips, fine-tuning's over steps, their tables, each pretraining's numbers and
where every number came from. It reads the stage outputs params.yaml declares
(results.csv, finetune.csv, every model's training.json), never a local MLflow database."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from synaudio.atomic import atomic_directory, atomic_write_text
from synaudio.codes import training_provenance
from synaudio.inference import SUMMARY_FILE
from synaudio.params import SCRATCH, Params
from synaudio.report import figures
from synaudio.report.output import Output, render
from synaudio.report.readme import patch_readme
from synaudio.studies.ssl import claims, schema, tables
from synaudio.summaries import cell

MARKERS = ("<!-- results:ssl -->", "<!-- /results:ssl -->")
PLOTTED = (*schema.UNTRAINED, claims.TRIVIAL)  # the baselines drawn grey in labels.png (the tables: all)


def _pretraining(params: Params, models: Path) -> list[dict[str, Any]]:
    rows = []
    for name, seed in schema.trained(params):
        summary = json.loads((models / name / f"seed{seed}" / SUMMARY_FILE).read_text())
        last = summary["history"][-1]
        held_out = {k.removeprefix("held_out/"): v for k, v in last.items() if k.startswith("held_out/")}
        rows.append({
            "method": name, "seed": seed, "stage": schema.stage_id(name, seed, params),
            "objective": params.ssl.objective(name).model_dump(), "training": training_provenance(summary),
            "train": {k: last[k] for k in ("loss", "invariance", "redundancy")},
            "held_out": held_out,
        })  # fmt: skip
    return rows


def build(params: Params, artifacts: Path, out: Path, readme: Path | None) -> dict[str, Any]:
    """Write out/ssl/ and out/ssl.html (and the README's self-supervised table)."""
    started = time.perf_counter()
    table = pd.read_csv(artifacts / "results.csv")
    finetuned = pd.read_csv(artifacts / "finetune.csv")
    transferred = pd.read_csv(artifacts / "transfer.csv")
    verdicts = pd.read_csv(artifacts / "claims.csv")
    markdown = "\n".join([
        "**The abstract's claims**, each a paired difference over seeds (`claims.py` says the rule):", "",
        claims.markdown(verdicts), "**Linear probes** (frozen encoder)", "", tables.markdown(table),
        "**Fine-tuning** (encoder and head trained)", "", tables.finetune_markdown(finetuned),
        "**Transfer to SynTone** (frozen encoder; metrics suite on the same codes)", "",
        tables.transfer_markdown(transferred),
    ])  # fmt: skip
    labels = zip(finetuned["task"], finetuned["fraction"], strict=True)
    panels = finetuned.assign(panel=[f"{task}, {fraction:.0%} of the labels" for task, fraction in labels])
    with atomic_directory(out / "ssl") as staging:
        output = Output(staging, "ssl")
        figures.accuracy_curves(panels, output.path("steps.png"), x="step", xlabel="fine-tuning steps",
                                panel="panel", untrained=[SCRATCH])  # fmt: skip
        read_out = transferred[transferred["group"] == "read_out"]
        figures.probe_bars(
            read_out.assign(model=read_out["encoder"], metric=read_out["name"], group="probe"),
            output.path("transfer.png"), untrained=schema.UNTRAINED,
            xlabel="held-out accuracy (waveform) or R² (frequency, amplitude); black tick: chance",
        )  # fmt: skip
        drawn = table[~table["encoder"].isin([n for n in schema.SEEDLESS if n not in PLOTTED])]
        figures.accuracy_curves(drawn, output.path("labels.png"), x="labelled", xlabel="labelled clips",
                                log_x=True, untrained=PLOTTED,
                                dotted=params.ssl.vae_family.models)  # fmt: skip
        (staging / "manifest.json").write_text(json.dumps({"page": "ssl.html"}, indent=2) + "\n")
        html = render(
            Path(__file__).parent / "ssl.html.j2", ssl=params.ssl, curves=output.link("labels.png"),
            tasks=_task_tables(table), runs=_pretraining(params, artifacts / "models"),
            steps=output.link("steps.png"), finetune=params.ssl.finetune,
            finetune_tables=_finetune_tables(finetuned),
            transfer=output.link("transfer.png"), transfer_settings=params.ssl.transfer,
            evaluation=params.evaluation, claims=verdicts.to_dict("records"),
            transfer_table=_transfer_table(transferred),
        )  # fmt: skip
    atomic_write_text(out / "ssl.html", html)
    if readme is not None:
        patch_readme(readme, markdown, MARKERS)
    files = [p for p in (out / "ssl").rglob("*") if p.is_file()] + [out / "ssl.html"]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "seconds": time.perf_counter() - started}  # fmt: skip


def _encoder_rows(part: pd.DataFrame, column: str, keys: list[Any]) -> list[dict[str, Any]]:
    """Per encoder of `part`: its seeds and one cell (mean +- 95 % interval) per value of
    `column` in `keys` ("-" where it has none)."""
    rows = []
    for encoder, group in part.groupby("encoder", sort=False):
        cells = {getattr(r, column): cell(r.mean, r.ci95, r.seeds) for r in group.itertuples()}
        rows.append({"encoder": encoder, "seeds": int(group["seeds"].max()),
                     "cells": [cells.get(key, "-") for key in keys]})  # fmt: skip
    return rows


def _task_tables(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Per task: its fractions (with labelled clips), and per encoder its cells."""
    out = []
    for task, part in table.groupby("task", sort=False):
        fractions = list(dict.fromkeys(zip(part["fraction"], part["labelled"], strict=True)))
        rows = _encoder_rows(part, "fraction", [f for f, _ in fractions])
        chance = float(part["chance"].iloc[0])
        out.append({"task": task, "chance": chance, "fractions": fractions, "rows": rows})
    return out


def _finetune_tables(finetuned: pd.DataFrame) -> dict[str, Any]:
    """Per task, as `_task_tables`, each cell: accuracy after the first evaluated steps and
    after the last."""
    steps = sorted(set(finetuned["step"]))
    early, last = (_task_tables(finetuned[finetuned["step"] == step]) for step in (steps[1], steps[-1]))
    for task, final in zip(early, last, strict=True):
        for row, end in zip(task["rows"], final["rows"], strict=True):
            row["cells"] = [f"{a} / {b}" for a, b in zip(row["cells"], end["cells"], strict=True)]
    return {"early": steps[1], "last": steps[-1], "tasks": early}


def _transfer_table(transferred: pd.DataFrame) -> list[dict[str, Any]]:
    """The transfer tables (read-out, metrics suite): their columns (with chance for the
    read-out) and per representation its cells."""
    out = []
    for group in ("read_out", "suite"):
        part = transferred[transferred["group"] == group]
        columns = list(dict.fromkeys(zip(part["name"], part["chance"], strict=True)))
        rows = _encoder_rows(part, "name", [name for name, _ in columns])
        out.append({"group": group, "columns": columns, "rows": rows})
    return out
