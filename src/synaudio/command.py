"""What a `synaudio` sub-command is, and the bookkeeping every pipeline stage shares.

A study contributes `Command`s (name, arguments, handler); `cli.py` only parses and
dispatches. A handler opens a `Stage`: params.yaml validated first (so a mistake stops it
before any output exists), optionally the thread cap, then one MLflow run tagged with the
command's name (or nothing when tracking is off - the logging calls are no-ops then),
the timing, and one summary line at the end naming where the output went.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synaudio import tracking
from synaudio.atomic import atomic_write_text
from synaudio.errors import UserError
from synaudio.params import MAX_SEED, Params, load_params


@dataclass(frozen=True)
class Command:
    """One sub-command: `arguments` adds its options to the parser, `run` does the work."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]


@dataclass(frozen=True)
class Study:
    """A study folder's face to the CLI: its name, what it is, the commands its stages run,
    and `checks` for `synaudio doctor` (each returns a line, or raises UserError naming the fix)."""

    name: str
    title: str
    commands: tuple[Command, ...]
    checks: tuple[Callable[[], str], ...] = ()


def outputs(args: argparse.Namespace) -> list[Path]:
    """The paths a command writes (its --out and --summary)."""
    return [path for path in (getattr(args, "out", None), getattr(args, "summary", None)) if path is not None]


def cores() -> int:
    """The cores this process may use (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_model() -> str:
    """The CPU's model name, as the kernel reports it: the last bits of the log-mel front-end
    and of oneDNN's convolutions depend on it (README, "What is guaranteed")."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def cap_threads(threads: int) -> None:
    """Run torch, BLAS and scikit-learn on `threads` threads, as training does: two stages
    side by side then never oversubscribe the cores, and the numbers do not depend on how
    many cores a machine has."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


@dataclass
class Stage:
    """The params, MLflow run and clock of one command (see the module docstring)."""

    params: Params
    command: str
    outs: list[Path]
    run: Any = None
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def open(cls, args: argparse.Namespace, *, threads: bool = False) -> Stage:
        """Validate params.yaml; `threads`: cap every pool at training.threads."""
        params = load_params(args.params)
        if threads:
            cap_threads(params.training.threads)
        return cls(params, args.command, outputs(args))

    def model(self, name: str) -> str:
        """`name` if it has a block under models:, else one clear error."""
        if name not in self.params.models:
            raise UserError(
                f"--model {name}: no block for it under models: in params.yaml ({sorted(self.params.models)})"
            )
        return name

    @contextmanager
    def tracked(self, run_name: str, outs: Sequence[Path] | None = None) -> Iterator[Stage]:
        """The MLflow run of this stage (every parameter logged); the clock restarts here."""
        with tracking.tracked_run(
            self.params, self.command, run_name, self.outs if outs is None else outs
        ) as run:
            self.run, self.started = run, time.perf_counter()
            yield self

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def log_metrics(self, values: dict[str, float | None]) -> None:
        """Log to the stage's MLflow run; an undefined number (None) is left out."""
        if self.run is not None:
            import mlflow

            mlflow.log_metrics({name.replace("/", "."): v for name, v in values.items() if v is not None})

    def log_dataset(self, path: Path, manifest: dict[str, Any], digest: str, name: str, context: str) -> None:
        if self.run is not None:
            tracking.log_dataset(path, manifest, digest, name, context)

    def log_dict(self, data: dict[str, Any], artifact: str) -> None:
        if self.run is not None:
            import mlflow

            mlflow.log_dict(data, artifact)

    def set_tag(self, key: str, value: str) -> None:
        if self.run is not None:
            import mlflow

            mlflow.set_tag(key, value)

    def provenance(self) -> dict[str, Any]:
        return tracking.provenance(self.run, self.outs)

    def done(self, line: str) -> None:
        """The command's last line: what it wrote where (and its MLflow run)."""
        print(line + (f"; MLflow run {self.run.info.run_id}" if self.run is not None else ""))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """An evaluation or summary JSON (a DVC metrics file), written atomically."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def write_results(out: Path, table: Any, markdown: str, name: str = "results") -> None:
    """A study's table as <name>.csv, <name>.json and <name>.md in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{name}.csv", table.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out / f"{name}.json", table.to_json(orient="records", indent=2) + "\n")
    atomic_write_text(out / f"{name}.md", markdown)


