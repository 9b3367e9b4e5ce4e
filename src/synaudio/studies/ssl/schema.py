"""The self-supervised study's runs, the pretraining clips and where its stages write."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synaudio.errors import UserError
from synaudio.params import Params


def trained(params: Params) -> list[tuple[str, int]]:
    """Every (method or arm, seed) pretrained: methods at ssl.seeds, arms at ssl.arm_seeds."""
    ssl = params.ssl
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
