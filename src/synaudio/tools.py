"""The archive-wide sub-commands, beside the studies' own: verify datasets, print params,
metrics of your own codes, check the environment, create the MLflow database, run the
pipeline on every core."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import yaml

from synaudio.atomic import atomic_write_text
from synaudio.command import Command, cores, seed
from synaudio.errors import UserError
from synaudio.params import flatten, load_params, load_yaml, with_overrides


def _verify(args: argparse.Namespace) -> None:
    from synaudio.store import dataset_digest, load_dataset

    for path in args.datasets:
        dataset = load_dataset(path, verify=True)
        print(f"{path}: ok ({dataset.audio.shape[0]} clips, digest {dataset_digest(dataset.manifest)[:16]})")


def _params(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if args.overrides:
        overrides = load_yaml(args.overrides)
        with_overrides(params, overrides, args.overrides)  # validates the merged result
        # compact JSON: the shell splits `$(synaudio params --overrides ...)` on spaces
        compact = {key: json.dumps(value, separators=(",", ":")) for key, value in flatten(overrides).items()}
        print(" ".join(f"-S {key}={value}" for key, value in compact.items()))
    else:
        print(yaml.safe_dump(params.model_dump(), sort_keys=False), end="")


def _tracking_init(args: argparse.Namespace) -> None:
    from synaudio import tracking

    params = load_params(args.params)
    experiment_id = tracking.init_tracking(params.tracking.experiment)
    print(f"MLflow: {tracking.tracking_uri()} experiment {params.tracking.experiment!r} (id {experiment_id})")


def _load_arrays(paths: list[Path]) -> tuple[Any, Any]:
    """(factors, codes) from one .npz holding both, or from two .npy files in that order."""
    import numpy as np

    try:
        if len(paths) == 1 and paths[0].suffix == ".npz":
            with np.load(paths[0]) as archive:
                missing = {"factors", "codes"} - set(archive.files)
                if missing:
                    raise UserError(f"{paths[0]} lacks array(s) {sorted(missing)}; it has {archive.files}")
                return archive["factors"], archive["codes"]
        if len(paths) == 2 and all(p.suffix == ".npy" for p in paths):
            return np.load(paths[0]), np.load(paths[1])
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {' '.join(map(str, paths))}: {exc}") from None
    raise UserError("give one .npz with arrays 'factors' and 'codes', or two .npy files: FACTORS CODES")


def _show(scores: dict[str, float], record: dict[str, Any], path: Path | None) -> None:
    """Print `scores` as an aligned name / value table; `record` also goes to `path` as JSON."""
    if path:
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    width = max(map(len, scores))
    print("\n".join(f"{name:<{width}}  {value:8.4f}" for name, value in scores.items()))


def _metrics(args: argparse.Namespace) -> None:
    from synaudio import metrics

    factors, codes = _load_arrays(args.inputs)
    n_factors = factors.shape[1] if factors.ndim == 2 else 1
    kinds = None
    if args.categorical:
        kinds = ["categorical" if j in args.categorical else "continuous" for j in range(n_factors)]
    try:
        result = metrics.evaluate(
            factors,
            codes,
            convention=args.convention,
            paper_compat=args.paper_compat,
            metrics=args.metrics.split(",") if args.metrics else None,
            bins=args.bins,
            factor_kinds=kinds,
            dci_estimator=args.dci_estimator,
            mi_estimator=args.mi_estimator,
            test_fraction=args.test_fraction,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _show(result["metrics"], result, args.json)
    print(
        "(higher is better for every number; "
        + "; ".join(f"{k}: {v}" for k, v in result["settings"].items())
        + ")"
    )


def _doctor(args: argparse.Namespace) -> None:
    """Smoke-test the environment: the pinned torch/torchaudio pair must load together."""
    import platform
    import shutil

    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=2048, hop_length=512, n_mels=128, norm="slaney", mel_scale="slaney"
    )
    shape = tuple(mel(torch.zeros(16000)).shape)
    if shape != (128, 32):
        raise UserError(f"torchaudio MelSpectrogram returned shape {shape}, expected (128, 32)")
    missing = [tool for tool in ("git",) if shutil.which(tool) is None]
    if missing:
        raise UserError(
            f"missing system tools: {' '.join(missing)}; run `make install` (as root) to add them"
        )
    from synaudio.studies import STUDIES

    tools = [check() for study in STUDIES.values() for check in study.checks]  # e.g. SynSpeech's espeak-ng
    cuda = torch.cuda.is_available()
    print(
        f"ok: python {platform.python_version()}{_lock_python(platform.python_version())}, "
        f"torch {torch.__version__}, torchaudio "
        f"{torchaudio.__version__} (mel {shape[0]}x{shape[1]}), CUDA {'yes' if cuda else 'no'}, "
        + ", ".join(tools)
    )


def _lock_python(running: str, lock: Path = Path("requirements.lock")) -> str:
    """ " (lock: X)" - the Python the lock was resolved on, when it differs from this one
    (e.g. Debian's 3.11.2 in a locally built image, the lock made on 3.11.7)."""
    if not lock.is_file():
        return ""
    for line in lock.read_text().splitlines()[:5]:
        if line.startswith("# Resolved on Python "):
            resolved = line.removeprefix("# Resolved on Python ").strip()
            if resolved == running:
                return " (as the lock)"
            same_minor = resolved.split(".")[:2] == running.split(".")[:2]
            note = "same minor version, the pins apply" if same_minor else "other minor version: `make lock`"
            return f" (the lock was resolved on {resolved}: {note})"
    return ""


def _metrics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", type=Path, help="data.npz (arrays factors, codes) or FACTORS.npy CODES.npy"
    )
    parser.add_argument("--convention", choices=("standard", "ubisoft"), default="standard")
    parser.add_argument(
        "--paper-compat", action="store_true", help="the SynTone paper's evaluator (ubisoft, swapped)"
    )
    parser.add_argument(
        "--metrics", help="comma-separated subset (default: all; paper-compat: the paper's five)"
    )
    parser.add_argument("--bins", type=int, help="bins per column (default 20 standard, 10 ubisoft)")
    parser.add_argument(
        "--categorical",
        type=int,
        nargs="*",
        default=[],
        metavar="J",
        help="factor columns to use as classes rather than binned (standard convention)",
    )
    parser.add_argument(
        "--dci-estimator", choices=("random_forest", "lasso", "gradient_boosting"), default="random_forest"
    )
    parser.add_argument(
        "--mi-estimator",
        choices=("plugin", "chance_corrected"),
        default="plugin",
        help="mutual information for MIG, JEMMIG, DCIMIG, Modularity (chance_corrected: standard only)",
    )
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--json", type=Path, help="also write the numbers and settings here")


