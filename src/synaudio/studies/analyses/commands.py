"""The analyses study's sub-commands, one per dvc.yaml stage: analyses-fields
(receptive_fields: the receptive-field table of the archive's encoders), analyses-layers
(layer_analysis: saturation, layer probes and similarity of the SynSpeech VAE family, the
BT / MBT encoders and the RAVE-style model),
analyses-syntone-layers (syntone_layer_analysis: the same for both SynTone protocols), and
analyses-dynamics-train / analyses-dynamics (dynamics_train, training_dynamics: saturation and
layer probes over training; with --block paper_dynamics the paper protocol's,
paper_dynamics_train and paper_training_dynamics), and analyses-input-size-train / analyses-input-size
(input_size_train, input_size_sweep: the same model on inputs of other sizes; with --block
paper_input_size the paper protocol's, paper_input_size_train and paper_input_size_sweep);
analyses-speech-input-size-train (speech_input_size_train: a SynSpeech model on inputs of other
sizes; its sweep: analyses-input-size --block speech_input_size, speech_input_size_sweep);
analyses-speech-dynamics-train (speech_dynamics_train: a SynSpeech model observed the same way;
its curves: analyses-dynamics --block speech_dynamics, speech_training_dynamics);
analyses-report (analyses_report: reports/analyses.html)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from synaudio.command import Command, Stage

# params analyses.<block> a command takes with --block (the CLI's choices; runs.py names their runs)
DYNAMICS = ("dynamics", "paper_dynamics")  # a SynTone protocol's observed trainings
OBSERVED = (*DYNAMICS, "speech_dynamics")  # every block of observed trainings, SynSpeech's too
INPUT_SIZE = ("input_size", "paper_input_size")  # a SynTone protocol's input-size sweep
SWEEPS = (*INPUT_SIZE, "speech_input_size")  # every input-size sweep, SynSpeech's too


def _fields_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for fields.json and fields.md")


def fields(args: argparse.Namespace) -> None:
    from synaudio.atomic import atomic_directory
    from synaudio.command import write_json
    from synaudio.studies.analyses import fields
    from synaudio.studies.analyses.runs import RUNS

    stage = Stage.open(args)
    with stage.tracked(RUNS["fields"]):
        rows = fields.table(stage.params)
        with atomic_directory(args.out) as tmp:
            write_json(tmp / "manifest.json", {"rows": rows})
            (tmp / "fields.md").write_text(fields.markdown(rows))
        stage.log_dict({"rows": rows}, "fields.json")
    spanning = sorted({r["encoder"] for r in rows if r["covers"] and r["kind"] not in ("Linear", "Flatten")})
    stage.done(
        f"receptive fields: {len(rows)} layers of {len({r['encoder'] for r in rows})} encoders "
        f"(a convolution spans the input in: {', '.join(spanning) or 'none'}) -> {args.out}"
    )


def _measured(columns: Iterable[str]) -> dict[str, str]:
    """What the per-layer figures plot (column -> axis label): saturation, then every probe."""
    probes = {c: f"{c[len('probe_') :]}: probe accuracy" for c in columns if c.startswith("probe_")}
    return {"saturation": "saturation (99 % of the variance)", **probes}


def _layers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--speech", type=Path, required=True, help="the speech benchmark's artifacts folder")
    parser.add_argument("--datasets", type=Path, required=True, help="the SynSpeech datasets folder")
    parser.add_argument("--ssl", type=Path, required=True, help="the SSL study's artifacts folder")
    parser.add_argument("--rave", type=Path, required=True, help="the RAVE study's artifacts folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tables and figures")


def _write_layers(stage: Stage, out: Path, table, tables: dict) -> None:
    """The layer analysis's files (table, similarity JSON, summary, four figures) and metrics."""
    import json

    from synaudio.atomic import atomic_directory
    from synaudio.report import figures
    from synaudio.studies.analyses import layers

    summarised = layers.summary(table, tables)
    measured = _measured(table)
    with atomic_directory(out) as tmp:
        table.to_csv(tmp / "layers.csv", index=False, lineterminator="\n")
        (tmp / "similarity.json").write_text(json.dumps(tables, indent=2) + "\n")
        (tmp / "layers.md").write_text(layers.markdown(summarised, tables))
        figures.layer_curves(table, measured, tmp / "layers.png")
        figures.similarity_heatmaps(tables["across"], tables["models"], tmp / "across.png")
        figures.similarity_heatmaps(tables["within"], tables["layers"], tmp / "within.png")
        figures.similarity_heatmaps(tables["latent"], tables["models"], tmp / "latent.png",
                                    measure="similarity")  # fmt: skip
    stage.log_metrics({f"{r.model}/{r.layer}/{name}": getattr(r, name) for r in summarised.itertuples()
                       for name in ("cka_across_seeds", *measured)})  # fmt: skip
    stage.done(
        f"layers: {len(table)} rows, {len(tables['models'])} models x up to "
        f"{max(map(len, tables['seeds'].values()))} seeds, "
        f"{tables['clips']} held-out clips of {tables['version']} -> {out}"
    )


