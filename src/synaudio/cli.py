"""`synaudio`: one command, a sub-command per pipeline stage (what dvc.yaml calls).

Every sub-command validates params.yaml first, so a mistake stops it before any
output exists. Problems the user can fix print one `error:` line per problem and exit
with status 2; SIGTERM and Ctrl-C leave no partial output behind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from synaudio.atomic import atomic_write_text
from synaudio.errors import UserError
from synaudio.params import MAX_SEED, flatten, load_params, load_yaml, with_overrides


def _syntone(args: argparse.Namespace) -> None:
    from synaudio import tracking
    from synaudio.datasets import syntone
    from synaudio.datasets.store import dataset_digest

    params = load_params(args.params)
    spec = params.syntone
    started = time.perf_counter()
    with tracking.tracked_run(params, "syntone", f"syntone/{args.protocol}", _outs(args)) as run:
        manifest = syntone.build(spec, args.protocol, args.out)
        seconds = time.perf_counter() - started
        summary = syntone.summary(spec, args.protocol, manifest)
        if args.summary:
            atomic_write_text(args.summary, json.dumps(summary, indent=2) + "\n")
        if run is not None:
            import mlflow

            mlflow.log_metrics(
                {k: v for k, v in summary.items() if isinstance(v, int | float)}
                | {"seconds": seconds, "clips_per_second": spec.n_clips / seconds}
            )
            tracking.log_dataset(Path(args.out), manifest, dataset_digest(manifest), "syntone", "output")
    size = manifest["files"]["audio.npy"]["bytes"]
    print(
        f"syntone/{args.protocol}: wrote {spec.n_clips} clips ({size / 1e9:.2f} GB audio) "
        f"to {args.out} in {seconds:.1f} s; digest {summary['digest'][:16]}"
        + (f"; MLflow run {run.info.run_id}" if run is not None else "")
    )


def _outs(args: argparse.Namespace) -> list[Path]:
    """The paths a stage command writes (its --out and --summary)."""
    return [path for path in (getattr(args, "out", None), getattr(args, "summary", None)) if path is not None]


def _cap_threads(params: Any) -> None:
    """Evaluation and report run torch, BLAS and scikit-learn on `training.threads` threads,
    as training does: two stages side by side then never oversubscribe the cores, and the
    numbers do not depend on how many cores a machine has."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(params.training.threads)
    threadpool_limits(params.training.threads)


def _model_name(params: Any, model: str) -> None:
    if model not in params.models:
        raise UserError(
            f"--model {model}: no block for it under models: in params.yaml ({sorted(params.models)})"
        )


def _features(args: argparse.Namespace) -> None:
    from synaudio import features, tracking

    params = load_params(args.params)
    started = time.perf_counter()
    with tracking.tracked_run(params, "features", f"features/{args.protocol}", _outs(args)) as run:
        manifest = features.build(args.dataset, args.protocol, params.features, params.split, args.out)
        seconds = time.perf_counter() - started
        if run is not None:
            import mlflow

            mlflow.log_metrics({"seconds": seconds, "clips_per_second": manifest["shape"][0] / seconds})
            tracking.log_dataset(
                args.dataset, {"features": manifest}, manifest["dataset_digest"], "syntone", "input"
            )
    print(f"features/{args.protocol}: {manifest['shape']} to {args.out} in {seconds:.1f} s")


