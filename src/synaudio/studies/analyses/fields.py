"""The receptive-field table: each encoder the archive trains, at the input its study feeds
it (SynTone: 128 x 32 log-mels; SynSpeech: speech.features on a whole clip, which the
self-supervised encoder reads too), one row per convolution, pooling and dense layer
(synaudio.models.receptive). The self-supervised encoder's global average after its last
pool is not a layer module: it sees the whole input."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from synaudio.models.backbone import Encoder
from synaudio.models.presets import SPEECH, SYNTONE
from synaudio.models.receptive import receptive_fields
from synaudio.models.speech_encoder import SpeechEncoder
from synaudio.params import SYNTONE_INPUT, Params


def encoders(params: Params) -> dict[str, tuple[nn.Module, tuple[int, int]]]:
    """Encoder name -> (the encoder, the mels x frames it sees); the latent size moves no field."""
    speech = params.speech_input
    return {
        "syntone_vae": (Encoder(params.training.latent_dim, *SYNTONE_INPUT, SYNTONE), SYNTONE_INPUT),
        "synspeech_vae": (Encoder(params.speech.latent_dim, *speech, SPEECH), speech),
        "ssl_encoder": (SpeechEncoder(tuple(params.ssl.channels)), speech),
    }


def _axes(values: tuple[int, ...]) -> str:
    return " x ".join(map(str, values)) if values else "-"


def table(params: Params) -> list[dict[str, Any]]:
    """One row per layer; `covers`: its field spans the whole input (mels and frames)."""
    rows = []
    for name, (encoder, (mels, frames)) in encoders(params).items():
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
