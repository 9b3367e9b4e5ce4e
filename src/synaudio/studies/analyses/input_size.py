"""The preferred input size (issue 18; Richter et al.'s receptive-field papers): the same
model trained on front-ends of several sizes - params analyses.input_size's grid of n_mels
(mel bands) x hop_length (which sets the frames of a clip) for SynTone, paper_input_size's
for the paper protocol, speech_input_size's for a SynSpeech model - each observed every
epoch like the dynamics' trainings (dynamics.py), on the same held-out clips.

Beside each analysed layer's saturation and probes at the end of training stands its
receptive field on that input: a conv block whose field spans an axis of the input (all
mels, or all frames) is where Richter et al. expect layers to stop adding anything - the
table says which blocks do, on which axis, and whether their saturation drops there.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from synaudio.errors import UserError
from synaudio.models.backbone import Encoder
from synaudio.models.presets import SPEECH, SYNTONE, Preset
from synaudio.models.receptive import receptive_fields
from synaudio.params import Params
from synaudio.studies.analyses import dynamics


def folder(n_mels: int, hop_length: int) -> str:
    """A grid point's folder under the sweep's models (and its stage's output)."""
    return f"mels{n_mels}-hop{hop_length}"


SPEECH_SWEEPS = ("speech_input_size",)  # the sweeps of the SynSpeech encoder; the others: SynTone's


def encoder_preset(block: str) -> Preset:
    """The encoder a sweep trains (params analyses.<block>)."""
    return SPEECH if block in SPEECH_SWEEPS else SYNTONE


def input_for(params: Params, n_mels: int, hop_length: int, block: str = "input_size") -> tuple[int, int]:
    """The mels x frames of a grid point of params analyses.<block>, if the encoder can
    halve both sides once per conv block."""
    speech = block in SPEECH_SWEEPS
    size = params.speech_size(n_mels, hop_length) if speech else params.syntone_input(n_mels, hop_length)
    downsampling = encoder_preset(block).downsampling
    if any(side % downsampling for side in size):
        clip = "synspeech.clip_seconds * 16000" if speech else "syntone.duration * sample_rate"
        raise UserError(
            f"analyses.{block}: {n_mels} mels x hop {hop_length} gives {size[0]} x {size[1]} "
            f"(frames = {clip} // hop_length + 1); both must be multiples of "
            f"{downsampling}: change analyses.{block}.n_mels / hop_lengths"
        )
    return size


def block_fields(n_mels: int, frames: int, preset: Preset = SYNTONE) -> dict[str, tuple[int, int]]:
    """The receptive field (mels, frames) of every conv block's pooled output, by the
    analysed layers' names (layers.layer_outputs: block1..blockN)."""
    encoder = Encoder(1, n_mels, frames, preset)  # the latent size moves no field
    pools = [f for f in receptive_fields(encoder, torch.zeros(1, 1, n_mels, frames)) if f.kind == "MaxPool2d"]
    return {f"block{k}": (f.size[0], f.size[1]) for k, f in enumerate(pools, start=1)}


def spans(field: tuple[int, int] | None, size: tuple[int, int]) -> str:
    """Which axes of the input a layer's field covers; a dense layer (no field) sees it all."""
    if field is None:
        return "both"
    axes = [name for name, f, s in zip(("mels", "frames"), field, size, strict=True) if f >= s]
    return "both" if len(axes) == 2 else axes[0] if axes else "neither"


def table(models: Path, params: Params, block: str = "input_size") -> pd.DataFrame:
    """Every observed training of params analyses.<block>'s grid, one row per epoch and layer
    (dynamics.table's), with its input size, the layer's receptive field and the axes it spans."""
    settings = getattr(params.analyses, block)
    parts = []
    for n_mels, hop in product(settings.n_mels, settings.hop_lengths):
        size = input_for(params, n_mels, hop, block)
        fields = block_fields(*size, encoder_preset(block))
        part = dynamics.table(models / folder(n_mels, hop), settings.models, settings.seeds)
        part.insert(1, "input", f"{size[0]} x {size[1]}")
        part.insert(2, "n_mels", size[0])
        part.insert(3, "frames", size[1])
        part["field"] = [" x ".join(map(str, fields[k])) if k in fields else "all" for k in part.layer]
        part["spans"] = [spans(fields.get(layer), size) for layer in part.layer]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def final(curves: pd.DataFrame) -> pd.DataFrame:
    """The rows of each training's last epoch, labelled `<model> <mels> x <frames>` in
    `model` for the per-layer figure (one line per input size)."""
    last = curves[curves["epoch"] == curves.groupby(["model", "input"])["epoch"].transform("max")].copy()
    last["model"] = last["model"] + " " + last["input"]
    return last


def markdown(curves: pd.DataFrame) -> str:
    """Per input size and layer (means over seeds, last epoch): field, the axes it spans,
    saturation and probe accuracy."""
    last = final(curves)
    probes = [c for c in curves.columns if c.startswith("probe_")]
    head = ["model, input (mels x frames)", "layer", "field", "spans", "saturation",
            *(p.removeprefix("probe_") for p in probes)]  # fmt: skip
    out = ["| " + " | ".join(head) + " |", "|---|---|---|---|" + "---:|" * (len(head) - 4)]
    for (model, layer), rows in last.groupby(["model", "layer"], sort=False):
        first = rows.iloc[0]
        cells = [f"{rows[c].mean():.3f}" for c in ("saturation", *probes)]
        out.append(f"| {model} | {layer} | {first.field} | {first.spans} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def metrics(curves: pd.DataFrame) -> dict[str, Any]:
    """MLflow metrics: saturation and probes per input size and layer at the last epoch."""
    last = final(curves)
    columns = ["saturation", *(c for c in curves.columns if c.startswith("probe_"))]
    means = last.groupby(["model", "layer"], sort=False)[columns].mean()
    return {
        f"{model.replace(' x ', 'x').replace(' ', '_')}/{layer}/{c}": float(value)
        for (model, layer), row in means.iterrows()
        for c, value in row.items()
    }
