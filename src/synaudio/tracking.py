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
import socket
import subprocess
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synaudio.atomic import pid_alive
from synaudio.errors import UserError
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


@contextmanager
def _database_lock(uri: str) -> Iterator[None]:
    """Serialise schema creation: parallel stages (or `dvc queue` workers) starting on a new
    SQLite file would otherwise race in MLflow's migrations (alembic's temporary tables)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    database = Path(uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.parent / f".{database.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def init_tracking(experiment: str) -> str:
    """Create the database, schema and experiment once (under a file lock for SQLite; a
    tracking server answers a second creation with RESOURCE_ALREADY_EXISTS, and the
    experiment is then read); return the experiment id. Safe from several processes at once."""
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        with _database_lock(uri):
            found = mlflow.get_experiment_by_name(experiment)
            if found is not None:
                return found.experiment_id
            try:
                return mlflow.create_experiment(experiment, artifact_location=_artifact_location(uri))
            except mlflow.exceptions.MlflowException as exc:  # a server: another client made it first
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                return mlflow.get_experiment_by_name(experiment).experiment_id
    except OSError as exc:
        raise UserError(f"MLflow database {uri}: {exc.strerror or exc}; check its permissions") from None
    except Exception as exc:  # MLflow wraps SQLite's errors (read-only file, locked, damaged)
        if "readonly" in str(exc).lower() or "read-only" in str(exc).lower():
            raise UserError(f"MLflow database {uri} is read-only; make it writable or set "
                            "MLFLOW_TRACKING_URI to another database") from None  # fmt: skip
        raise


def _close_orphans(experiment_id: str) -> None:
    """Mark this host's RUNNING runs whose process is gone (SIGKILL, power loss) as KILLED."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri())
    host = socket.gethostname()
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        pid = tags.get("synaudio.pid", "")
        if tags.get("synaudio.host") == host and pid.isdigit() and not pid_alive(int(pid)):
            client.set_terminated(run.info.run_id, status="KILLED")


def _lock_outputs(text: str) -> list[str]:
    """The output paths a dvc.lock text records; tolerant of a lock caught mid-write."""
    import yaml

    try:  # libyaml's loader where built: a 0.9 MB lock in 0.4 s instead of 1.5 s, on every stage
        lock = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return []
    stages = lock.get("stages") if isinstance(lock, dict) else None
    if not isinstance(stages, dict):
        return []
    return [
        out["path"]
        for stage in stages.values()
        if isinstance(stage, dict) and isinstance(stage.get("outs"), list)
        for out in stage["outs"]
        if isinstance(out, dict) and isinstance(out.get("path"), str)
    ]


def _pipeline_outputs(root: Path, committed_lock: str) -> list[str]:
    """dvc.lock and every output it records: DVC rewrites these while a pipeline runs.

    DVC rewrites dvc.lock in place while parallel stages run, so the file on disk may be
    half-written; the committed lock (stable during a run) is read too.
    """
    try:
        current = (root / "dvc.lock").read_text()
    except OSError:
        current = ""
    outputs = _lock_outputs(committed_lock)
    return ["dvc.lock", *outputs, *(_lock_outputs(current) if current != committed_lock else [])]


def git_state(root: Path, outputs: Sequence[Path] = ()) -> dict[str, str]:
    """Commit and dirty flag of the checkout ("unknown" outside git).

    Dirty means the code, parameters or inputs differ from the commit: a changed tracked
    file other than this stage's `outputs` and the pipeline's recorded outputs. (DVC
    deletes a stage's git-tracked outputs before running it, and updates dvc.lock and
    upstream outputs during `dvc repro`; none of that makes a run's inputs uncommitted.)
    """

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        top = Path(git("rev-parse", "--show-toplevel").strip())
        status = git("status", "--porcelain", "-z", "--untracked-files=no")
        changed = [entry[3:] for entry in status.split("\0") if entry]
    except (OSError, subprocess.CalledProcessError):
        return {"git.commit": "unknown", "git.dirty": "unknown"}
    try:
        committed_lock = git("show", "HEAD:dvc.lock")
    except subprocess.CalledProcessError:  # no lock committed yet
        committed_lock = ""
    ignored = _pipeline_outputs(top, committed_lock) + [
        Path(os.path.abspath(path)).relative_to(top).as_posix()
        for path in outputs
        if Path(os.path.abspath(path)).is_relative_to(top)
    ]
    dirty = any(
        not any(path == out or path.startswith(out.rstrip("/") + "/") for out in ignored) for path in changed
    )
    return {"git.commit": commit, "git.dirty": str(dirty).lower()}


def run_tags(stage: str, outputs: Sequence[Path] = ()) -> dict[str, str]:
    tags = {"synaudio.stage": stage, "synaudio.host": socket.gethostname(), "synaudio.pid": str(os.getpid()),
            **git_state(Path.cwd(), outputs)}  # fmt: skip
    for env, tag in (("DVC_EXP_NAME", "dvc.exp_name"), ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev")):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return tags


@contextmanager
def tracked_run(params: Params, stage: str, run_name: str, outputs: Sequence[Path] = ()) -> Iterator[Any]:
    """An MLflow run with the archive's tags and every parameter, or None when disabled.
    `outputs`: what this stage writes (not counted as uncommitted changes)."""
    if not params.tracking.enabled:
        yield None
        return
    import mlflow

    experiment_id = init_tracking(params.tracking.experiment)
    _close_orphans(experiment_id)
    tags = run_tags(stage, outputs)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params({k: str(v) for k, v in flatten(params.model_dump()).items()})
        yield run


def provenance(run: Any, outputs: Sequence[Path] = ()) -> dict[str, Any]:
    """What a training writes into training.json about where it ran: the MLflow run (None
    when tracking is off) and the git state, so the report needs no local database."""
    state = git_state(Path.cwd(), outputs)
    return {
        "mlflow_run_id": run.info.run_id if run is not None else None,
        "git_commit": state["git.commit"],
        "git_dirty": state["git.dirty"],
    }


DUPLICATE_ROW = ("duplicate key value violates unique constraint", "UNIQUE constraint failed")


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
    dataset = MetaDataset(source, name=name, digest=digest[:32])
    try:
        mlflow.log_input(dataset, context=context)
    except mlflow.exceptions.MlflowException as exc:
        # Two runs logging one new dataset at once: the store checks for the row, both find
        # none, the second insert breaks its unique key (seen on a server on PostgreSQL).
        # The row exists now, so the same call links it.
        if not any(marker in str(exc) for marker in DUPLICATE_ROW):
            raise
        mlflow.log_input(dataset, context=context)
    mlflow.set_tag("dataset.sha256", digest)
    mlflow.log_dict(manifest, "manifest.json")
