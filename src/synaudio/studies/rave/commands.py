"""The RAVE study's sub-commands, one per dvc.yaml stage: per SynSpeech version and seed
rave-train (rave_train) and rave-encode (rave_encode: the codes folder that
`synaudio speech-score` scores in stage score_rave_style), rave-acids (acids_rave: the real
RAVE's model and codes, scored in score_acids_rave); rave-report (rave_report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from synaudio.command import Command, Stage, seed, training_outputs, write_json
from synaudio.errors import UserError
from synaudio.params import Params


def _declared(params: Params, args: argparse.Namespace, name: str = "rave_style") -> str:
    from synaudio.studies.rave.schema import declared

    scored = declared(params, name)
    if args.version not in scored.versions or args.seed not in scored.seeds:
        raise UserError(
            f"--version {args.version} --seed {args.seed}: not among speech.scored.{name} "
            f"(versions {scored.versions}, seeds {scored.seeds})"
        )
    return args.version


def _arguments(step: str):
    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--version", required=True, help="one of speech.scored.rave_style.versions")
        parser.add_argument("--seed", type=seed, required=True, help="one of speech.scored.rave_style.seeds")
        parser.add_argument("--dataset", type=Path, required=True, help="a SynSpeech version's dataset")
        if step == "train":
            training_outputs(parser)
        elif step == "acids":
            parser.add_argument(
                "--model-dir", type=Path, required=True, help="its weights (model.pt, training.json)"
            )
            parser.add_argument("--out", type=Path, required=True, help="codes folder (synaudio.codes)")
            parser.add_argument(
                "--work", type=Path, required=True, help="scratch: LMDB, RAVE's checkpoints, logs"
            )
        else:
            parser.add_argument("--model-dir", type=Path, required=True, help="the trained model")
            parser.add_argument("--out", type=Path, required=True, help="codes folder (synaudio.codes)")

    return arguments


def train(args: argparse.Namespace) -> None:
    from synaudio import rave_recipe as recipe
    from synaudio.command import run_training
    from synaudio.params import RAVE
    from synaudio.store import dataset_digest, load_dataset
    from synaudio.studies.rave import schema

    stage = Stage.open(args)
    params, version = stage.params, _declared(stage.params, args)
    dataset = load_dataset(args.dataset)
    train_rows, _ = schema.speech_split(params, len(dataset.audio))
    digest = dataset_digest(dataset.manifest)
    run_training(
        stage, args, f"train rave/{version}/seed{args.seed}", dataset.audio, train_rows, None,
        logged=(dataset.manifest, digest, "synspeech"), data_digest=digest,
        config=recipe.config(params, version), objective=recipe.objective(params),
        backbone=recipe.backbone(params), labels={"model": RAVE, "study": "rave"}, unit="windows",
    )  # fmt: skip


def encode(args: argparse.Namespace) -> None:
    import json

    from synaudio import rave_recipe as recipe
    from synaudio.codes import training_provenance, write_codes
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE, SUMMARY_FILE, load_backbone
    from synaudio.params import RAVE
    from synaudio.store import dataset_digest, load_dataset
    from synaudio.studies.rave import encode, schema

    stage = Stage.open(args, threads=True)
    params, version = stage.params, _declared(stage.params, args)
    dataset = load_dataset(args.dataset)
    _, test_rows = schema.speech_split(params, len(dataset.audio))
    network = load_backbone(args.model_dir, params.rave.latent_dim, recipe.backbone(params))
    summary = json.loads((args.model_dir / SUMMARY_FILE).read_text())
    model_sha256 = sha256_file(args.model_dir / MODEL_FILE)
    name = f"encode rave/{version}/seed{args.seed}"
    with stage.tracked(name):
        codes, held_out = encode.encode(params, network, dataset, test_rows)
        write_codes(args.out, codes, {
            "model": RAVE, "seed": args.seed, "latents": encode.LATENTS,
            "dataset_digest": dataset_digest(dataset.manifest), "held_out": held_out,
            "provenance": {"stages": schema.stages(version, args.seed), "model_sha256": model_sha256,
                           "training": training_provenance(summary)},
        })  # fmt: skip
        stage.log_metrics({"spectral_distance": held_out["spectral_distance"], "seconds": stage.seconds})
        stage.set_tag("model.sha256", model_sha256)
    stage.done(
        f"{name}: {codes.shape[0]} codes of {codes.shape[1]}, held-out spectral distance "
        f"{held_out['spectral_distance']:.3f} -> {args.out}"
    )


def acids(args: argparse.Namespace) -> None:
    import shutil

    from synaudio.atomic import atomic_directory
    from synaudio.codes import training_provenance, write_codes
    from synaudio.declared import stage_id
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE, SUMMARY_FILE
    from synaudio.params import ACIDS, SPEECH_SAMPLE_RATE
    from synaudio.store import dataset_digest, load_dataset
    from synaudio.studies.rave import acids, encode, schema

    stage = Stage.open(args)
    params, version = stage.params, _declared(stage.params, args, ACIDS)
    python = acids.venv_python()
    dataset = load_dataset(args.dataset)
    if dataset.manifest["audio"]["sample_format"] != "int16":
        raise UserError(f"{args.dataset}: acids-rave reads int16 clips (synspeech.sample_format: int16)")
    rows = schema.speech_split(params, len(dataset.audio))
    digest, settings = dataset_digest(dataset.manifest), params.acids_rave
    name = f"train {ACIDS}/{version}/seed{args.seed}"
    work = acids.scratch_folder(args.work)
    with stage.tracked(name, [args.model_dir, args.out]):
        stage.log_dataset(args.dataset, dataset.manifest, digest, "synspeech", "training")
        made = acids.train_and_encode(
            python, settings, args.dataset / "audio.npy", rows, work,
            seed=args.seed, threads=params.training.threads, sample_rate=SPEECH_SAMPLE_RATE,
        )  # fmt: skip
        summary = {
            "model": ACIDS, "release": acids.RELEASE, "config": settings.config, "steps": made["global_step"],
            "seconds": round(made["seconds"], 2), "provenance": stage.provenance(),
            "samples_per_second": round(made["global_step"] * settings.batch_size / made["seconds"], 2),
            "curves": made["curves"],
        }  # fmt: skip
        with atomic_directory(args.model_dir) as tmp:
            for file in (MODEL_FILE, "config.gin"):
                shutil.copyfile(made["encoded"] / file, tmp / file)
            write_json(tmp / SUMMARY_FILE, summary)
        model_sha256 = sha256_file(args.model_dir / MODEL_FILE)
        held_out = encode.held_out_numbers(made["codes"], made["kl"], rows[1], made["spectral_distance"])
        write_codes(args.out, made["codes"], {
            "model": ACIDS, "seed": args.seed, "latents": acids.LATENTS, "dataset_digest": digest,
            "held_out": held_out,
            "provenance": {
                "stages": [stage_id("acids_rave", version, args.seed)], "model_sha256": model_sha256,
                "training": {**training_provenance(summary),
                             "epochs": f"{summary['steps']} steps (acids-rave {acids.RELEASE})"},
            },
        })  # fmt: skip
        final = {tag: points[-1][1] for tag, points in made["curves"].items() if points}
        stage.log_metrics(
            {**final, "seconds": summary["seconds"], "spectral_distance": held_out["spectral_distance"]}
        )
        stage.log_dict(summary, "training.json")
        stage.set_tag("model.sha256", model_sha256)
    stage.done(
        f"{name}: {summary['steps']} steps in {summary['seconds']:.0f} s, held-out spectral distance "
        f"{held_out['spectral_distance']:.3f} -> {args.model_dir}, {args.out} (scratch: {work})"
    )


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--datasets", type=Path, default=Path("artifacts/synspeech"), help="(default: %(default)s)"
    )
    parser.add_argument(
        "--artifacts", type=Path, default=Path("artifacts/rave"), help="(default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports"), help="(default: %(default)s)")


def report(args: argparse.Namespace) -> None:
    from synaudio.studies.rave import report

    stage = Stage.open(args, threads=True)
    made = report.build(stage.params, args.datasets, args.artifacts, args.out)
    print(
        f"rave report: -> {args.out}/rave.html + {made['files'] - 1} files, "
        f"{made['bytes'] / 1e6:.1f} MB, in {made['seconds']:.0f} s"
    )


COMMANDS = (
    Command(
        "rave-train",
        "train the RAVE-style model on a SynSpeech version (stage rave_train)",
        _arguments("train"),
        train,
    ),
    Command(
        "rave-encode",
        "a RAVE-style model's per-clip codes for speech-score (stage rave_encode)",
        _arguments("encode"),
        encode,
    ),
    Command(
        "rave-acids",
        "the real RAVE (acids-rave, its own venv) trained and encoded as a cross-check (stage acids_rave)",
        _arguments("acids"),
        acids,
    ),
    Command(
        "rave-report",
        "RAVE-style page: reconstructions and latent traversals, heard (stage rave_report)",
        _report_arguments,
        report,
    ),
)
