"""The SynSpeech study's sub-commands: the dataset (voicebank, synspeech, synspeech-checks)
and the VAE-family benchmark on it (speech-features, speech-train, speech-evaluate,
speech-baselines, speech-aggregate, speech-report), one per dvc.yaml stage; speech-score
scores any other representation from its codes (synaudio.codes)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from synaudio.command import (
    Command,
    Stage,
    build_features,
    model_run_arguments,
    seed,
    write_json,
    write_results,
)
from synaudio.declared import stage_id
from synaudio.errors import UserError
from synaudio.params import Params


def _benchmarked(params: Params, version: str) -> str:
    if version not in params.speech.versions:
        raise UserError(f"--version {version}: not one of speech.versions ({params.speech.versions})")
    return version


def _voicebank_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("data"), help="(default: %(default)s)")


def voicebank(args: argparse.Namespace) -> None:
    from synaudio.studies.synspeech import voicebank

    manifest = voicebank.build(Stage.open(args).params.synspeech.voicebank, args.out)
    print(
        f"voicebank: {manifest['speakers']} speakers x {len(manifest['voice_kinds'])} voice kinds, "
        f"{manifest['texts']} texts ({manifest['espeak_ng']}) -> {args.out}"
    )


def _synspeech_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version", required=True, help="a block of synspeech.versions (small, medium, large)"
    )
    parser.add_argument(
        "--bank", type=Path, default=Path("data"), help="the voice bank (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, required=True, help="dataset directory to (re)write")


def synspeech(args: argparse.Namespace) -> None:
    from synaudio.params import SPEECH_SAMPLE_RATE
    from synaudio.store import dataset_digest
    from synaudio.studies.synspeech import dataset

    stage = Stage.open(args)
    spec = stage.params.synspeech
    if args.version not in spec.versions:
        raise UserError(
            f"--version {args.version}: no such block under synspeech.versions ({sorted(spec.versions)})"
        )
    with stage.tracked(f"synspeech/{args.version}"):
        manifest = dataset.build(args.bank, spec, args.version, args.out)
        seconds = stage.seconds
        clips, samples = manifest["audio"]["shape"]
        stage.log_metrics({"clips": clips, "seconds": seconds, "clips_per_second": clips / seconds})
        stage.log_dataset(args.out, manifest, dataset_digest(manifest), "synspeech", "output")
    stage.done(
        f"synspeech/{args.version}: {clips} clips of {samples / SPEECH_SAMPLE_RATE:.1f} s -> {args.out} "
        f"in {seconds:.0f} s ({clips / seconds:.1f} clips/s)"
    )


def _checks_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON of measurements and violations")


def checks(args: argparse.Namespace) -> None:
    from synaudio.studies.synspeech import checks

    report = checks.check(args.dataset, args.out)
    timing = report["seconds_by_style"]
    print(f"synspeech checks: {report['clips']} clips pass; seconds by style {timing} -> {args.out}")


def _version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", required=True, help="one of speech.versions")


def _level_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--level-normalised",
        action="store_true",
        help="the level-normalised arm: log-mels from each clip's peak (speech.level_normalised)",
    )


def _arm(params: Params, args: argparse.Namespace) -> str:
    """The version, checked against speech.versions (and the level arm's when asked for it)."""
    version = _benchmarked(params, args.version)
    arm = params.speech.level_normalised
    if args.level_normalised and version not in arm.versions:
        raise UserError(f"--version {version}: not one of speech.level_normalised.versions ({arm.versions})")
    if args.level_normalised and getattr(args, "model", None) not in (None, *arm.models):
        raise UserError(f"--model {args.model}: not one of speech.level_normalised.models ({arm.models})")
    return version


def _label(model: str, args: argparse.Namespace) -> str:
    from synaudio.studies.synspeech import schema

    return schema.row_label(model, schema.LEVEL if args.level_normalised else None)


def _features_arguments(parser: argparse.ArgumentParser) -> None:
    _version(parser)
    _level_argument(parser)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)


def features(args: argparse.Namespace) -> None:
    # the study's protocols (recipe.PROTOCOL), without the recipe
    from synaudio.protocol import CORRECTED, LEVEL_NORMALISED

    stage = Stage.open(args)
    params, version = stage.params, _arm(stage.params, args)
    bench, level = params.speech, args.level_normalised
    build_features(
        stage, args, f"speech/{version}/features{'_level' if level else ''}",
        LEVEL_NORMALISED if level else CORRECTED, bench.features, bench.split, dataset="synspeech",
    )  # fmt: skip


