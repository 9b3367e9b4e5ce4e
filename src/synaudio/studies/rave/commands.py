"""The RAVE study's sub-commands, one per dvc.yaml stage: per SynSpeech version and seed
rave-train (rave_train) and rave-encode (rave_encode: the codes folder that
`synaudio speech-score` scores in stage score_rave_style); rave-report (rave_report)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from synaudio.command import Command, Stage, seed
from synaudio.errors import UserError
from synaudio.params import Params

if TYPE_CHECKING:
    import numpy as np


def _declared(params: Params, args: argparse.Namespace) -> str:
    from synaudio.studies.rave.schema import declared

    scored = declared(params)
    if args.version not in scored.versions or args.seed not in scored.seeds:
        raise UserError(
            f"--version {args.version} --seed {args.seed}: not among speech.scored.rave_style "
            f"(versions {scored.versions}, seeds {scored.seeds})"
        )
    return args.version


def _split(params: Params, clips: int) -> tuple[np.ndarray, np.ndarray]:
    """The speech benchmark's split (speech.split): the VAE family's held-out clips."""
    from synaudio.features import split_rows
    from synaudio.protocol import CORRECTED

    return split_rows(clips, params.speech.split, CORRECTED.split)


def _arguments(step: str):
    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--version", required=True, help="one of speech.scored.rave_style.versions")
        parser.add_argument("--seed", type=seed, required=True, help="one of speech.scored.rave_style.seeds")
        parser.add_argument("--dataset", type=Path, required=True, help="a SynSpeech version's dataset")
        if step == "train":
            parser.add_argument(
                "--out", type=Path, required=True, help="model directory (model.pt, training.json)"
            )
            parser.add_argument(
                "--checkpoints", type=Path, required=True, help="resumable checkpoints (last.ckpt)"
            )
        else:
            parser.add_argument("--model-dir", type=Path, required=True, help="the trained model")
            parser.add_argument("--out", type=Path, required=True, help="codes folder (synaudio.codes)")

    return arguments


def train(args: argparse.Namespace) -> None:
    from synaudio import training
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE
    from synaudio.params import RAVE
    from synaudio.store import dataset_digest, load_dataset
    from synaudio.studies.rave import recipe

    stage = Stage.open(args)
    params, version = stage.params, _declared(stage.params, args)
    dataset = load_dataset(args.dataset)
    train_rows, _ = _split(params, len(dataset.audio))
    name = f"train rave/{version}/seed{args.seed}"
    digest = dataset_digest(dataset.manifest)
    with stage.tracked(name):
        stage.log_dataset(args.dataset, dataset.manifest, digest, "synspeech", "training")
        summary = training.train(
            recipe.config(params, version), recipe.objective(params), recipe.backbone(params),
            dataset.audio, train_rows, None, args.out, args.checkpoints,
            seed=args.seed, labels={"model": RAVE, "study": "rave"}, run=stage.run,
            data_digest=digest, provenance=stage.provenance(),
        )  # fmt: skip
        model = args.out / MODEL_FILE
        stage.log_dict(summary, "training.json")
        stage.set_tag("model.sha256", sha256_file(model))
        stage.set_tag("model.path", str(model.resolve()))
    stage.done(
        f"{name}: {summary['epochs']} epochs in {summary['seconds']:.0f} s "
        f"({summary['samples_per_second']} windows/s) -> {args.out}"
    )


def encode(args: argparse.Namespace) -> None:
    import json

    from synaudio.codes import training_provenance, write_codes
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE, SUMMARY_FILE, load_backbone
    from synaudio.params import RAVE
    from synaudio.store import dataset_digest, load_dataset
    from synaudio.studies.rave import encode, recipe, schema

    stage = Stage.open(args, threads=True)
    params, version = stage.params, _declared(stage.params, args)
    dataset = load_dataset(args.dataset)
    _, test_rows = _split(params, len(dataset.audio))
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
        "rave-report",
        "RAVE-style page: reconstructions and latent traversals, heard (stage rave_report)",
        _report_arguments,
        report,
    ),
)
