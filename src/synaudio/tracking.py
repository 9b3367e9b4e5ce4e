"""MLflow tracking: one SQLite database per checkout, every run traceable to its inputs.

* Backend: ``sqlite:///<repo>/mlruns/mlflow.db`` with artifacts in ``<repo>/mlruns/artifacts``
  (absolute paths: ``dvc exp run --temp`` executes stages in a temporary copy under
  ``.dvc/tmp/exps``, and a relative path would vanish with it). ``MLFLOW_TRACKING_URI``
  overrides it. Never the deprecated ``./mlruns`` file store.
* Tags on every run: git commit + dirty flag, the stage, the DVC experiment name and
  baseline when DVC runs the stage, and the input dataset's content hash.
* Stages restored from DVC's run cache do not run, so they log nothing: the run that
  produced an output is the one whose tags match the output's hash.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synaudio.params import Params, flatten

DEFAULT_DB = Path("mlruns") / "mlflow.db"
# The machines running this archive are offline; don't let MLflow try to phone home.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def project_root(start: Path | None = None) -> Path:
    """The repository root - also when running inside a DVC temporary experiment copy."""
    here = (start or Path.cwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").is_file():
            return candidate
    return here


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / DEFAULT_DB}"


def _artifact_location(uri: str) -> str | None:
    """Artifacts beside the SQLite file; other backends keep their own default."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()


def init_tracking(experiment: str) -> str:
    """Create the database, schema and experiment once; return the experiment id.

    Call before starting parallel workers: concurrent schema creation on one SQLite
    file races.
    """
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        return found.experiment_id
    return mlflow.create_experiment(experiment, artifact_location=_artifact_location(uri))


def git_state(root: Path) -> dict[str, str]:
    """Commit and dirty flag of the checkout (\"unknown\" outside git)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return {"git.commit": "unknown", "git.dirty": "unknown"}
    return {"git.commit": commit, "git.dirty": str(dirty).lower()}


def run_tags(stage: str) -> dict[str, str]:
    tags = {"synaudio.stage": stage, **git_state(Path.cwd())}
    for env, tag in (("DVC_EXP_NAME", "dvc.exp_name"), ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev")):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


@contextmanager
def tracked_run(params: Params, stage: str, run_name: str) -> Iterator[Any]:
    """An MLflow run with the archive's tags and every parameter, or None when disabled."""
    if not params.tracking.enabled:
        yield None
        return
    import mlflow

    experiment_id = init_tracking(params.tracking.experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=run_tags(stage)) as run:
        mlflow.log_params({k: str(v) for k, v in flatten(params.model_dump()).items()})
        yield run


def log_dataset(path: Path, manifest: dict[str, Any], digest: str, name: str, context: str) -> None:
    """Record a dataset as a run input, identified by its content hash."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    with warnings.catch_warnings():  # "" and "file" schemes both claim local paths; same class
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(path.resolve().as_uri())
    # MLflow caps dataset digests at 36 characters: log 128 bits of the SHA-256 there
    # and the full hash as a tag.
    mlflow.log_input(MetaDataset(source, name=name, digest=digest[:32]), context=context)
    mlflow.set_tag("dataset.sha256", digest)
    mlflow.log_dict(manifest, "manifest.json")
