"""The receptive-field table: each VAE-family encoder the archive trains, at the input its
study feeds it (SynTone: 128 x 32 log-mels; SynSpeech: speech.features on a whole clip),
one row per convolution, pooling and dense layer (synaudio.models.receptive)."""

from __future__ import annotations

from typing import Any

import torch

from synaudio.models.backbone import Encoder
from synaudio.models.presets import SPEECH, SYNTONE, Preset
from synaudio.models.receptive import receptive_fields
from synaudio.params import SYNTONE_INPUT, Params


def encoders(params: Params) -> dict[str, tuple[Preset, tuple[int, int]]]:
    """Encoder name -> (its preset, the mels x frames it sees)."""
    return {"syntone_vae": (SYNTONE, SYNTONE_INPUT), "synspeech_vae": (SPEECH, params.speech_input)}


def _axes(values: tuple[int, ...]) -> str:
    return " x ".join(map(str, values)) if values else "-"


def table(params: Params) -> list[dict[str, Any]]:
    """One row per layer; `covers`: its field spans the whole input (mels and frames)."""
    rows = []
    for name, (preset, (mels, frames)) in encoders(params).items():
        encoder = Encoder(params.speech.latent_dim, mels, frames, preset)  # the latent size moves no field
        for field in receptive_fields(encoder, torch.zeros(1, 1, mels, frames)):
            rows.append({
                "encoder": name, "input": _axes((mels, frames)), "layer": field.layer, "kind": field.kind,
                "field": _axes(field.size), "jump": _axes(field.jump if field.output else ()),
                "output": _axes(field.output),
                "covers": field.covers,
            })  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table as README / report markdown (fields in mels x frames)."""
    head = "| encoder | input | layer | kind | field | jump | output grid | spans the input |\n"
    head += "|---|---|---|---|---|---|---|---|\n"
    return head + "".join(
        f"| {r['encoder']} | {r['input']} | `{r['layer']}` | {r['kind']} | {r['field']} | {r['jump']} "
        f"| {r['output']} | {'yes' if r['covers'] else 'no'} |\n"
        for r in rows
    )
