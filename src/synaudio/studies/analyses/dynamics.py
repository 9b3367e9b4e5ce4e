"""Saturation and layer probes over training (issue 18; Richter et al., arXiv 2006.08679).

The committed SynTone models keep only their final weights, and per-epoch snapshots of
every model would add ~2 MB of encoder per epoch to git. So the measurement happens during
training instead: params analyses.dynamics names a protocol, models and seeds; each is
trained again by that protocol's recipe (synaudio.syntone_recipe: same network,
budget, loss, split and seed) while a training.EpochObserver measures, at initialisation
and after every epoch, every analysed layer on a fixed set of held-out clips - saturation
and the layer probes of layers.py - into training.json. The observer neither draws from
the training's random stream nor changes the weights, so on the CPU kind that made
dvc.lock's features the final weights are the committed model's. The front-end is computed
from the dataset as in the layer analysis (layers.py docstring: why). The input-size sweep
(input_size.py) trains and observes the same way on front-ends of other sizes, and
train_speech does it for a SynSpeech model by the kit's speech recipe (params
analyses.speech_dynamics: for more epochs than the benchmark's budget; analyses.speech_input_size:
on front-ends of other sizes).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from torch import nn

from synaudio.command import Stage
from synaudio.params import Features, LayerSettings

if TYPE_CHECKING:
    from synaudio.training import EpochObserver

KEY = "layers"  # the observer's entry in training.json


def measure(inputs: np.ndarray, labels: pd.DataFrame, split: tuple) -> Callable[[nn.Module], list[dict]]:
    """The observer's measurement: layers.py's per-layer rows of a network on `inputs`."""
    from synaudio.studies.analyses import layers

    def rows(backbone: nn.Module) -> list[dict[str, Any]]:
        return layers.layer_rows(layers.record(backbone.encoder, inputs), labels, split)

    return rows


def observe(
    inputs: np.ndarray, held_out: np.ndarray, factors: pd.DataFrame, settings: LayerSettings, where: str
) -> EpochObserver:
    """The EpochObserver of an observed training: the analyses block `settings` (named `where`
    in errors) picks its clips from the held-out rows and the factors its probes predict."""
    from synaudio.studies.analyses import layers
    from synaudio.training import EpochObserver

    clips = layers.analysed_clips(held_out, settings, where)
    labels = layers.probe_labels(factors, clips, settings, where)
    return EpochObserver(KEY, measure(inputs[clips], labels, layers.probe_split(len(clips), settings.seed)))


def train(
    stage: Stage,
    args: argparse.Namespace,
    what: str = "dynamics",
    spec: Features | None = None,
    run: str | None = None,
) -> None:
    """Train `args.model` at `args.seed` by the protocol's recipe, observed every epoch;
    `what`: the analyses block that sets it, `spec`: another front-end and `run`: its MLflow
    run's name (the input-size sweep)."""
    from synaudio import syntone_recipe as recipe
    from synaudio.command import run_training
    from synaudio.features import split_rows
    from synaudio.protocol import PROTOCOLS
    from synaudio.store import load_dataset
    from synaudio.studies.analyses import layers

    params, model = stage.params, stage.model(args.model)
    settings = getattr(params.analyses, what)
    protocol = PROTOCOLS[settings.protocol]
    inputs, manifest = layers.syntone_front_end(params, args.syntone, protocol, spec)
    train_rows, held_out = split_rows(len(inputs), params.split, protocol.split)
    dataset = args.syntone / protocol.data / "dataset"
    observer = observe(inputs, held_out, load_dataset(dataset).factors, settings, f"analyses.{what}")
    args.dataset = dataset  # what run_training logs as the training data
    run_training(
        stage, args, run or f"dynamics {model}/{protocol.name}/seed{args.seed}", inputs, train_rows, held_out,
        logged=({"features": manifest}, manifest["dataset_digest"], "syntone"),
        data_digest=manifest["sha256"],
        config=recipe.config(params, model, protocol), objective=params.models[model],
        backbone=recipe.backbone(inputs.shape[1:]), labels={"model": model, "protocol": protocol.name},
        observers=[observer],
    )  # fmt: skip


def train_speech(
    stage: Stage,
    args: argparse.Namespace,
    what: str = "speech_dynamics",
    spec: Features | None = None,
    run: str | None = None,
) -> None:
    """Train `args.model` at `args.seed` by the SynSpeech study's recipe on params
    analyses.<what>'s version for its epochs, observed every epoch on that version's held-out
    clips; `spec`: another front-end and `run`: its MLflow run's name (the input-size sweep).
    The front-end is computed here, as for SynTone (module docstring)."""
    from dataclasses import replace

    from synaudio import speech_recipe as recipe
    from synaudio.command import run_training
    from synaudio.features import computed, load_features
    from synaudio.store import load_dataset

    params, model = stage.params, stage.model(args.model)
    settings = getattr(params.analyses, what)
    spec = spec or params.speech.features
    args.dataset = args.datasets / settings.version / "dataset"  # what run_training logs as the training data
    with computed(args.dataset, recipe.PROTOCOL, spec, params.speech.split) as folder:
        rows, manifest, split = load_features(folder, f"speech_features@{settings.version} (computed here)")
        inputs = np.array(rows)
    dataset = load_dataset(args.dataset)
    observer = observe(inputs, split["test"], dataset.factors, settings, f"analyses.{what}")
    run_training(
        stage, args, run or f"dynamics {model}/speech-{settings.version}/seed{args.seed}",
        inputs, split["train"], split["test"],
        logged=({"features": manifest}, manifest["dataset_digest"], "synspeech"),
        data_digest=manifest["sha256"],
        config=replace(recipe.config(params, settings.version), epochs=settings.epochs),
        objective=recipe.objective(params, model),
        backbone=recipe.backbone(params, dataset.audio.shape[1], spec),
        labels={"model": model, "protocol": recipe.PROTOCOL.name}, observers=[observer],
    )  # fmt: skip


def table(models: Path, names: list[str], seeds: list[int]) -> pd.DataFrame:
    """One row per model, seed, epoch and layer from the observed trainings' training.json."""
    rows = []
    for model in names:
        for seed in seeds:
            summary = json.loads((models / model / f"seed{seed}" / "training.json").read_text())
            rows += [{"model": model, "seed": seed, "epoch": record["epoch"], **row}
                     for record in summary[KEY] for row in record["measured"]]  # fmt: skip
    return pd.DataFrame(rows)


def markdown(curves: pd.DataFrame) -> str:
    """Per model and layer (means over seeds): saturation and probe accuracy at
    initialisation, after the first epoch and at the end."""
    probes = [c for c in curves.columns if c.startswith("probe_")]
    head = ["model", "epochs", "layer", "saturation: init / 1 / end",
            *(f"{p.removeprefix('probe_')}: init / end" for p in probes)]  # fmt: skip
    out = ["| " + " | ".join(head) + " |", "|---|---:|---|" + "---:|" * (len(head) - 3)]
    for (model, layer), rows in curves.groupby(["model", "layer"], sort=False):
        means = rows.groupby("epoch").mean(numeric_only=True)
        last = int(means.index.max())
        cells = [" / ".join(f"{means.saturation[e]:.3f}" for e in (0, 1, last))]
        cells += [f"{means[p][0]:.3f} / {means[p][last]:.3f}" for p in probes]
        out.append(f"| {model} | {last} | {layer} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