def _model_arguments(step: str) -> Callable[[argparse.ArgumentParser], None]:
    def arguments(parser: argparse.ArgumentParser) -> None:
        _version(parser)
        _level_argument(parser)
        model_run_arguments(parser, step)

    return arguments


def train(args: argparse.Namespace) -> None:
    from synaudio import speech_recipe as recipe
    from synaudio.command import train_model
    from synaudio.store import load_dataset
    from synaudio.studies.synspeech import schema

    stage = Stage.open(args)
    params, version, model = stage.params, _arm(stage.params, args), stage.model(args.model)
    clip_samples = load_dataset(args.dataset).audio.shape[1]
    level = args.level_normalised
    train_model(
        stage,
        args,
        f"train speech/{version}/{_label(model, args)}/seed{args.seed}",
        config=recipe.config(params, version),
        objective=recipe.objective(params, model),
        backbone=recipe.backbone(params, clip_samples),
        labels={"model": model, "protocol": recipe.protocol(level).name},
        dataset="synspeech",
        features_stage=stage_id(schema.arm_stage("speech_features", level), version),
    )


def evaluate(args: argparse.Namespace) -> None:
    from synaudio import features
    from synaudio import speech_recipe as recipe
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE, load_backbone
    from synaudio.store import load_dataset
    from synaudio.studies.synspeech import evaluation, schema

    stage = Stage.open(args, threads=True)
    params, version, model = stage.params, _arm(stage.params, args), stage.model(args.model)
    level = args.level_normalised
    features_stage = stage_id(schema.arm_stage("speech_features", level), version)
    rows, _, split = features.load_features(args.features, features_stage, args.dataset)
    dataset = load_dataset(args.dataset)
    factory = recipe.backbone(params, dataset.audio.shape[1])
    backbone = load_backbone(args.model_dir, params.speech.latent_dim, factory)
    model_sha256 = sha256_file(args.model_dir / MODEL_FILE)
    name = f"evaluate speech/{version}/{_label(model, args)}/seed{args.seed}"
    with stage.tracked(name):
        numbers = evaluation.evaluate_model(params, backbone, rows, dataset.factors, split["test"], args.seed)
        result = {
            "version": version,
            "model": model,
            **({"front_end": schema.LEVEL} if level else {}),
            "seed": args.seed,
            "model_sha256": model_sha256,
            **numbers,
        }
        write_json(args.out, result)
        stage.log_metrics(result["metrics"])
        stage.set_tag("model.sha256", model_sha256)
        stage.log_dict(result, "evaluation.json")
    probes = ", ".join(f"{k} {result['metrics'][f'probe/{k}']:.2f}" for k in ("speaker", "gender", "text"))
    stage.done(f"{name}: probes {probes}, MIG {result['metrics']['mig']:.3f} -> {args.out}")


def _score_arguments(parser: argparse.ArgumentParser) -> None:
    _version(parser)
    parser.add_argument("--name", required=True, help="a representation under speech.scored")
    parser.add_argument("--seed", type=seed, required=True, help="one of its seeds (also the probes' split)")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--codes", type=Path, required=True, help="its codes folder (synaudio.codes)")
    parser.add_argument("--out", type=Path, required=True, help="evaluation JSON (a DVC metrics file)")


