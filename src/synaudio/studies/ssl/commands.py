"""The self-supervised study's sub-commands, one per dvc.yaml stage: ssl-features
(ssl_features: log-mels of the pretraining clips) and ssl-pretrain (ssl_pretrain and
ssl_arm: one encoder per method or arm and seed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from synaudio.command import Command, Stage, seed, training_outputs

FEATURES_STAGE = "ssl_features"


def _features_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", type=Path, required=True, help="the pretraining SynSpeech version")
    parser.add_argument("--out", type=Path, required=True, help="features folder (synaudio.features)")


def features(args: argparse.Namespace) -> None:
    from synaudio.command import build_features
    from synaudio.params import Split
    from synaudio.protocol import CORRECTED
    from synaudio.store import load_dataset
    from synaudio.studies.ssl import schema

    stage = Stage.open(args, threads=True)
    params = stage.params
    pretraining = params.ssl.pretraining
    rows = schema.pretraining_rows(params, load_dataset(args.dataset).factors)
    split = Split(test_fraction=pretraining.held_out, seed=pretraining.seed)
    build_features(
        stage, args, f"ssl features/{pretraining.version}", CORRECTED, params.speech.features, split,
        dataset="synspeech", rows=rows,
    )  # fmt: skip


def _pretrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, help="a name under ssl.methods or ssl.arms")
    parser.add_argument("--seed", type=seed, required=True, help="one of ssl.seeds (an arm: ssl.arm_seeds)")
    parser.add_argument("--features", type=Path, required=True, help=f"log-mels ({FEATURES_STAGE})")
    training_outputs(parser)


def pretrain(args: argparse.Namespace) -> None:
    from synaudio import features
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE
    from synaudio.studies.ssl import pretrain, schema

    stage = Stage.open(args)
    params = stage.params
    schema.declared(params, args.method, args.seed)
    rows, manifest, split = features.load_features(args.features, FEATURES_STAGE)
    name = f"pretrain ssl/{args.method}/seed{args.seed}"
    with stage.tracked(name):
        digest = manifest["dataset_digest"]
        stage.log_dataset(args.features, {"features": manifest}, digest, "synspeech", "training")
        summary = pretrain.pretrain(
            params.ssl, args.method, rows, split, args.out, args.checkpoints, seed=args.seed,
            top_db=params.speech.features.top_db, threads=params.training.threads,
            precision=params.training.precision, data_digest=manifest["sha256"], run=stage.run,
            provenance=stage.provenance(),
        )  # fmt: skip
        stage.log_dict(summary, "training.json")
        stage.set_tag("model.sha256", sha256_file(args.out / MODEL_FILE))
    last = summary["history"][-1] if summary["history"] else {}
    held_out = {k: last.get(f"held_out/{k}", float("nan")) for k in ("loss", "representation_std")}
    stage.done(
        f"{name}: {summary['epochs']} epochs in {summary['seconds']:.0f} s "
        f"({summary['samples_per_second']} clips/s), held-out loss {held_out['loss']:.4g}, "
        f"representation spread {held_out['representation_std']:.3g} -> {args.out}"
    )


COMMANDS = (
    Command(
        "ssl-features",
        "log-mels of the self-supervised study's pretraining clips (stage ssl_features)",
        _features_arguments,
        features,
    ),
    Command(
        "ssl-pretrain",
        "pretrain the study's encoder with one objective and seed, no labels (stages ssl_pretrain, ssl_arm)",
        _pretrain_arguments,
        pretrain,
    ),
)