def _similarity(args: argparse.Namespace) -> None:
    import numpy as np

    from synaudio.metrics import similarity

    try:
        x, y = (np.load(path) for path in args.inputs)
        scores = {
            "linear_cka": similarity.linear_cka(x, y),
            "linear_cka_debiased": similarity.linear_cka(x, y, debiased=True),
            f"rbf_cka_{args.threshold:g}": similarity.rbf_cka(x, y, args.threshold),
            "mean_squared_cca": similarity.mean_squared_cca(x, y),
            f"svcca_{args.variance:g}": similarity.svcca(x, y, args.variance),
            "max_neuron_correlation": similarity.max_neuron_correlation(x, y),
        }
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot compare {' and '.join(map(str, args.inputs))}: {exc}") from None
    _show(scores, scores, args.json)


def _similarity_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs=2, type=Path, help="X.npy Y.npy: (examples, units), the same examples"
    )
    parser.add_argument("--threshold", type=float, default=0.5, help="RBF bandwidth / median distance")
    parser.add_argument("--variance", type=float, default=0.99, help="SVCCA: variance kept per side")
    parser.add_argument("--json", type=Path, help="also write the numbers here")


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("datasets", nargs="+", type=Path)


def _params_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overrides", help="YAML of overrides to print as `dvc exp run -S` arguments")


def _none(parser: argparse.ArgumentParser) -> None:
    pass


def _schedule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "stages", nargs="*", help="stages (or matrix groups) to bring up to date (default: all)"
    )
    parser.add_argument(
        "--jobs", type=int, help="parallel stages at once (default: the cores // training.threads)"
    )


