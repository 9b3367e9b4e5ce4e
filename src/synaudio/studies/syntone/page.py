"""reports/index.html: one self-contained page (relative links only) rendered with Jinja2."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synaudio.protocol import CORRECTED, PAPER
from synaudio.report.output import render as render_page
from synaudio.studies.syntone import tables
from synaudio.studies.syntone.evaluation import FACTOR_NAMES

TEMPLATE = "index.html.j2"


def _cell(mean: Any, std: Any) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    return f"{mean:.3f} ± {0.0 if std is None or math.isnan(std) else std:.3f}"


def _anchor(protocol: str, model: str, seed: int) -> str:
    return f"run-{protocol}-{model}-{seed}"


def _rows(table: pd.DataFrame, items: list[Any], labels: dict[str, str]) -> list[dict[str, Any]]:
    first: dict[tuple[str, str], str] = {}
    for item in items:  # sorted by seed: the first one is the lowest
        first.setdefault((item.protocol, item.model), _anchor(item.protocol, item.model, item.seed))
    rows = []
    for row in table.itertuples():
        position = getattr(row, "published_vs_seeds", None)
        rows.append({
            "model": row.model,
            "metric": labels.get(row.metric, row.metric),
            "better": tables.ARROWS[row.better],
            "published": _cell(row.published_mean, row.published_std),
            "paper": tables.across_seeds(row, "paper").replace("+-", "±"),
            "position": "" if position is None or pd.isna(position) else position,
            "corrected": tables.across_seeds(row, "corrected", interval=True).replace("+-", "±"),
            "paper_anchor": first.get(("paper", row.model), ""),
            "corrected_anchor": first.get(("corrected", row.model), ""),
        })  # fmt: skip
    return rows


def _provenance(items: list[Any]) -> list[dict[str, Any]]:
    """Per evaluation, from the stages' own outputs: the DVC stages, the model's SHA-256
    (the MLflow training and evaluation runs carry it as tag model.sha256), the training
    run id and git state that training.json recorded, and the training cost."""
    rows, seen = [], set()
    for item in items:
        origin = item.training.get("provenance", {})
        rows.append({
            "anchor": _anchor(item.protocol, item.model, item.seed),
            "first": (item.protocol, item.model) not in seen,
            "protocol": item.protocol, "model": item.model, "seed": item.seed,
            "stages": item.stages,
            "sha256": item.result.get("model_sha256", ""),
            "train_run": origin.get("mlflow_run_id"),
            "commit": (origin.get("git_commit") or "")[:10],
            "dirty": origin.get("git_dirty") == "true",
            "epochs": item.training["epochs"],
            "seconds": item.training["seconds"],
            "throughput": item.training.get("samples_per_second"),
            "resumed": item.training.get("resumed_from_epoch", 0),
        })  # fmt: skip
        seen.add((item.protocol, item.model))
    return rows


def _carriers(information: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per model and factor: the latent holding most of it, and how much (normalised MI)."""
    rows = []
    for model, matrix in information.items():
        best = matrix.argmax(axis=1)
        rows.append({
            "model": model,
            "factors": [f"z{k} ({matrix[j, k]:.2f})" for j, k in enumerate(best)],
        })  # fmt: skip
    return rows


def _ladder(table: pd.DataFrame, labels: dict[str, str]) -> dict[str, Any]:
    rows = [
        {
            "model": row["model"], "rung": f"{row['rung']} {row['protocol']}",
            "change": tables.RUNG_CHANGES[row["protocol"]], "seeds": row["seeds"],
            "cells": ["" if pd.isna(row[m]) else f"{row[m]:.3f}" for m in tables.LADDER_METRICS],
        }
        for row in table.to_dict("records")
    ]  # fmt: skip
    return {"metrics": [labels.get(m, m.replace("_", " ")) for m in tables.LADDER_METRICS], "rows": rows}


def render(
    table: pd.DataFrame,
    ladder: pd.DataFrame,
    items: list[Any],
    media: list[Any],
    originals: dict[str, list[tuple[str, str]]],
    summary: dict[str, str],
    erasure: dict[str, Any],
    information: dict[str, np.ndarray],
    labels: dict[str, str],
) -> str:
    return render_page(
        Path(__file__).parent / TEMPLATE,
        rows=_rows(table, items, labels),
        ladder=_ladder(ladder, labels),
        scale={p.name: tables.scale(items, p.name) for p in (PAPER, CORRECTED)},
        settings={p.name: tables.settings(items, p.name) for p in (PAPER, CORRECTED)},
        media=media,
        originals=originals,
        summary=summary,
        erasure=erasure,
        carriers=_carriers(information),
        factor_names=FACTOR_NAMES,
        provenance=_provenance(items),
    )