def layers(args: argparse.Namespace) -> None:
    from synaudio.studies.analyses import layers
    from synaudio.studies.analyses.runs import RUNS

    stage = Stage.open(args, threads=True)
    with stage.tracked(RUNS["speech"]):
        table, tables = layers.analyse(stage.params, args.speech, args.datasets, args.ssl, args.rave)
        _write_layers(stage, args.out, table, tables)


def _syntone_layers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--syntone", type=Path, required=True, help="the SynTone study's artifacts folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tables and figures")


def syntone_layers(args: argparse.Namespace) -> None:
    from synaudio.studies.analyses import layers
    from synaudio.studies.analyses.runs import RUNS

    stage = Stage.open(args, threads=True)
    with stage.tracked(RUNS["syntone"]):
        table, tables = layers.analyse_syntone(stage.params, args.syntone)
        _write_layers(stage, args.out, table, tables)


def _model_seed_outputs(parser: argparse.ArgumentParser) -> None:
    from synaudio.command import seed, training_outputs

    parser.add_argument("--model", required=True, help="a block under models:")
    parser.add_argument("--seed", type=seed, required=True, help="the training's seed")
    training_outputs(parser)


def _dynamics_train_arguments(parser: argparse.ArgumentParser) -> None:
    _model_seed_outputs(parser)
    parser.add_argument("--syntone", type=Path, required=True, help="the SynTone study's artifacts folder")


def _block(parser: argparse.ArgumentParser, blocks: tuple[str, ...] = DYNAMICS) -> None:
    parser.add_argument(
        "--block", choices=blocks, default=blocks[0], help="its params block (default: %(default)s)"
    )


def _observed_train_arguments(parser: argparse.ArgumentParser) -> None:
    _dynamics_train_arguments(parser)
    _block(parser)


def dynamics_train(args: argparse.Namespace) -> None:
    from synaudio.studies.analyses import dynamics

    dynamics.train(Stage.open(args), args, args.block)


def _speech_dynamics_train_arguments(parser: argparse.ArgumentParser) -> None:
    _model_seed_outputs(parser)
    parser.add_argument("--datasets", type=Path, required=True, help="the SynSpeech datasets folder")


def speech_dynamics_train(args: argparse.Namespace) -> None:
    from synaudio.studies.analyses import dynamics

    dynamics.train_speech(Stage.open(args), args)


def _dynamics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=Path, required=True, help="the observed trainings' folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the table and figures")
    _block(parser, OBSERVED)


def dynamics_curves(args: argparse.Namespace) -> None:
    from synaudio.atomic import atomic_directory
    from synaudio.report import figures
    from synaudio.studies.analyses import dynamics
    from synaudio.studies.analyses.runs import RUNS

    stage = Stage.open(args)
    settings = getattr(stage.params.analyses, args.block)
    with stage.tracked(RUNS[args.block]):
        curves = dynamics.table(args.models, settings.models, settings.seeds)
        columns = _measured(curves)
        with atomic_directory(args.out) as tmp:
            curves.to_csv(tmp / "dynamics.csv", index=False, lineterminator="\n")
            (tmp / "dynamics.md").write_text(dynamics.markdown(curves))
            for column, label in columns.items():
                figures.epoch_curves(curves, column, label, tmp / f"{column}.png")
        final = curves[curves["epoch"] == curves.groupby("model")["epoch"].transform("max")]
        stage.log_metrics({f"{r.model}/{r.layer}/saturation": r.saturation
                           for r in final.groupby(["model", "layer"], sort=False).mean(numeric_only=True)
                           .reset_index().itertuples()})  # fmt: skip
    stage.done(
        f"training dynamics: {len(curves)} rows, {len(settings.models)} models x "
        f"{len(settings.seeds)} seeds, "
        f"epochs 0-{int(curves['epoch'].max())} -> {args.out}"
    )


def _input_size_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-mels", type=int, required=True, help="in the block's n_mels")
    parser.add_argument("--hop-length", type=int, required=True, help="in the block's hop_lengths")
    _dynamics_train_arguments(parser)
    _block(parser, INPUT_SIZE)


def _grid_point(stage: Stage, args: argparse.Namespace, block: str) -> str:
    """The MLflow run of the training at the sweep's grid point that --n-mels / --hop-length
    name, checked (in the grid, a size the encoder takes) before any work."""
    from synaudio.errors import UserError
    from synaudio.studies.analyses import input_size
    from synaudio.studies.analyses.runs import sweep_training

    sweep = getattr(stage.params.analyses, block)
    for flag, value, grid in (("--n-mels", args.n_mels, sweep.n_mels),
                              ("--hop-length", args.hop_length, sweep.hop_lengths)):  # fmt: skip
        if value not in grid:
            raise UserError(f"{flag} {value}: not in params analyses.{block} ({grid}); add it there")
    mels, frames = input_size.input_for(stage.params, args.n_mels, args.hop_length, block)
    return sweep_training(block, mels, frames, args.model, args.seed)