def _jobs(requested: int | None, threads: int) -> int:
    """--jobs as given (at least 1), else as many stages as the cores hold at `threads` each."""

    if requested is None:
        return max(1, cores() // threads)
    if requested < 1:
        raise UserError(f"--jobs {requested}: give at least 1")
    return requested


def _schedule(args: argparse.Namespace) -> None:
    from synaudio import schedule

    threads = load_params(args.params).training.threads
    jobs = _jobs(args.jobs, threads)
    root = Path.cwd()
    plan = schedule.plan(root, args.stages)
    if not plan.order:
        print("schedule: every stage is up to date")
        return
    print(f"schedule: {len(plan.order)} stage(s) to run, {len(plan.parallel)} of them up to {jobs} at once "
          f"({cores()} cores, training.threads {threads})")  # fmt: skip
    schedule.run(root, plan, jobs)


def _sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stages", nargs="*", help="stages each experiment reproduces (default: all)")
    parser.add_argument(
        "--set", action="append", required=True, metavar="KEY=V1,V2",
        help="a params.yaml key and its values; several --set make a grid",
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, help="queue workers (default: the cores // training.threads)")
    parser.add_argument("--name", default="sweep", help="experiments are named NAME-0, NAME-1, ...")
    parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds (default: a day)")


def _sweep(args: argparse.Namespace) -> None:
    from synaudio import sweep

    jobs = _jobs(args.jobs, load_params(args.params).training.threads)
    started = time.perf_counter()
    status = sweep.sweep(
        Path.cwd(), args.set, jobs=jobs, prefix=args.name, targets=args.stages, timeout=args.timeout
    )
    print(
        f"sweep: {len(status)} experiments ({', '.join(status)}) done by {jobs} workers in "
        f"{time.perf_counter() - started:.0f} s; compare them with `dvc exp show` or in MLflow"
    )


def _remote_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("direction", choices=("push", "pull"), help="upload the cache, or fetch into it")
    parser.add_argument("--jobs", type=int, help="parallel transfers (default: DVC's)")


def _remote(args: argparse.Namespace) -> None:
    from synaudio import remote

    started = time.perf_counter()
    name = remote.transfer(Path.cwd(), args.direction, args.jobs)
    print(f"remote: dvc {args.direction} with remote {name!r} in {time.perf_counter() - started:.0f} s; "
          "dvc status --cloud: nothing left behind")  # fmt: skip


def _server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument(
        "--state", type=Path, default=Path("build/server"), help="its folder (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=5001, help="the MLflow server's (default: %(default)s)")


def _server(args: argparse.Namespace) -> None:
    from synaudio import server

    if args.action == "stop":
        server.stop(args.state)
        print(f"server: stopped (PostgreSQL's data stays in {server.cluster(args.state)})")
        return
    record = server.start(args.state, args.port) if args.action == "start" else server.status(args.state)
    print(f"server: MLflow at {record['tracking_uri']} (backend {record['backend_store_uri']}, artifacts "
          f"{record['artifacts']} at {record['s3_endpoint']}); point the stages at it with\n"
          f"  export MLFLOW_TRACKING_URI={record['tracking_uri']}")  # fmt: skip


def _quick_arguments(parser: argparse.ArgumentParser) -> None:
    _schedule_arguments(parser)
    parser.add_argument(
        "--overrides", type=Path, default=Path("params.quick.yaml"), help="(default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=Path("build/quick"), help="(default: %(default)s)")


def _quick(args: argparse.Namespace) -> None:
    from synaudio import quick

    params = quick.quick_params(Path(args.params), args.overrides)
    quick.run(Path.cwd(), args.out, params, args.stages, _jobs(args.jobs, params.training.threads))


COMMANDS = (
    Command(
        "verify", "check dataset directories against their manifests (SHA-256)", _verify_arguments, _verify
    ),
    Command(
        "params", "validate params.yaml and print it (or quick-profile overrides)", _params_arguments, _params
    ),
    Command(
        "metrics", "disentanglement metrics of your own codes (prints a table)", _metrics_arguments, _metrics
    ),
    Command(
        "similarity",
        "CKA (linear, debiased, RBF), CCA, SVCCA, max-neuron correlation of two representations",
        _similarity_arguments,
        _similarity,
    ),
    Command("doctor", "check the environment (torch + torchaudio load, system tools)", _none, _doctor),
    Command("tracking-init", "create the MLflow database and experiment", _none, _tracking_init),
    Command(
        "schedule",
        "dvc repro on every core: trainings and evaluations side by side",
        _schedule_arguments,
        _schedule,
    ),
    Command(
        "sweep",
        "a parameter grid as queued DVC experiments, drained by parallel workers",
        _sweep_arguments,
        _sweep,
    ),
    Command(
        "remote",
        "dvc push / pull with the shared remote (SYNAUDIO_REMOTE, or the configured default)",
        _remote_arguments,
        _remote,
    ),
    Command(
        "server",
        "a shared MLflow server on loopback: PostgreSQL backend, S3 (moto) artifacts (start, stop, status)",
        _server_arguments,
        _server,
    ),
    Command(
        "quick",
        "every stage on params.quick.yaml's grid, in a worktree beside the workspace",
        _quick_arguments,
        _quick,
    ),
)
