"""Which MLflow run, DVC stage and git commit produced each number and model.

Runs are matched by content, not by name: a training run by the SHA-256 of the model
file it wrote (tag ``model.sha256``), an evaluation run by that hash plus the metric
values it logged. A stage DVC restored from its run cache logged nothing, so an
output can have no run in this checkout's database; the report then says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synaudio.datasets.store import _sha256_file
from synaudio.tracking import tracking_uri
from synaudio.training import MODEL_FILE

UI_URL = "http://127.0.0.1:5000"  # `make ui`


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    experiment_id: str
    commit: str
    dirty: bool

    @property
    def ui_link(self) -> str:
        return f"{UI_URL}/#/experiments/{self.experiment_id}/runs/{self.run_id}"


class Provenance:
    """Finished runs of one MLflow experiment, indexed by what they produced."""

    def __init__(self, experiment: str) -> None:
        self.uri = tracking_uri()
        self._runs: list[Any] = []
        database = Path(self.uri.removeprefix("sqlite:///")) if self.uri.startswith("sqlite:///") else None
        if database is not None and not database.exists():
            return  # a fresh clone: no runs here (and don't create an empty database)
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        found = mlflow.get_experiment_by_name(experiment)
        if found is None:
            return
        self._runs = mlflow.search_runs(
            experiment_ids=[found.experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            output_format="list",
        )

    @property
    def available(self) -> bool:
        return bool(self._runs)

    def _record(self, run: Any) -> RunRecord:
        tags = run.data.tags
        return RunRecord(
            run_id=run.info.run_id,
            experiment_id=run.info.experiment_id,
            commit=tags.get("git.commit", "unknown"),
            dirty=tags.get("git.dirty") == "true",
        )

    def _with_model(self, stage: str, model_dir: Path) -> list[Any]:
        path = model_dir / MODEL_FILE
        if not path.exists():
            return []
        digest = _sha256_file(path)
        return [
            run
            for run in self._runs
            if run.data.tags.get("synaudio.stage") == stage and run.data.tags.get("model.sha256") == digest
        ]

    def training(self, model_dir: Path) -> RunRecord | None:
        """The newest finished training run that wrote exactly this model file."""
        runs = self._with_model("train", model_dir)
        return self._record(runs[0]) if runs else None

    def evaluation(
        self, model_dir: Path | None, result: dict[str, Any], stage: str = "evaluate"
    ) -> RunRecord | None:
        """The evaluation run of this model (or, without one, of this stage) whose logged
        metrics equal `result`'s (values or {"mean": value} entries)."""
        expected = {
            k.replace("/", "."): v["mean"] if isinstance(v, dict) else v for k, v in result["metrics"].items()
        }
        candidates = (
            self._with_model(stage, model_dir)
            if model_dir is not None
            else [run for run in self._runs if run.data.tags.get("synaudio.stage") == stage]
        )
        for run in candidates:
            logged = run.data.metrics
            if all(k in logged and math.isclose(logged[k], v, abs_tol=1e-9) for k, v in expected.items()):
                return self._record(run)
        return None