def score(args: argparse.Namespace) -> None:
    from synaudio import speech_recipe as recipe
    from synaudio.codes import read_codes
    from synaudio.features import split_rows
    from synaudio.store import dataset_digest, load_dataset
    from synaudio.studies.synspeech import evaluation

    stage = Stage.open(args, threads=True)
    params, version = stage.params, _benchmarked(stage.params, args.version)
    scored = params.speech.scored.get(args.name)
    if scored is None or version not in scored.versions or args.seed not in scored.seeds:
        raise UserError(
            f"--name {args.name} --version {version} --seed {args.seed}: not declared under speech.scored "
            f"({ {name: s.model_dump() for name, s in params.speech.scored.items()} })"
        )
    dataset = load_dataset(args.dataset)
    codes, representation = read_codes(args.codes, len(dataset.audio), dataset_digest(dataset.manifest))
    if representation["model"] != args.name:
        raise UserError(f"{args.codes}: codes of {representation['model']!r}, not of --name {args.name}")
    _, test_rows = split_rows(len(dataset.audio), params.speech.split, recipe.PROTOCOL.split)
    name = f"score speech/{version}/{args.name}/seed{args.seed}"
    with stage.tracked(name):
        numbers = evaluation.evaluate_codes(
            params, codes, dataset.factors, test_rows, args.seed, representation["latents"],
            representation["held_out"],
        )  # fmt: skip
        # InfoMEC beside DCI here; a trained model's comes from its own stage (speech_infomec)
        information = evaluation.infomec_record(codes[test_rows], dataset.factors.iloc[test_rows], args.seed)
        numbers["metrics"].update(information.pop("metrics"))
        numbers["infomec"] = information
        provenance = representation["provenance"]
        result = {
            "version": version,
            "model": args.name,
            "seed": args.seed,
            "model_sha256": provenance.get("model_sha256", ""),
            "representation": {"codes": str(args.codes), **provenance},
            **numbers,
        }
        write_json(args.out, result)
        stage.log_metrics(result["metrics"])
        stage.log_dict(result, "evaluation.json")
    probes = ", ".join(f"{k} {result['metrics'][f'probe/{k}']:.2f}" for k in ("speaker", "gender", "text"))
    stage.done(f"{name}: probes {probes}, MIG {result['metrics']['mig']:.3f} -> {args.out}")


def _baselines_arguments(parser: argparse.ArgumentParser) -> None:
    _version(parser)
    parser.add_argument("--seed", type=seed, default=0, help="probe split seed (default: %(default)s)")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for <version>-<baseline>.json")


def baselines(args: argparse.Namespace) -> None:
    from synaudio import features
    from synaudio.store import load_dataset
    from synaudio.studies.synspeech import evaluation, schema

    stage = Stage.open(args, threads=True)
    version = _benchmarked(stage.params, args.version)
    rows, _, _ = features.load_features(args.features, stage_id("speech_features", version), args.dataset)
    dataset = load_dataset(args.dataset)
    args.out.mkdir(parents=True, exist_ok=True)
    outs = [args.out / schema.baseline_file(version, name) for name in schema.BASELINES]
    with stage.tracked(f"baselines speech/{version}", outs):
        results = evaluation.evaluate_baselines(rows, dataset, args.seed)
        for path, (name, numbers) in zip(outs, results.items(), strict=True):
            write_json(path, {"version": version, "model": name, "seed": args.seed, **numbers})
            stage.log_metrics({f"{name}.{metric}": value for metric, value in numbers["metrics"].items()})
    stage.done(f"speech/{version} baselines: {', '.join(results)} -> {args.out}")


def _artifacts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts", type=Path, default=Path("artifacts/speech"), help="(default: %(default)s)"
    )


def _infomec_arguments(parser: argparse.ArgumentParser) -> None:
    _version(parser)
    _level_argument(parser)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument(
        "--models", type=Path, required=True, help="the arm's models folder (<model>/seed<S>)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for <model>-seed<S>.json")


def infomec(args: argparse.Namespace) -> None:
    """InfoMEC of one version's trained models (of one front-end arm) on the posterior means
    of the held-out clips the evaluation scores. Its own stage, reading a front-end it
    computes itself: see synaudio.studies.syntone.commands.infomec for why."""

    from synaudio import speech_recipe as recipe
    from synaudio.atomic import atomic_directory
    from synaudio.features import held_out_inputs
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE, encode, load_backbone
    from synaudio.store import load_dataset
    from synaudio.studies.synspeech import evaluation, schema, tables

    stage = Stage.open(args, threads=True)
    params, version, level = stage.params, _arm(stage.params, args), args.level_normalised
    bench = params.speech
    wanted = [(m, s) for m in tables.arm_models(params, level) for s in bench.seeds]
    missing = [
        stage_id(schema.arm_stage("speech_train", level), version, m, s)
        for m, s in wanted
        if not (args.models / m / f"seed{s}" / MODEL_FILE).is_file()
    ]
    if missing:
        raise UserError(f"{len(missing)} declared models are missing; dvc repro {' '.join(missing)}")
    dataset = load_dataset(args.dataset)
    factory = recipe.backbone(params, dataset.audio.shape[1])
    arm = {"front_end": schema.LEVEL} if level else {}
    with (
        stage.tracked(f"infomec speech/{version}{'/level' if level else ''}"),
        atomic_directory(args.out) as staging,
    ):
        held_out, test_rows = held_out_inputs(
            args.dataset, recipe.protocol(level), bench.features, bench.split
        )
        factors = dataset.factors.iloc[test_rows]
        for model, seed in wanted:
            model_dir = args.models / model / f"seed{seed}"
            means, _ = encode(load_backbone(model_dir, bench.latent_dim, factory), held_out)
            information = evaluation.infomec_record(means, factors, seed)
            result = {"version": version, "model": model, **arm, "seed": seed,
                      "model_sha256": sha256_file(model_dir / MODEL_FILE), **information}  # fmt: skip
            write_json(staging / tables.infomec_file(model, seed), result)
            stage.log_metrics({f"{model}.seed{seed}.{k}": v for k, v in information["metrics"].items()})
    stage.done(f"infomec speech/{version}: {len(wanted)} models -> {args.out}")