def seed(text: str) -> int:
    """A seed numpy and torch both accept: an integer in [0, 2**32 - 1]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..{MAX_SEED}")
    return value


def model_run_arguments(parser: argparse.ArgumentParser, step: str) -> None:
    """The options every train / evaluate command shares, whatever the study."""
    parser.add_argument("--model", required=True, help="a block under models:")
    parser.add_argument("--seed", type=seed, required=True, help=f"0 to {MAX_SEED}")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    if step == "train":
        training_outputs(parser)
    else:
        parser.add_argument("--model-dir", type=Path, required=True, help="the trained model")
        parser.add_argument("--out", type=Path, required=True, help="evaluation JSON (a DVC metrics file)")


def training_outputs(parser: argparse.ArgumentParser) -> None:
    """Where a training command writes: the model and its resumable checkpoints."""
    parser.add_argument("--out", type=Path, required=True, help="model directory (model.pt, training.json)")
    parser.add_argument("--checkpoints", type=Path, required=True, help="resumable checkpoints (last.ckpt)")


def build_features(
    stage: Stage,
    args: argparse.Namespace,
    run_name: str,
    protocol: Any,
    spec: Any,
    split: Any,
    *,
    dataset: str,
    rows: slice | None = None,
) -> None:
    """Compute a protocol's front-end of args.dataset (or its contiguous `rows`) into
    args.out in the stage's MLflow run (see synaudio.features.build); `dataset` names the
    data in MLflow."""
    from synaudio import features

    with stage.tracked(run_name):
        manifest = features.build(args.dataset, protocol, spec, split, args.out, rows)
        seconds = stage.seconds
        stage.log_metrics({"seconds": seconds, "clips_per_second": manifest["shape"][0] / seconds})
        stage.log_dataset(args.dataset, {"features": manifest}, manifest["dataset_digest"], dataset, "input")
    stage.done(f"{run_name}: {manifest['shape']} to {args.out} in {seconds:.1f} s")


def train_model(
    stage: Stage,
    args: argparse.Namespace,
    run_name: str,
    *,
    config: Any,
    objective: Any,
    backbone: Any,
    labels: dict[str, str],
    dataset: str,
    features_stage: str,
) -> None:
    """Train one model on a study's features (args: dataset, features, seed, out,
    checkpoints): `config`, `objective`, `backbone` and `labels` from the study's recipe;
    `dataset` names the data in MLflow, `features_stage` the dvc.yaml stage that writes the
    features. See `run_training`."""
    from synaudio import features

    rows, manifest, split = features.load_features(args.features, features_stage, args.dataset)
    run_training(
        stage, args, run_name, rows, split["train"], split["test"],
        logged=({"features": manifest}, manifest["dataset_digest"], dataset), data_digest=manifest["sha256"],
        config=config, objective=objective, backbone=backbone, labels=labels,
    )  # fmt: skip


def run_training(
    stage: Stage,
    args: argparse.Namespace,
    run_name: str,
    rows: Any,
    train_rows: Any,
    held_out_rows: Any,
    *,
    logged: tuple[dict[str, Any], str, str],
    data_digest: str,
    config: Any,
    objective: Any,
    backbone: Any,
    labels: dict[str, str],
    unit: str = "samples",
    observers: Sequence[Any] = (),
) -> None:
    """Train one model on `rows` in the stage's MLflow run (see synaudio.training.train,
    which also takes the `observers`):
    `logged` is the (manifest, digest, name) of the data as MLflow records it, `data_digest`
    the content the checkpoint's fingerprint names; the weights' SHA-256 and path become
    the run's tags, and one line says what was written where (`unit`: what a sample is)."""
    from synaudio import training
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE

    manifest, digest, name = logged

    def train(run: Any, provenance: dict[str, Any] | None) -> dict[str, Any]:
        return training.train(
            config, objective, backbone, rows, train_rows, held_out_rows, args.out, args.checkpoints,
            seed=args.seed, labels=labels, run=run, data_digest=data_digest, provenance=provenance,
            observers=observers,
        )  # fmt: skip

    if not training.main_process():  # a DDP worker: its share of the steps; no run, no output
        train(None, None)
        return
    with stage.tracked(run_name):
        stage.log_dataset(args.dataset, manifest, digest, name, "training")
        summary = train(stage.run, stage.provenance())
        model = args.out / MODEL_FILE
        stage.log_dict(summary, "training.json")
        stage.set_tag("model.sha256", sha256_file(model))
        stage.set_tag("model.path", str(model.resolve()))
    stage.done(
        f"{run_name}: {summary['epochs']} epochs in {summary['seconds']:.0f} s "
        f"({summary['samples_per_second']} {unit}/s) -> {args.out}"
    )
