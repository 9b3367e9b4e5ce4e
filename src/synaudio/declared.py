"""The outputs params.yaml declares, and reading exactly those.

A stage that combines earlier results (aggregate, report) reads the files the current
parameters name - one per (model, seed, ...) of the grid - never whatever lies in a
folder. A results file left over from another grid is ignored; a declared one that is
missing or damaged stops the stage with the command that makes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synaudio.errors import UserError

REQUIRED = ("model", "metrics")


def stage_id(stage: str, *keys: object) -> str:
    """The dvc.yaml name of one item of a matrix stage: stage_id("train_paper", "vae", 0)
    is "train_paper@vae-0" (DVC joins the matrix values with "-" after "@")."""
    return f"{stage}@{'-'.join(map(str, keys))}" if keys else stage


def with_metrics(
    results: list[dict[str, Any]],
    extra: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], tuple],
    stage: str,
) -> list[dict[str, Any]]:
    """`results` with the metrics of the `extra` result of the same `key` merged in (a metric
    computed by its own stage, as InfoMEC, beside the evaluation's); an extra result
    computed from other weights (its model_sha256) is refused: `stage` is stale."""
    by_key = {key(found): found for found in extra}
    merged = []
    for result in results:
        found = by_key.get(key(result))
        if found is None:
            merged.append(result)
            continue
        if found["model_sha256"] != result["model_sha256"]:
            raise UserError(
                f"{stage} scored {key(result)} from other weights than its evaluation; "
                f"re-run: dvc repro {stage}"
            )
        merged.append({**result, "metrics": {**result["metrics"], **found["metrics"]}})
    return merged


def read_results(
    declared: list[tuple[Path, str]], required: tuple[str, ...] = REQUIRED
) -> list[dict[str, Any]]:
    """Load every (path, stage that writes it) pair, in order; one clear error otherwise.
    Each must be a mapping with the `required` keys (an evaluation's, by default)."""
    missing = [(path, stage) for path, stage in declared if not path.is_file()]
    if missing:
        path, stage = missing[0]
        raise UserError(
            f"{len(missing)} of {len(declared)} evaluations the parameters declare are missing, first "
            f"{path}; make them with: dvc repro {' '.join(stage for _, stage in missing[:4])}"
            + (" ..." if len(missing) > 4 else "")
        )
    results = []
    for path, stage in declared:
        try:
            result = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: not valid JSON ({exc}); re-make it with dvc repro -f {stage}") from None
        if not isinstance(result, dict) or any(key not in result for key in required):
            raise UserError(
                f"{path}: not a result of {stage} (needs keys {', '.join(required)}); "
                f"re-make it with dvc repro -f {stage}"
            )
        results.append(result)
    return results