def _aggregate_arguments(parser: argparse.ArgumentParser) -> None:
    _artifacts(parser)
    parser.add_argument("--out", type=Path, required=True)


def aggregate(args: argparse.Namespace) -> None:
    from synaudio.declared import read_results, with_metrics
    from synaudio.studies.synspeech import tables

    params = Stage.open(args).params
    declared = tables.evaluation_files(params, args.artifacts)
    information = read_results(tables.infomec_files(params, args.artifacts))
    table = tables.aggregate(
        with_metrics(read_results(declared), information, tables.model_key, "speech_infomec")
    )
    write_results(args.out, table, tables.markdown(table))
    print(f"speech aggregate: {len(declared)} evaluations -> {args.out}/results.{{csv,json,md}}")


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    _artifacts(parser)
    parser.add_argument(
        "--datasets", type=Path, default=Path("artifacts/synspeech"), help="(default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports"), help="(default: %(default)s)")
    parser.add_argument("--readme", type=Path, help="also write the SynSpeech tables between its markers")


def report(args: argparse.Namespace) -> None:
    from synaudio.studies.synspeech import report

    stage = Stage.open(args, threads=True)
    made = report.build(stage.params, args.artifacts, args.datasets, args.out, args.readme)
    print(
        f"speech report: {made['evaluations']} evaluations -> {args.out}/speech.html + {made['files'] - 1} "
        f"files, {made['bytes'] / 1e6:.1f} MB, in {made['seconds']:.0f} s"
        + (f"; tables written into {args.readme}" if args.readme else "")
    )


COMMANDS = (
    Command(
        "voicebank",
        "build SynSpeech's voice bank (data/, pinned by data.dvc)",
        _voicebank_arguments,
        voicebank,
    ),
    Command(
        "synspeech",
        "speak one SynSpeech version (DVC stage synspeech@<version>)",
        _synspeech_arguments,
        synspeech,
    ),
    Command("synspeech-checks", "check a SynSpeech version's audio (DVC metrics)", _checks_arguments, checks),
    Command(
        "speech-features",
        "log-mel front-end of a SynSpeech version (stage speech_features)",
        _features_arguments,
        features,
    ),
    Command(
        "speech-train", "train one model on SynSpeech (stage speech_train)", _model_arguments("train"), train
    ),
    Command(
        "speech-evaluate",
        "probes + metrics of one SynSpeech model (stage speech_evaluate)",
        _model_arguments("evaluate"),
        evaluate,
    ),
    Command(
        "speech-score",
        "probes + metrics of any representation's codes (speech.scored; stage score_<name>)",
        _score_arguments,
        score,
    ),
    Command(
        "speech-baselines",
        "probes on the untrained baseline representations of one version (stage speech_baseline)",
        _baselines_arguments,
        baselines,
    ),
    Command(
        "speech-infomec",
        "InfoMEC of one SynSpeech version's trained models (stage speech_infomec)",
        _infomec_arguments,
        infomec,
    ),
    Command(
        "speech-aggregate",
        "the SynSpeech table from the evaluations params.yaml declares",
        _aggregate_arguments,
        aggregate,
    ),
    Command(
        "speech-report",
        "SynSpeech page: tables, figures, audio (stage speech_report)",
        _report_arguments,
        report,
    ),
)