def input_size_train(args: argparse.Namespace) -> None:
    from synaudio.studies.analyses import dynamics

    stage = Stage.open(args)
    run = _grid_point(stage, args, args.block)
    spec = stage.params.features.model_copy(update={"n_mels": args.n_mels, "hop_length": args.hop_length})
    dynamics.train(stage, args, args.block, spec, run)


def _speech_input_size_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-mels", type=int, required=True, help="in analyses.speech_input_size.n_mels")
    parser.add_argument(
        "--hop-length", type=int, required=True, help="in analyses.speech_input_size.hop_lengths"
    )
    _speech_dynamics_train_arguments(parser)


def speech_input_size_train(args: argparse.Namespace) -> None:
    from synaudio.studies.analyses import dynamics

    stage = Stage.open(args)
    run = _grid_point(stage, args, "speech_input_size")
    features = stage.params.speech.features
    spec = features.model_copy(update={"n_mels": args.n_mels, "hop_length": args.hop_length})
    dynamics.train_speech(stage, args, "speech_input_size", spec, run)


def _input_size_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=Path, required=True, help="the sweep's trainings' folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the table and figure")
    _block(parser, SWEEPS)


def input_size_sweep(args: argparse.Namespace) -> None:
    from synaudio.atomic import atomic_directory
    from synaudio.report import figures
    from synaudio.studies.analyses import input_size
    from synaudio.studies.analyses.runs import RUNS

    stage = Stage.open(args)
    with stage.tracked(RUNS[args.block]):
        curves = input_size.table(args.models, stage.params, args.block)
        with atomic_directory(args.out) as tmp:
            curves.to_csv(tmp / "input_size.csv", index=False, lineterminator="\n")
            (tmp / "input_size.md").write_text(input_size.markdown(curves))
            figures.layer_curves(input_size.final(curves), _measured(curves), tmp / "input_size.png")
        stage.log_metrics(input_size.metrics(curves))
    stage.done(
        f"input size: {curves['input'].nunique()} inputs ({', '.join(dict.fromkeys(curves['input']))}), "
        f"{len(curves)} rows -> {args.out}"
    )


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--analyses", type=Path, required=True, help="the analyses' artifacts folder")
    parser.add_argument("--out", type=Path, required=True, help="the reports folder")


def report(args: argparse.Namespace) -> None:
    from synaudio.studies.analyses import report

    stage = Stage.open(args)
    made = report.build(stage.params, args.analyses, args.out)
    print(
        f"analyses report: -> {args.out}/analyses.html + {made['files'] - 1} files, "
        f"{made['bytes'] / 1e6:.1f} MB, in {made['seconds']:.0f} s"
    )


COMMANDS = (
    Command(
        "analyses-fields",
        "the receptive field of every layer of the archive's encoders (stage receptive_fields)",
        _fields_arguments,
        fields,
    ),
    Command(
        "analyses-layers",
        "saturation, layer probes and similarity (CKA, SVCCA) across seeds and objectives of the SynSpeech "
        "VAE family, the self-supervised encoders and the RAVE-style model, layer by layer "
        "(stage layer_analysis)",
        _layers_arguments,
        layers,
    ),
    Command(
        "analyses-syntone-layers",
        "the same for the SynTone models of both protocols on the same held-out clips, each through its "
        "own front-end (stage syntone_layer_analysis)",
        _syntone_layers_arguments,
        syntone_layers,
    ),
    Command(
        "analyses-dynamics-train",
        "train a SynTone model by its protocol's recipe, measuring saturation and layer probes after every "
        "epoch (stages dynamics_train, paper_dynamics_train)",
        _observed_train_arguments,
        dynamics_train,
    ),
    Command(
        "analyses-speech-dynamics-train",
        "train a SynSpeech model by its study's recipe for analyses.speech_dynamics.epochs, measuring "
        "saturation and layer probes after every epoch (stage speech_dynamics_train)",
        _speech_dynamics_train_arguments,
        speech_dynamics_train,
    ),
    Command(
        "analyses-dynamics",
        "the observed trainings' saturation and layer probes over the epochs: table and figures (stages "
        "training_dynamics, paper_training_dynamics, speech_training_dynamics)",
        _dynamics_arguments,
        dynamics_curves,
    ),
    Command(
        "analyses-input-size-train",
        "train a SynTone model by its protocol's recipe on a front-end of another size (n_mels x hop), "
        "observed every epoch (stages input_size_train, paper_input_size_train)",
        _input_size_train_arguments,
        input_size_train,
    ),
    Command(
        "analyses-speech-input-size-train",
        "train a SynSpeech model by its study's recipe on a front-end of another size (n_mels x hop), "
        "observed every epoch (stage speech_input_size_train)",
        _speech_input_size_train_arguments,
        speech_input_size_train,
    ),
    Command(
        "analyses-input-size",
        "the input-size sweep: saturation and layer probes by input size beside each layer's receptive "
        "field, table and figure (stages input_size_sweep, paper_input_size_sweep, speech_input_size_sweep)",
        _input_size_arguments,
        input_size_sweep,
    ),
    Command(
        "analyses-report",
        "reports/analyses.html: each analysis's figures and tables with a paragraph (stage analyses_report)",
        _report_arguments,
        report,
    ),
)
