"""The receptive-field table: each encoder the archive trains, at the input its study feeds
it (SynTone: 128 x 32 log-mels; SynSpeech: speech.features on a whole clip, which the
self-supervised encoder reads too; the RAVE-style encoder: a clip's waveform, through its
PQMF bank), one row per convolution, pooling and dense layer (synaudio.models.receptive).
The self-supervised encoder's global average after its last pool is not a layer module: it
sees the whole input; nor is the RAVE-style code's average over its latent frames."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from synaudio.models.backbone import Encoder
from synaudio.models.presets import SPEECH, SYNTONE
from synaudio.models.receptive import receptive_fields
from synaudio.models.speech_encoder import SpeechEncoder
from synaudio.params import SYNTONE_INPUT, Params


def encoders(params: Params) -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    """Encoder name -> (the encoder, the input it sees: mels x frames, or a clip's samples
    for the waveform encoder); the latent size moves no field."""
    from synaudio import rave_recipe

    speech, rave = params.speech_input, rave_recipe.backbone(params)(params.rave.latent_dim)
    return {
        "syntone_vae": (Encoder(params.training.latent_dim, *SYNTONE_INPUT, SYNTONE), SYNTONE_INPUT),
        "synspeech_vae": (Encoder(params.speech.latent_dim, *speech, SPEECH), speech),
        "ssl_encoder": (SpeechEncoder(tuple(params.ssl.channels)), speech),
        "rave_style": (rave.encoder, (params.speech_clip_samples,)),
    }


def _axes(values: tuple[int, ...]) -> str:
    return " x ".join(map(str, values)) if values else "-"


def table(params: Params) -> list[dict[str, Any]]:
    """One row per layer; `covers`: its field spans the whole input (mels and frames)."""
    rows = []
    for name, (encoder, size) in encoders(params).items():
        for field in receptive_fields(encoder, torch.zeros(1, 1, *size)):
            rows.append({
                "encoder": name, "input": _axes(size), "layer": field.layer, "kind": field.kind,
                "field": _axes(field.size), "jump": _axes(field.jump if field.output else ()),
                "output": _axes(field.output),
                "covers": field.covers,
            })  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table as README / report markdown (fields in mels x frames; samples for the
    waveform encoder)."""
    head = "| encoder | input | layer | kind | field | jump | output grid | spans the input |\n"
    head += "|---|---|---|---|---|---|---|---|\n"
    return head + "".join(
        f"| {r['encoder']} | {r['input']} | `{r['layer']}` | {r['kind']} | {r['field']} | {r['jump']} "
        f"| {r['output']} | {'yes' if r['covers'] else 'no'} |\n"
        for r in rows
    )
