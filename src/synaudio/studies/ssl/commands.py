"""The self-supervised study's sub-commands, one per dvc.yaml stage: ssl-features
(ssl_features: log-mels of the pretraining clips), ssl-pretrain (ssl_pretrain and
ssl_arm: one encoder per method or arm and seed) and ssl-probe (ssl_probe, ssl_arm_probe,
ssl_random_probe: linear probes of a frozen encoder at each labelled fraction),
ssl-vae-probe (ssl_vae_probe: the same probes of the SynSpeech VAE family),
ssl-trivial-probe (ssl_trivial_probe: of level, speaking time and f0 - synaudio.trivial),
ssl-finetune (ssl_finetune, ssl_scratch: fine-tuning's learning curves),
ssl-transfer-features and ssl-transfer (ssl_transfer_features, ssl_transfer: the encoders
on SynTone), ssl-aggregate (ssl_aggregate: the tables) and ssl-report (ssl_report: reports/ssl.html)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synaudio.command import Command, Stage, seed, training_outputs

FEATURES_STAGE = "ssl_features"
Probed = tuple[dict[str, Any], dict[str, Any]]  # what made the representation, the probes' results
TRANSFER_STAGE = "ssl_transfer_features"


def _features_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        type=Path,
        required=True,
        help="the dataset: SynSpeech's pretraining version, or SynTone's",
    )
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


def _downstream_arguments(parser: argparse.ArgumentParser, baseline: str, out: str) -> None:
    """What a downstream command (probe, fine-tuning) reads and writes besides its method and seed."""
    parser.add_argument("--model-dir", type=Path, help=f"the pretrained encoder (not for {baseline})")
    parser.add_argument("--pretraining", type=Path, required=True, help=f"its log-mels ({FEATURES_STAGE})")
    parser.add_argument("--speech", type=Path, required=True, help="the speech benchmark's artifacts folder")
    parser.add_argument("--datasets", type=Path, required=True, help="the SynSpeech datasets folder")
    parser.add_argument("--out", type=Path, required=True, help=f"{out} (a DVC metrics file)")


def _probe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method", required=True, help="a name under ssl.methods or ssl.arms, random or log_mel"
    )
    parser.add_argument("--seed", type=seed, required=True, help="its seed")
    _downstream_arguments(parser, "random", "the probes' JSON")


def probe(args: argparse.Namespace) -> None:
    from synaudio import features
    from synaudio.errors import UserError
    from synaudio.studies.ssl import probe, schema

    stage = Stage.open(args, threads=True)
    params = stage.params
    if (args.method in schema.UNTRAINED) == (args.model_dir is not None):
        raise UserError(
            f"--model-dir names a pretrained encoder; the baselines ({', '.join(schema.UNTRAINED)}) have none"
        )
    encoder, made_by = schema.encoder(params, args.method, args.seed, args.model_dir)
    _, reference, _ = features.load_features(args.pretraining, FEATURES_STAGE)
    _run_probes(stage, args.method, args.seed, args.out, lambda: (made_by, probe.tasks(
        params, probe.frozen(encoder), reference["normalisation"], args.speech, args.datasets
    )))  # fmt: skip


def _run_probes(stage: Stage, model: str, seed: int, out: Path, probes: Callable[[], Probed]) -> None:
    """One tracked probe run: `probes()` gives what made the representation and the results;
    they go to `out` (JSON) and MLflow (accuracy per task and fraction)."""
    from synaudio.command import write_json

    name = f"probe ssl/{model}/seed{seed}"
    with stage.tracked(name, outs=[out]):
        made_by, results = probes()
        write_json(out, {
            "model": model, "seed": seed, "encoder": made_by, "tasks": results,
            "provenance": stage.provenance(),
        })  # fmt: skip
        stage.log_metrics({
            f"{task}/{point['fraction']}": point["accuracy"] for task, result in results.items()
            for point in result["points"]
        } | {"seconds": stage.seconds})  # fmt: skip
    summary = ", ".join(f"{task} {r['points'][-1]['accuracy']:.3f}" for task, r in results.items())
    stage.done(f"{name}: all labels: {summary} -> {out}")


def _vae_probe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="one of ssl.vae_family.models")
    parser.add_argument("--seed", type=seed, required=True, help="one of ssl.vae_family.seeds")
    parser.add_argument(
        "--speech", type=Path, required=True, help="the speech benchmark's artifacts folder (its models)"
    )
    parser.add_argument("--datasets", type=Path, required=True, help="the SynSpeech datasets folder")
    parser.add_argument("--out", type=Path, required=True, help="the probes' JSON (a DVC metrics file)")


def vae_probe(args: argparse.Namespace) -> None:
    from synaudio.errors import UserError
    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE
    from synaudio.studies.ssl import probe

    stage = Stage.open(args, threads=True)
    params = stage.params
    family = params.ssl.vae_family
    if args.model not in family.models or args.seed not in family.seeds:
        raise UserError(
            f"--model {args.model} --seed {args.seed}: the VAE-family baseline probes ssl.vae_family.models "
            f"({', '.join(family.models)}) at ssl.vae_family.seeds {family.seeds}"
        )
    weights = {
        version: args.speech / version / "models" / args.model / f"seed{args.seed}" / MODEL_FILE
        for version in params.ssl.downstream
    }

    def probes() -> Probed:
        representation = probe.posterior_means(params, args.speech, args.model, args.seed)
        results = probe.tasks(params, representation, None, args.speech, args.datasets)
        made_by = {v: {"weights": str(path), "sha256": sha256_file(path)} for v, path in weights.items()}
        return made_by, results

    _run_probes(stage, args.model, args.seed, args.out, probes)


def _trivial_probe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--speech", type=Path, required=True, help="the speech benchmark's artifacts folder (its split)"
    )
    parser.add_argument("--datasets", type=Path, required=True, help="the SynSpeech datasets folder")
    parser.add_argument(
        "--out", type=Path, required=True, help="the probes' folder: <out>/<representation>/seed0.json each"
    )


def trivial_probe(args: argparse.Namespace) -> None:
    """Every trivial-feature representation, probed like the encoders; seedless (seed 0),
    like the log-mel baseline: the features are measured, not learned."""
    from functools import cache, partial

    from synaudio import trivial
    from synaudio.store import load_dataset
    from synaudio.studies.ssl import probe

    stage = Stage.open(args, threads=True)
    params = stage.params

    @cache  # each version measured once for the four representations
    def measured(version: str) -> dict[str, Any]:
        return trivial.representations(load_dataset(args.datasets / version / "dataset"))

    def probes(name: str, what: str) -> Probed:
        def representation(task: probe.Task) -> Any:
            return measured(task.spec.version)[name]

        results = probe.tasks(params, representation, None, args.speech, args.datasets)
        return {"weights": f"none: {what} (synaudio.trivial)"}, results

    for name, what in trivial.REPRESENTATIONS.items():
        _run_probes(stage, name, 0, args.out / name / "seed0.json", partial(probes, name, what))


def _finetune_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, help="one of ssl.finetune.methods, or scratch")
    parser.add_argument("--seed", type=seed, required=True, help="one of ssl.finetune.seeds")
    _downstream_arguments(parser, "scratch", "the learning curves' JSON")


def finetune(args: argparse.Namespace) -> None:
    from synaudio import features
    from synaudio.command import write_json
    from synaudio.errors import UserError
    from synaudio.params import RANDOM_ENCODER, SCRATCH
    from synaudio.studies.ssl import finetune, schema

    stage = Stage.open(args, threads=True)
    params = stage.params
    settings = params.ssl.finetune
    if args.method not in [*settings.methods, SCRATCH] or args.seed not in settings.seeds:
        raise UserError(
            f"--method {args.method} --seed {args.seed}: fine-tuning runs ssl.finetune.methods "
            f"({', '.join(settings.methods)}) and {SCRATCH} at ssl.finetune.seeds {settings.seeds}"
        )
    if (args.method == SCRATCH) == (args.model_dir is not None):
        raise UserError(f"--model-dir names a pretrained encoder; {SCRATCH} starts from none")
    initial = RANDOM_ENCODER if args.method == SCRATCH else args.method
    encoder, made_by = schema.encoder(params, initial, args.seed, args.model_dir)
    _, reference, _ = features.load_features(args.pretraining, FEATURES_STAGE)
    name = f"fine-tune ssl/{args.method}/seed{args.seed}"
    with stage.tracked(name):
        results = finetune.tasks(
            params, encoder, args.seed, reference["normalisation"], args.speech, args.datasets
        )
        write_json(args.out, {
            "model": args.method, "seed": args.seed, "encoder": made_by, "tasks": results,
            "provenance": stage.provenance(),
        })  # fmt: skip
        stage.log_metrics({
            f"{task}/{point['fraction']}/step{p['step']}": p["accuracy"] for task, result in results.items()
            for point in result["points"] for p in point["curve"]
        } | {"seconds": stage.seconds})  # fmt: skip
    finals = {task: [point["curve"][-1]["accuracy"] for point in r["points"]] for task, r in results.items()}
    summary = ", ".join(
        f"{task} {' / '.join(f'{a:.3f}' for a in accuracies)}" for task, accuracies in finals.items()
    )
    stage.done(
        f"{name}: after {settings.steps} steps at {settings.fractions} of the labels: {summary} -> {args.out}"
    )


def transfer_features(args: argparse.Namespace) -> None:
    from synaudio.command import build_features
    from synaudio.protocol import CORRECTED

    stage = Stage.open(args, threads=True)
    params = stage.params
    settings = params.ssl.transfer
    build_features(
        stage, args, f"ssl transfer features/{settings.protocol}", CORRECTED, params.speech.features,
        settings.split, dataset="syntone",
    )  # fmt: skip


def _transfer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=Path, required=True, help="the pretrained encoders' folder")
    parser.add_argument("--features", type=Path, required=True, help=f"SynTone's log-mels ({TRANSFER_STAGE})")
    parser.add_argument(
        "--pretraining", type=Path, required=True, help=f"the pretraining log-mels ({FEATURES_STAGE})"
    )
    parser.add_argument("--dataset", type=Path, required=True, help="the SynTone dataset they were made from")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for transfer.* and transfer_runs.json"
    )


def transfer(args: argparse.Namespace) -> None:
    from synaudio import features
    from synaudio.command import write_json, write_results
    from synaudio.store import load_dataset
    from synaudio.studies.ssl import tables, transfer

    stage = Stage.open(args, threads=True)
    params = stage.params
    rows, manifest, split = features.load_features(args.features, TRANSFER_STAGE, args.dataset)
    _, reference, _ = features.load_features(args.pretraining, FEATURES_STAGE)
    with stage.tracked("ssl transfer"):
        found = transfer.run(params, args.models, rows, manifest, split, reference["normalisation"],
                             load_dataset(args.dataset).factors)  # fmt: skip
        table = tables.summarise_transfer(found)
        write_results(args.out, table, tables.transfer_markdown(table), name="transfer")
        write_json(args.out / "transfer_runs.json", found)
        stage.log_metrics({
            f"{row.encoder}/{row.name}": row.mean for row in table.itertuples()
        } | {"seconds": stage.seconds})  # fmt: skip
    stage.done(
        f"ssl transfer: {len(found['runs'])} representations of {sum(found['clips'].values())} SynTone clips "
        f"read out -> {args.out}/transfer.*"
    )


def _aggregate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--probes", type=Path, required=True, help="the probes' folder (ssl_probe)")
    parser.add_argument(
        "--finetune", type=Path, required=True, help="the learning curves' folder (ssl_finetune)"
    )
    parser.add_argument("--transfer", type=Path, required=True, help="transfer_runs.json (ssl_transfer)")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for results.*, finetune.* and claims.*"
    )


def aggregate(args: argparse.Namespace) -> None:
    import json

    from synaudio.command import write_results
    from synaudio.declared import read_results
    from synaudio.studies.ssl import claims, tables

    stage = Stage.open(args)
    required = ("model", "tasks")
    with stage.tracked("ssl aggregate"):
        results = read_results(tables.declared(stage.params, args.probes), required=required)
        curves = read_results(tables.finetune_declared(stage.params, args.finetune), required=required)
        probed, tuned = tables.long_rows(results), tables.finetune_rows(curves)
        table = tables.summarise(probed)
        finetuned = tables.summarise(tuned, by=("encoder", "task", "fraction", "step"))
        write_results(args.out, table, tables.markdown(table))
        write_results(args.out, finetuned, tables.finetune_markdown(finetuned), name="finetune")
        per_seed = {
            "probes": probed.rename(columns={"accuracy": "score"}),
            "finetune": tuned.rename(columns={"accuracy": "score"}),
            "transfer": tables.transfer_rows(json.loads(args.transfer.read_text())),
        }
        verdicts = claims.evaluate(per_seed, stage.params.ssl)
        write_results(args.out, verdicts, claims.markdown(verdicts), name="claims")
    stage.done(
        f"ssl aggregate: {len(results)} probe files -> {len(table)} rows in {args.out}/results.*, "
        f"{len(curves)} fine-tuning files -> {len(finetuned)} rows in {args.out}/finetune.*"
    )


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts", type=Path, default=Path("artifacts/ssl"), help="(default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports"), help="(default: %(default)s)")
    parser.add_argument("--readme", type=Path, help="rewrite this README's self-supervised table too")


def report(args: argparse.Namespace) -> None:
    from synaudio.studies.ssl import report

    stage = Stage.open(args)
    made = report.build(stage.params, args.artifacts, args.out, args.readme)
    print(
        f"ssl report: -> {args.out}/ssl.html + {made['files'] - 1} files, "
        f"{made['bytes'] / 1e6:.1f} MB, in {made['seconds']:.0f} s"
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
    Command(
        "ssl-probe",
        "linear probes of a frozen encoder at each labelled fraction (stages ssl_probe, ssl_arm_probe, "
        "ssl_random_probe)",
        _probe_arguments,
        probe,
    ),
    Command(
        "ssl-vae-probe",
        "linear probes of a SynSpeech VAE-family model's posterior means at each labelled fraction, the "
        "baseline from the earlier study (stage ssl_vae_probe)",
        _vae_probe_arguments,
        vae_probe,
    ),
    Command(
        "ssl-trivial-probe",
        "linear probes of trivial acoustic features (level, speaking time, f0; alone and together) at "
        "each labelled fraction (stage ssl_trivial_probe)",
        _trivial_probe_arguments,
        trivial_probe,
    ),
    Command(
        "ssl-finetune",
        "fine-tune a pretrained encoder, or the same one from scratch, with a linear head at each labelled "
        "fraction: accuracy against steps (stages ssl_finetune, ssl_scratch)",
        _finetune_arguments,
        finetune,
    ),
    Command(
        "ssl-transfer-features",
        "SynTone's clips through the speech front-end, for the transfer read-out (ssl_transfer_features)",
        _features_arguments,
        transfer_features,
    ),
    Command(
        "ssl-transfer",
        "every encoder on SynTone: linear read-out of waveform, frequency and amplitude (stage ssl_transfer)",
        _transfer_arguments,
        transfer,
    ),
    Command(
        "ssl-aggregate",
        "the probes' table: accuracy per encoder, task and labelled fraction (stage ssl_aggregate)",
        _aggregate_arguments,
        aggregate,
    ),
    Command(
        "ssl-report",
        "the self-supervised page: learning curves, tables, pretraining provenance (stage ssl_report)",
        _report_arguments,
        report,
    ),
)
