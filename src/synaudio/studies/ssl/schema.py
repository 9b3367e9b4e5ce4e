"""The self-supervised study's runs, the pretraining clips and where its stages write."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from synaudio import trivial
from synaudio.errors import UserError
from synaudio.params import LOG_MEL, RANDOM_ENCODER, Params

if TYPE_CHECKING:
    from torch import nn

UNTRAINED = (RANDOM_ENCODER, LOG_MEL)  # the baselines with no weights to load
SEEDLESS = (LOG_MEL, *trivial.REPRESENTATIONS)  # measured, not learned: seed 0's run pairs with every seed


def trained(params: Params) -> list[tuple[str, int]]:
    """Every (method or arm, seed) pretrained: methods at ssl.seeds, arms at ssl.arm_seeds.
    A name of a trivial-feature baseline is refused: their probes would share a file."""
    ssl = params.ssl
    clash = sorted(set(trivial.REPRESENTATIONS) & {*ssl.methods, *ssl.arms})
    if clash:
        raise UserError(f"ssl.methods / ssl.arms: {clash} name trivial-feature baselines (synaudio.trivial)")
    methods = [(m, s) for m in ssl.methods for s in ssl.seeds]
    return methods + [(a, s) for a in ssl.arms for s in ssl.arm_seeds]


def declared(params: Params, name: str, seed: int) -> None:
    if (name, seed) not in trained(params):
        raise UserError(
            f"--method {name} --seed {seed}: not among ssl.methods x ssl.seeds or ssl.arms x ssl.arm_seeds "
            f"({', '.join(f'{m}/{s}' for m, s in trained(params))})"
        )


def pretraining_rows(params: Params, factors: pd.DataFrame) -> slice:
    """The pretraining version's clips of speakers from ssl.pretraining.first_speaker on: a
    contiguous tail of its rows (clips are stored speaker by speaker)."""
    first = params.ssl.pretraining.first_speaker
    rows = np.flatnonzero(factors["speaker_index"].to_numpy() >= first)
    if not len(rows) or rows[-1] - rows[0] + 1 != len(rows) or rows[-1] != len(factors) - 1:
        raise UserError(
            f"the clips of speakers >= {first} are not the dataset's last rows; "
            "rebuild it with `dvc repro synspeech` (clips are written speaker by speaker)"
        )
    return slice(int(rows[0]), len(factors))


def encoder(params: Params, name: str, seed: int, model_dir: Path | None) -> tuple[nn.Module, dict[str, Any]]:
    """A pretrained encoder from its folder, or - `name` random - the encoder every
    pretraining with this seed starts from (the same seeding: torch's generator, then the
    network built first), or - log_mel - the time average; and what made it, for the JSON."""
    import torch

    from synaudio.hashing import sha256_file
    from synaudio.inference import MODEL_FILE
    from synaudio.models.speech_encoder import load_encoder
    from synaudio.studies.ssl.networks import TimeAverage, network

    if name == LOG_MEL:
        return TimeAverage(), {"weights": "none: each mel band's mean over time"}
    if name == RANDOM_ENCODER:
        torch.manual_seed(seed)
        return network(params.ssl).encoder, {"weights": "as initialised", "seed": seed}
    declared(params, name, seed)
    try:
        encoder = load_encoder(model_dir / MODEL_FILE, tuple(params.ssl.channels))
    except (OSError, RuntimeError) as exc:
        raise UserError(
            f"{model_dir}: no encoder of the current ssl settings ({type(exc).__name__}); "
            f"re-make it with dvc repro {stage_id(name, seed, params)}"
        ) from None
    return encoder, {
        "weights": str(model_dir / MODEL_FILE),
        "sha256": sha256_file(model_dir / MODEL_FILE),
    }


def stage_id(name: str, seed: int, params: Params) -> str:
    """The dvc.yaml stage that pretrains `name` at `seed` (ssl_pretrain or ssl_arm)."""
    from synaudio.declared import stage_id as matrix_item

    return matrix_item("ssl_arm" if name in params.ssl.arms else "ssl_pretrain", name, seed)


def probe_stage(name: str, params: Params) -> str:
    """The dvc.yaml stage that probes a pretrained `name` (ssl_probe or ssl_arm_probe)."""
    return "ssl_arm_probe" if name in params.ssl.arms else "ssl_probe"
