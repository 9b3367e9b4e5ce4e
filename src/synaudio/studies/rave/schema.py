"""The RAVE study's versions and seeds (speech.scored.rave_style) and where its stages write."""

from __future__ import annotations

import numpy as np

from synaudio.declared import stage_id
from synaudio.errors import UserError
from synaudio.params import RAVE, Params, ScoredCodes


def declared(params: Params, name: str = RAVE) -> ScoredCodes:
    """speech.scored.<name> (rave_style, acids_rave): the versions and seeds the study trains."""
    if name not in params.speech.scored:
        raise UserError(f"speech.scored has no {name} block: the RAVE study's versions and seeds live there")
    return params.speech.scored[name]


def stages(version: str, seed: int) -> list[str]:
    """The dvc.yaml stages that train one model and encode its codes."""
    return [stage_id(stage, version, seed) for stage in ("rave_train", "rave_encode")]


def speech_split(params: Params, clips: int) -> tuple[np.ndarray, np.ndarray]:
    """The speech benchmark's train / held-out clips (speech.split, the corrected protocol's
    method): the VAE family's held-out clips are the RAVE-style model's too."""
    from synaudio.features import split_rows
    from synaudio.protocol import CORRECTED

    return split_rows(clips, params.speech.split, CORRECTED.split)
