"""A representation's per-clip codes on disk - how a model made outside a study (another
study's, or your own) hands its codes to a study's scoring (`synaudio speech-score`).

A codes folder holds `codes.npy`, (clips, D) float64 in the dataset's clip order, and
`representation.json`: `model` (its name in the tables), `seed`, `latents` (what a code
is, shown with the numbers), `dataset_digest` (the dataset the codes were made from, so
codes are never scored against other data), `held_out` (numbers the model measured on the
held-out clips itself; may be empty) and `provenance` (`stages`: the dvc.yaml stages that
made the model and the codes, `model_sha256`, and `training`: `training_provenance` of its
training.json - so a report shows where a number came from without reading other folders).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from synaudio.atomic import atomic_directory
from synaudio.errors import UserError

CODES, REPRESENTATION = "codes.npy", "representation.json"
REQUIRED = ("model", "seed", "latents", "dataset_digest", "held_out", "provenance")


def training_provenance(summary: dict[str, Any]) -> dict[str, Any]:
    """What a provenance table shows of a training.json: its MLflow run, git state, cost."""
    origin = summary.get("provenance", {})
    return {
        "train_run": origin.get("mlflow_run_id"), "commit": (origin.get("git_commit") or "")[:10],
        "dirty": origin.get("git_dirty") == "true", "epochs": summary.get("epochs"),
        "seconds": summary.get("seconds"), "throughput": summary.get("samples_per_second"),
    }  # fmt: skip


def write_codes(out: Path, codes: np.ndarray, representation: dict[str, Any]) -> None:
    """The folder, atomically (a crash leaves the old one or none)."""
    missing = [key for key in REQUIRED if key not in representation]
    if missing:
        raise ValueError(f"representation.json needs {missing}")
    with atomic_directory(out) as tmp:
        np.save(tmp / CODES, np.ascontiguousarray(codes, dtype=np.float64))
        (tmp / REPRESENTATION).write_text(json.dumps(representation, indent=2) + "\n")


def read_codes(folder: Path, clips: int, dataset_digest: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Codes and their description, checked against the dataset they are scored on."""
    try:
        representation = json.loads((folder / REPRESENTATION).read_text())
        codes = np.load(folder / CODES, allow_pickle=False)
    except FileNotFoundError as exc:
        raise UserError(
            f"{folder}: no codes folder ({exc.filename} missing); write one with its stage first"
        ) from None
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise UserError(
            f"{folder}: unreadable codes ({type(exc).__name__}: {exc}); write them again"
        ) from None
    missing = [key for key in REQUIRED if key not in representation]
    if missing:
        raise UserError(f"{folder / REPRESENTATION}: needs the keys {missing} (see synaudio.codes)")
    if representation["dataset_digest"] != dataset_digest:
        raise UserError(
            f"{folder}: the codes were made from another dataset (digest "
            f"{representation['dataset_digest'][:12]}, this one {dataset_digest[:12]}); encode this one again"
        )
    if codes.ndim != 2 or codes.shape[0] != clips or not np.issubdtype(codes.dtype, np.floating):
        raise UserError(
            f"{folder / CODES}: {codes.dtype} {codes.shape}, expected ({clips}, D) floats, one row per clip"
        )
    if not np.isfinite(codes).all():
        raise UserError(f"{folder / CODES}: holds NaN or infinite values; the model that wrote them diverged")
    return codes.astype(np.float64), representation