def _quiet_lightning() -> None:
    """Keep Lightning's start-up banners and a known deprecation notice out of DVC's logs."""
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def _train(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    _model_name(params, args.model)
    _tracked_training(
        params,
        params,
        args,
        name=f"train {args.model}/{args.protocol}/seed{args.seed}",
        protocol=args.protocol,
    )


def _tracked_training(
    params: Any, train_params: Any, args: argparse.Namespace, name: str, protocol: str, backbone: Any = None
) -> None:
    """Train one model from args (dataset, features, model, seed, out, checkpoints) in an
    MLflow run that records every parameter of `params`; `train_params` drives training."""
    from synaudio import features, tracking, training
    from synaudio.datasets.store import _sha256_file  # the store's streaming hash, not a second copy

    _quiet_lightning()
    rows, manifest, split = features.load_features(args.features, args.dataset)
    dataset_name = "synspeech" if backbone else "syntone"
    with tracking.tracked_run(params, "train", name, _outs(args)) as run:
        if run is not None:
            tracking.log_dataset(
                args.dataset, {"features": manifest}, manifest["dataset_digest"], dataset_name, "training"
            )
        summary = training.train(
            train_params,
            protocol,
            args.model,
            args.seed,
            rows,
            split["train"],
            args.out,
            args.checkpoints,
            run,
            **({"backbone": backbone} if backbone else {}),
            data_digest=manifest["sha256"],
            provenance=tracking.provenance(run, _outs(args)),
        )
        if run is not None:
            import mlflow

            mlflow.log_dict(summary, "training.json")
            mlflow.set_tag("model.sha256", _sha256_file(args.out / training.MODEL_FILE))
            mlflow.set_tag("model.path", str((args.out / training.MODEL_FILE).resolve()))
    print(
        f"{name}: {summary['epochs']} epochs in {summary['seconds']:.0f} s "
        f"({summary['samples_per_second']} samples/s) -> {args.out}"
    )


def _evaluate(args: argparse.Namespace) -> None:
    from synaudio import evaluation, features, tracking, training
    from synaudio.datasets.store import _sha256_file, load_dataset

    params = load_params(args.params)
    _cap_threads(params)
    _model_name(params, args.model)
    rows, _, split = features.load_features(args.features, args.dataset)
    backbone = training.load_backbone(args.model_dir, params.training.latent_dim)
    factors = load_dataset(args.dataset).factors
    name = f"evaluate {args.model}/{args.protocol}/seed{args.seed}"
    with tracking.tracked_run(params, "evaluate", name, _outs(args)) as run:
        result = evaluation.evaluate_model(
            params, args.protocol, backbone, rows, factors, split["test"], args.seed
        )
        model_sha256 = _sha256_file(args.model_dir / training.MODEL_FILE)
        result = {"model": args.model, "seed": args.seed, "model_sha256": model_sha256, **result}
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
        if run is not None:
            import mlflow

            mlflow.log_metrics({k.replace("/", "."): v["mean"] for k, v in result["metrics"].items()})
            mlflow.set_tag("model.sha256", model_sha256)
            mlflow.log_dict(result, "evaluation.json")
    headline = ", ".join(f"{k} {v['mean']:.3f}" for k, v in result["metrics"].items() if k in ("mig", "sap"))
    print(f"{name}: {headline} -> {args.out}")


def _aggregate(args: argparse.Namespace) -> None:
    from synaudio import aggregate
    from synaudio.declared import read_results

    declared = aggregate.evaluation_files(load_params(args.params), args.artifacts)
    table = aggregate.aggregate(read_results(declared))
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "results.csv", table.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(args.out / "results.json", table.to_json(orient="records", indent=2) + "\n")
    atomic_write_text(args.out / "results.md", aggregate.markdown(table))
    print(f"aggregate: {len(declared)} evaluations -> {args.out}/results.{{csv,json,md}}")


def _speech_version(params: Any, version: str) -> None:
    if version not in params.speech.versions:
        raise UserError(f"--version {version}: not one of speech.versions ({params.speech.versions})")


def _speech_features(args: argparse.Namespace) -> None:
    from synaudio import features, tracking
    from synaudio.speech.recipe import PROTOCOL

    params = load_params(args.params)
    _speech_version(params, args.version)
    started = time.perf_counter()
    with tracking.tracked_run(
        params, "speech-features", f"speech/{args.version}/features", _outs(args)
    ) as run:
        manifest = features.build(
            args.dataset, PROTOCOL, params.speech.features, params.speech.split, args.out
        )
        seconds = time.perf_counter() - started
        if run is not None:
            import mlflow

            mlflow.log_metrics({"seconds": seconds, "clips_per_second": manifest["shape"][0] / seconds})
            tracking.log_dataset(
                args.dataset, {"features": manifest}, manifest["dataset_digest"], "synspeech", "input"
            )
    print(f"speech/{args.version}/features: {manifest['shape']} to {args.out} in {seconds:.1f} s")


def _speech_train(args: argparse.Namespace) -> None:
    from synaudio.datasets.store import load_dataset
    from synaudio.speech import recipe

    params = load_params(args.params)
    _speech_version(params, args.version)
    _model_name(params, args.model)
    clip_samples = load_dataset(args.dataset).audio.shape[1]
    _tracked_training(
        params,
        recipe.training_params(params, args.version),
        args,
        name=f"train speech/{args.version}/{args.model}/seed{args.seed}",
        protocol=recipe.PROTOCOL,
        backbone=recipe.backbone(params, clip_samples),
    )


def _speech_evaluate(args: argparse.Namespace) -> None:
    from synaudio import features, tracking, training
    from synaudio.datasets.store import _sha256_file, load_dataset
    from synaudio.speech import evaluation, recipe

    params = load_params(args.params)
    _cap_threads(params)
    _speech_version(params, args.version)
    _model_name(params, args.model)
    rows, _, split = features.load_features(args.features, args.dataset)
    dataset = load_dataset(args.dataset)
    factory = recipe.backbone(params, dataset.audio.shape[1])
    backbone = training.load_backbone(args.model_dir, params.speech.latent_dim, factory)
    model_sha256 = _sha256_file(args.model_dir / training.MODEL_FILE)
    name = f"evaluate speech/{args.version}/{args.model}/seed{args.seed}"
    with tracking.tracked_run(params, "speech-evaluate", name, _outs(args)) as run:
        numbers = evaluation.evaluate_model(params, backbone, rows, dataset.factors, split["test"], args.seed)
        result = {"version": args.version, "model": args.model, "seed": args.seed,
                  "model_sha256": model_sha256, **numbers}  # fmt: skip
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
        if run is not None:
            import mlflow

            mlflow.log_metrics({k.replace("/", "."): v for k, v in result["metrics"].items()})
            mlflow.set_tag("model.sha256", model_sha256)
            mlflow.log_dict(result, "evaluation.json")
    probes = ", ".join(f"{k} {result['metrics'][f'probe/{k}']:.2f}" for k in ("speaker", "gender", "text"))
    print(f"{name}: probes {probes}, MIG {result['metrics']['mig']:.3f} -> {args.out}")


def _speech_baselines(args: argparse.Namespace) -> None:
    from synaudio import features, tracking
    from synaudio.datasets.store import load_dataset
    from synaudio.speech import evaluation

    params = load_params(args.params)
    _cap_threads(params)
    _speech_version(params, args.version)
    rows, _, _ = features.load_features(args.features, args.dataset)
    dataset = load_dataset(args.dataset)
    args.out.mkdir(parents=True, exist_ok=True)
    outs = [args.out / evaluation.baseline_file(args.version, name) for name in evaluation.BASELINES]
    with tracking.tracked_run(params, "speech-baselines", f"baselines speech/{args.version}", outs) as run:
        results = evaluation.evaluate_baselines(rows, dataset, args.seed)
        for path, (name, numbers) in zip(outs, results.items(), strict=True):
            result = {"version": args.version, "model": name, "seed": args.seed, **numbers}
            atomic_write_text(path, json.dumps(result, indent=2) + "\n")
            if run is not None:
                import mlflow

                scores = numbers["metrics"].items()
                mlflow.log_metrics({f"{name}.{k.replace('/', '.')}": v for k, v in scores})
    print(f"speech/{args.version} baselines: {', '.join(results)} -> {args.out}")


def _speech_aggregate(args: argparse.Namespace) -> None:
    from synaudio.declared import read_results
    from synaudio.speech import tables

    declared = tables.evaluation_files(load_params(args.params), args.artifacts)
    table = tables.aggregate(read_results(declared))
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "results.csv", table.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(args.out / "results.json", table.to_json(orient="records", indent=2) + "\n")
    atomic_write_text(args.out / "results.md", tables.markdown(table))
    print(f"speech aggregate: {len(declared)} evaluations -> {args.out}/results.{{csv,json,md}}")


def _voicebank(args: argparse.Namespace) -> None:
    from synaudio.synspeech import voicebank

    params = load_params(args.params)
    manifest = voicebank.build(params.synspeech.voicebank, args.out)
    print(
        f"voicebank: {manifest['speakers']} speakers x {len(manifest['voice_kinds'])} voice kinds, "
        f"{manifest['texts']} texts ({manifest['espeak_ng']}) -> {args.out}"
    )


def _synspeech(args: argparse.Namespace) -> None:
    from synaudio import tracking
    from synaudio.datasets.store import dataset_digest
    from synaudio.synspeech import generate

    params = load_params(args.params)
    if args.version not in params.synspeech.versions:
        raise UserError(
            f"--version {args.version}: no such block under synspeech.versions "
            f"({sorted(params.synspeech.versions)})"
        )
    started = time.perf_counter()
    with tracking.tracked_run(params, "synspeech", f"synspeech/{args.version}", _outs(args)) as run:
        manifest = generate.build(args.bank, params.synspeech, args.version, args.out)
        seconds = time.perf_counter() - started
        clips, samples = manifest["audio"]["shape"]
        if run is not None:
            import mlflow

            mlflow.log_metrics({"clips": clips, "seconds": seconds, "clips_per_second": clips / seconds})
            tracking.log_dataset(args.out, manifest, dataset_digest(manifest), "synspeech", "output")
    print(
        f"synspeech/{args.version}: {clips} clips of {samples / generate.SAMPLE_RATE:.1f} s -> {args.out} "
        f"in {seconds:.0f} s ({clips / seconds:.1f} clips/s)"
    )


def _synspeech_checks(args: argparse.Namespace) -> None:
    from synaudio.synspeech import checks

    report = checks.check(args.dataset, args.out)
    timing = report["seconds_by_style"]
    print(f"synspeech checks: {report['clips']} clips pass; seconds by style {timing} -> {args.out}")


def _report(args: argparse.Namespace) -> None:
    from synaudio.report import build

    params = load_params(args.params)
    _cap_threads(params)
    made = build.build(params, args.artifacts, args.results, args.out, args.readme)
    print(
        f"report: {made['evaluations']} evaluations ({made['runs_found']} with their MLflow runs) -> "
        f"{args.out}/index.html + {made['files'] - 1} files, {made['bytes'] / 1e6:.1f} MB, "
        f"in {made['seconds']:.0f} s" + (f"; results table written into {args.readme}" if args.readme else "")
    )


def _speech_report(args: argparse.Namespace) -> None:
    from synaudio.report import speech

    params = load_params(args.params)
    _cap_threads(params)
    made = speech.build(params, args.artifacts, args.datasets, args.out, args.readme)
    print(
        f"speech report: {made['evaluations']} evaluations -> {args.out}/speech.html + {made['files'] - 1} "
        f"files, {made['bytes'] / 1e6:.1f} MB, in {made['seconds']:.0f} s"
        + (f"; tables written into {args.readme}" if args.readme else "")
    )


def _verify(args: argparse.Namespace) -> None:
    from synaudio.datasets.store import dataset_digest, load_dataset

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
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    width = max(map(len, result["metrics"]))
    print("\n".join(f"{name:<{width}}  {value:8.4f}" for name, value in result["metrics"].items()))
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
    from synaudio.synspeech.engine import espeak_info

    espeak, _ = espeak_info()  # SynSpeech's engine: names the Debian packages when missing
    cuda = torch.cuda.is_available()
    print(
        f"ok: python {platform.python_version()}, torch {torch.__version__}, torchaudio "
        f"{torchaudio.__version__} (mel {shape[0]}x{shape[1]}), CUDA {'yes' if cuda else 'no'}, {espeak}"
    )


def _seed(text: str) -> int:
    """A seed numpy and torch both accept: an integer in [0, 2**32 - 1]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..{MAX_SEED}")
    return value


def _model_run_arguments(
    sub: argparse.ArgumentParser, step: str, model_help: str, model_dir_required: bool = False
) -> None:
    """The arguments every train / evaluate command shares (SynTone and SynSpeech alike)."""
    sub.add_argument("--model", required=True, help=model_help)
    sub.add_argument("--seed", type=_seed, required=True, help=f"0 to {MAX_SEED}")
    sub.add_argument("--dataset", type=Path, required=True)
    sub.add_argument("--features", type=Path, required=True)
    if step == "train":
        sub.add_argument("--out", type=Path, required=True, help="model directory (model.pt, training.json)")
        sub.add_argument("--checkpoints", type=Path, required=True, help="resumable checkpoints (last.ckpt)")
    else:
        sub.add_argument("--model-dir", type=Path, required=model_dir_required, help="the trained model")
        sub.add_argument("--out", type=Path, required=True, help="evaluation JSON (a DVC metrics file)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synaudio", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="parameters file (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], None], help: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    sub = command("syntone", _syntone, "generate a SynTone dataset (DVC stage syntone@<protocol>)")
    sub.add_argument("--protocol", choices=("paper", "corrected"), required=True)
    sub.add_argument("--out", type=Path, required=True, help="dataset directory to (re)write")
    sub.add_argument("--summary", type=Path, help="also write a JSON summary here (a DVC metric)")

    sub = command(
        "features", _features, "compute a protocol's front-end features (DVC stage features@<protocol>)"
    )
    sub.add_argument("--protocol", choices=("paper", "corrected"), required=True)
    sub.add_argument("--dataset", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True)

    sub = command("train", _train, "train one model (DVC stages train_<protocol>@<model>-<seed>)")
    sub.add_argument("--protocol", choices=("paper", "corrected"), required=True)
    _model_run_arguments(sub, "train", "a block under models:")
    sub = command("evaluate", _evaluate, "evaluate one trained model (DVC stages evaluate_<protocol>@...)")
    sub.add_argument("--protocol", choices=("paper", "corrected"), required=True)
    _model_run_arguments(sub, "evaluate", "a block under models:", model_dir_required=True)

    sub = command("aggregate", _aggregate, "the SynTone table from the evaluations params.yaml declares")
    sub.add_argument(
        "--artifacts", type=Path, default=Path("artifacts/syntone"), help="(default: %(default)s)"
    )
    sub.add_argument("--out", type=Path, required=True)

    sub = command("voicebank", _voicebank, "build SynSpeech's voice bank (data/, pinned by data.dvc)")
    sub.add_argument("--out", type=Path, default=Path("data"), help="(default: %(default)s)")

    sub = command("synspeech", _synspeech, "speak one SynSpeech version (DVC stage synspeech@<version>)")
    sub.add_argument("--version", required=True, help="a block of synspeech.versions (small, medium, large)")
    sub.add_argument("--bank", type=Path, default=Path("data"), help="the voice bank (default: %(default)s)")
    sub.add_argument("--out", type=Path, required=True, help="dataset directory to (re)write")

    sub = command("synspeech-checks", _synspeech_checks, "check a SynSpeech version's audio (DVC metrics)")
    sub.add_argument("--dataset", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True, help="JSON of measurements and violations")

    sub = command(
        "speech-features",
        _speech_features,
        "log-mel front-end of a SynSpeech version (stage speech_features)",
    )
    sub.add_argument("--version", required=True, help="one of speech.versions")
    sub.add_argument("--dataset", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True)

    sub = command("speech-train", _speech_train, "train one model on SynSpeech (stage speech_train)")
    sub.add_argument("--version", required=True, help="one of speech.versions")
    _model_run_arguments(sub, "train", "a block under models:")
    sub = command(
        "speech-evaluate", _speech_evaluate, "probes + metrics of one SynSpeech model (stage speech_evaluate)"
    )
    sub.add_argument("--version", required=True, help="one of speech.versions")
    _model_run_arguments(sub, "evaluate", "a block under models:", model_dir_required=True)
    sub = command(
        "speech-baselines",
        _speech_baselines,
        "probes on the untrained baseline representations of one version (stage speech_baseline)",
    )
    sub.add_argument("--version", required=True, help="one of speech.versions")
    sub.add_argument("--seed", type=_seed, default=0, help="probe split seed (default: %(default)s)")
    sub.add_argument("--dataset", type=Path, required=True)
    sub.add_argument("--features", type=Path, required=True)
    sub.add_argument("--out", type=Path, required=True, help="folder for <version>-<baseline>.json")

    sub = command(
        "speech-aggregate", _speech_aggregate, "the SynSpeech table from the evaluations params.yaml declares"
    )
    sub.add_argument(
        "--artifacts", type=Path, default=Path("artifacts/speech"), help="(default: %(default)s)"
    )
    sub.add_argument("--out", type=Path, required=True)

    sub = command("report", _report, "tables, figures, audio and index.html (DVC stage report)")
    sub.add_argument(
        "--artifacts", type=Path, default=Path("artifacts/syntone"), help="(default: %(default)s)"
    )
    sub.add_argument("--results", type=Path, default=Path("artifacts/syntone/results.csv"))
    sub.add_argument("--out", type=Path, default=Path("reports"), help="(default: %(default)s)")
    sub.add_argument("--readme", type=Path, help="also write the results table between its markers")

    sub = command(
        "speech-report", _speech_report, "SynSpeech page: tables, figures, audio (stage speech_report)"
    )
    sub.add_argument(
        "--artifacts", type=Path, default=Path("artifacts/speech"), help="(default: %(default)s)"
    )
    sub.add_argument(
        "--datasets", type=Path, default=Path("artifacts/synspeech"), help="(default: %(default)s)"
    )
    sub.add_argument("--out", type=Path, default=Path("reports"), help="(default: %(default)s)")
    sub.add_argument("--readme", type=Path, help="also write the SynSpeech tables between its markers")

    sub = command("verify", _verify, "check dataset directories against their manifests (SHA-256)")
    sub.add_argument("datasets", nargs="+", type=Path)

    sub = command("params", _params, "validate params.yaml and print it (or quick-profile overrides)")
    sub.add_argument("--overrides", help="YAML of overrides to print as `dvc exp run -S` arguments")

    sub = command("metrics", _metrics, "disentanglement metrics of your own codes (prints a table)")
    sub.add_argument(
        "inputs", nargs="+", type=Path, help="data.npz (arrays factors, codes) or FACTORS.npy CODES.npy"
    )
    sub.add_argument("--convention", choices=("standard", "ubisoft"), default="standard")
    sub.add_argument(
        "--paper-compat", action="store_true", help="the SynTone paper's evaluator (ubisoft, swapped)"
    )
    sub.add_argument(
        "--metrics", help="comma-separated subset (default: all; paper-compat: the paper's five)"
    )
    sub.add_argument("--bins", type=int, help="bins per column (default 20 standard, 10 ubisoft)")
    sub.add_argument(
        "--categorical",
        type=int,
        nargs="*",
        default=[],
        metavar="J",
        help="factor columns to use as classes rather than binned (standard convention)",
    )
    sub.add_argument(
        "--dci-estimator", choices=("random_forest", "lasso", "gradient_boosting"), default="random_forest"
    )
    sub.add_argument(
        "--mi-estimator",
        choices=("plugin", "chance_corrected"),
        default="plugin",
        help="mutual information for MIG, JEMMIG, DCIMIG, Modularity (chance_corrected: standard only)",
    )
    sub.add_argument("--test-fraction", type=float, default=0.2)
    sub.add_argument("--seed", type=_seed, default=0)
    sub.add_argument("--json", type=Path, help="also write the numbers and settings here")

    command("doctor", _doctor, "check the environment (torch + torchaudio load, system tools)")
    command("tracking-init", _tracking_init, "create the MLflow database and experiment")
    return parser


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`, so temporaries are removed


def _interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C: remember it, because Lightning turns the KeyboardInterrupt into exit(1)."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _writable(paths: list[Path]) -> None:
    """Refuse up front an output whose nearest existing folder we cannot write to, rather
    than after the work (e.g. a read-only --summary after a whole dataset)."""
    import tempfile

    for path in paths:
        folder = next(p for p in path.absolute().parents if p.is_dir())
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise UserError(f"cannot write {path}: {folder} is not writable ({exc.strerror})") from None


def install_signal_handlers() -> None:
    """SIGTERM unwinds this process (temporaries removed); forked children keep the default.

    A pool worker (SynSpeech's synthesis) inherits handlers through fork, and
    `Pool.terminate()` stops idle workers with SIGTERM. A Python-level handler only runs
    once the blocking call returns, so a SIGTERM landing just before a worker blocks on
    the task queue was never seen and the pool hung at its exit (seen in a test run)."""
    global _children_reset
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _interrupt)
    if not _children_reset:  # once per process: main() also runs in-process (tests)
        os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
        _children_reset = True


_children_reset = False
_interrupted = False


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    install_signal_handlers()
    try:
        _writable([*_outs(args), *([args.checkpoints] if getattr(args, "checkpoints", None) else [])])
        args.handler(args)
    except UserError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except SystemExit:
        if not _interrupted:
            raise
        print("interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except PermissionError as exc:  # e.g. a read-only file inside a writable folder
        print(
            f"error: {exc.filename}: {exc.strerror}; fix its permissions or choose another path",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
