"""The RAVE study's versions and seeds (speech.scored.rave_style) and where its stages write."""

from __future__ import annotations

from synaudio.declared import stage_id
from synaudio.errors import UserError
from synaudio.params import RAVE, Params, ScoredCodes


def declared(params: Params) -> ScoredCodes:
    """speech.scored.rave_style: the versions and seeds the study trains."""
    if RAVE not in params.speech.scored:
        raise UserError(f"speech.scored has no {RAVE} block: the RAVE study's versions and seeds live there")
    return params.speech.scored[RAVE]


def stages(version: str, seed: int) -> list[str]:
    """The dvc.yaml stages that train one model and encode its codes."""
    return [stage_id(stage, version, seed) for stage in ("rave_train", "rave_encode")]
