"""The SynTone study's sub-commands, one per dvc.yaml stage (syntone, features, train_<protocol>,
evaluate_<protocol>, infomec_corrected, aggregate, report). Heavy modules load inside the handlers, so
`synaudio --help` stays fast."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from synaudio.command import Command, Stage, build_features, model_run_arguments, write_json, write_results
from synaudio.declared import stage_id
from synaudio.protocol import DATA_PROTOCOLS, PROTOCOLS


def _protocol(parser: argparse.ArgumentParser, choices: tuple[str, ...] = tuple(PROTOCOLS)) -> None:
    parser.add_argument("--protocol", choices=choices, required=True)


def _syntone_arguments(parser: argparse.ArgumentParser) -> None:
    _protocol(parser, DATA_PROTOCOLS)  # the ladder's rungs read these protocols' data
    parser.add_argument("--out", type=Path, required=True, help="dataset directory to (re)write")
    parser.add_argument("--summary", type=Path, help="also write a JSON summary here (a DVC metric)")


def syntone(args: argparse.Namespace) -> None:
    from synaudio.store import dataset_digest
    from synaudio.studies.syntone import dataset

    stage, protocol = Stage.open(args), PROTOCOLS[args.protocol]
    spec = stage.params.syntone
    with stage.tracked(f"syntone/{protocol.name}"):
        manifest = dataset.build(spec, protocol, args.out)
        seconds = stage.seconds
        summary = dataset.summary(spec, protocol, manifest)
        if args.summary:
            write_json(args.summary, summary)
        numbers = {k: v for k, v in summary.items() if isinstance(v, int | float)}
        stage.log_metrics(numbers | {"seconds": seconds, "clips_per_second": spec.n_clips / seconds})
        stage.log_dataset(args.out, manifest, dataset_digest(manifest), "syntone", "output")
    size = manifest["files"]["audio.npy"]["bytes"]
    stage.done(
        f"syntone/{protocol.name}: wrote {spec.n_clips} clips ({size / 1e9:.2f} GB audio) "
        f"to {args.out} in {seconds:.1f} s; digest {summary['digest'][:16]}"
    )


def _features_arguments(parser: argparse.ArgumentParser) -> None:
    _protocol(parser, DATA_PROTOCOLS)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)


def features(args: argparse.Namespace) -> None:
    stage, protocol = Stage.open(args), PROTOCOLS[args.protocol]
    params = stage.params
    build_features(
        stage, args, f"features/{protocol.name}", protocol, params.features, params.split, dataset="syntone"
    )


def _model_arguments(step: str) -> Callable[[argparse.ArgumentParser], None]:
    def arguments(parser: argparse.ArgumentParser) -> None:
        _protocol(parser)
        model_run_arguments(parser, step)

    return arguments


def train(args: argparse.Namespace) -> None:
    from synaudio import syntone_recipe as recipe
    from synaudio.command import train_model

    stage, protocol = Stage.open(args), PROTOCOLS[args.protocol]
    model = stage.model(args.model)
    train_model(
        stage,
        args,
        f"train {model}/{protocol.name}/seed{args.seed}",
        config=recipe.config(stage.params, model, protocol),
        objective=stage.params.models[model],
        backbone=recipe.backbone(),
        labels={"model": model, "protocol": protocol.name},
        dataset="syntone",
        features_stage=stage_id("features", protocol.data),
    )


def evaluate(args: argparse.Namespace) -> None:
    from synaudio import features
    from synaudio import syntone_recipe as recipe
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE, load_backbone
    from synaudio.store import load_dataset
    from synaudio.studies.syntone import evaluation

    stage, protocol = Stage.open(args, threads=True), PROTOCOLS[args.protocol]
    params, model = stage.params, stage.model(args.model)
    rows, _, split = features.load_features(args.features, stage_id("features", protocol.data), args.dataset)
    backbone = load_backbone(args.model_dir, params.training.latent_dim, recipe.backbone())
    factors = load_dataset(args.dataset).factors
    name = f"evaluate {model}/{protocol.name}/seed{args.seed}"
    with stage.tracked(name):
        numbers = evaluation.evaluate_model(
            params.evaluation, protocol, backbone, rows, factors, split["test"], args.seed
        )
        model_sha256 = sha256_file(args.model_dir / MODEL_FILE)
        result = {"model": model, "seed": args.seed, "model_sha256": model_sha256, **numbers}
        write_json(args.out, result)
        stage.log_metrics({k: v["mean"] for k, v in result["metrics"].items()})
        stage.set_tag("model.sha256", model_sha256)
        stage.log_dict(result, "evaluation.json")
    headline = ", ".join(f"{k} {v['mean']:.3f}" for k, v in result["metrics"].items() if k in ("mig", "sap"))
    stage.done(f"{name}: {headline} -> {args.out}")


def _infomec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", type=Path, required=True, help="the corrected protocol's dataset")
    parser.add_argument("--models", type=Path, required=True, help="its models folder (<model>/seed<S>)")
    parser.add_argument("--out", type=Path, required=True, help="folder for <model>-seed<S>.json")


BINNED = "waveform by class, frequency and amplitude in equal bins"  # InfoMEC's factors


def infomec(args: argparse.Namespace) -> None:
    """InfoMEC of every corrected-protocol model params.yaml declares, on the posterior means
    of the held-out clips the evaluation scores. Its own stage, beside the evaluations:
    adding a metric re-runs no evaluation, and it reads the front-end it computes itself
    (features.computed), so it runs on any CPU kind without marking the trainings stale."""
    import numpy as np

    from synaudio import syntone_recipe as recipe
    from synaudio.atomic import atomic_directory
    from synaudio.errors import UserError
    from synaudio.features import held_out_inputs
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE, encode, load_backbone
    from synaudio.protocol import CORRECTED
    from synaudio.store import load_dataset
    from synaudio.studies.syntone import evaluation, tables

    stage = Stage.open(args, threads=True)
    params = stage.params
    wanted = [(m, s) for m in params.training.models for s in params.training.corrected_seeds]
    absent = [(m, s) for m, s in wanted if not (args.models / m / f"seed{s}" / MODEL_FILE).is_file()]
    missing = [stage_id("train_corrected", m, s) for m, s in absent]
    if missing:
        raise UserError(
            f"{len(missing)} declared models are missing under {args.models}; dvc repro {' '.join(missing)}"
        )
    factors = load_dataset(args.dataset).factors
    truth = factors.loc[:, list(evaluation.FACTOR_COLUMNS)].to_numpy(dtype=np.float64)
    with stage.tracked("infomec syntone/corrected"), atomic_directory(args.out) as staging:
        held_out, test_rows = held_out_inputs(args.dataset, CORRECTED, params.features, params.split)
        for model, seed in wanted:
            model_dir = args.models / model / f"seed{seed}"
            backbone = load_backbone(model_dir, params.training.latent_dim, recipe.backbone())
            means, _ = encode(backbone, held_out)
            made = evaluation.infomec_record(truth[test_rows], means, params.evaluation.bins, seed)
            result = {"model": model, "seed": seed, "protocol": CORRECTED.name,
                      "model_sha256": sha256_file(model_dir / MODEL_FILE), **made,
                      # as the evaluations write their metrics: one evaluation has no spread
                      "metrics": {k: {"mean": v, "std": 0.0} for k, v in made["metrics"].items()},
                      "settings": {**made["settings"], "bins": params.evaluation.bins,
                                   "factors": BINNED}}  # fmt: skip
            write_json(staging / tables.infomec_file(model, seed), result)
            stage.log_metrics({f"{model}.seed{seed}.{k}": v for k, v in made["metrics"].items()})
    stage.done(f"infomec syntone/corrected: {len(wanted)} models -> {args.out}")


def _artifacts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts", type=Path, default=Path("artifacts/syntone"), help="(default: %(default)s)"
    )


def _aggregate_arguments(parser: argparse.ArgumentParser) -> None:
    _artifacts(parser)
    parser.add_argument("--out", type=Path, required=True)


def aggregate(args: argparse.Namespace) -> None:
    from synaudio.declared import read_results, with_metrics
    from synaudio.studies.syntone import tables

    stage = Stage.open(args)
    declared = tables.evaluation_files(stage.params, args.artifacts)
    information = read_results(tables.infomec_files(stage.params, args.artifacts))
    evaluations = with_metrics(read_results(declared), information, tables.model_key, "infomec_corrected")
    table = tables.aggregate(evaluations, stage.params.evaluation)
    write_results(args.out, table, tables.markdown(table))
    rungs = tables.ladder_files(stage.params, args.artifacts)
    ladder = tables.ladder(read_results(rungs))
    write_results(args.out, ladder, tables.ladder_markdown(ladder), name="ladder")
    print(
        f"aggregate: {len(declared)} evaluations -> {args.out}/results.{{csv,json,md}}; "
        f"{len(rungs)} ladder evaluations -> {args.out}/ladder.{{csv,json,md}}"
    )


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    _artifacts(parser)
    parser.add_argument("--results", type=Path, default=Path("artifacts/syntone/results.csv"))
    parser.add_argument("--out", type=Path, default=Path("reports"), help="(default: %(default)s)")
    parser.add_argument("--readme", type=Path, help="also write the results table between its markers")


def report(args: argparse.Namespace) -> None:
    from synaudio.studies.syntone import report

    stage = Stage.open(args, threads=True)
    made = report.build(stage.params, args.artifacts, args.results, args.out, args.readme)
    print(
        f"report: {made['evaluations']} evaluations ({made['runs_found']} with their MLflow runs) -> "
        f"{args.out}/index.html + {made['files'] - 1} files, {made['bytes'] / 1e6:.1f} MB, "
        f"in {made['seconds']:.0f} s" + (f"; results table written into {args.readme}" if args.readme else "")
    )


COMMANDS = (
    Command(
        "syntone", "generate a SynTone dataset (DVC stage syntone@<protocol>)", _syntone_arguments, syntone
    ),
    Command(
        "features",
        "compute a protocol's front-end features (DVC stage features@<protocol>)",
        _features_arguments,
        features,
    ),
    Command(
        "train",
        "train one model (DVC stages train_<protocol>@<model>-<seed>)",
        _model_arguments("train"),
        train,
    ),
    Command(
        "evaluate",
        "evaluate one trained model (DVC stages evaluate_<protocol>@...)",
        _model_arguments("evaluate"),
        evaluate,
    ),
    Command(
        "infomec",
        "InfoMEC of the corrected protocol's models (DVC stage infomec_corrected)",
        _infomec_arguments,
        infomec,
    ),
    Command(
        "aggregate",
        "the SynTone tables (results, ablation ladder) from the evaluations params.yaml declares",
        _aggregate_arguments,
        aggregate,
    ),
    Command("report", "tables, figures, audio and index.html (DVC stage report)", _report_arguments, report),
)
