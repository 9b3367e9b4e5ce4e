"""How the SynTone study's training machinery is set up for SynSpeech.

`synaudio.training.train` reads its optimisation settings from `params.training` and
each objective's block under `models:`. For speech those come from `params.speech`
instead: its latent size, batch and per-version epochs, and no SynTone-specific batch
or epoch overrides (FactorVAE's 40 x 128 belongs to the SynTone paper protocol).
"""

from __future__ import annotations

from functools import partial

from synaudio.params import Params
from synaudio.speech.backbone import SpeechBackbone
from synaudio.training import BackboneFactory

PROTOCOL = "corrected"  # per-sample ELBO; its log-mel front-end keeps loudness (features.py)


def training_params(params: Params, version: str) -> Params:
    """`params` with the training section and model blocks the speech benchmark uses."""
    bench = params.speech
    training = params.training.model_copy(
        update={
            "models": bench.models,
            "latent_dim": bench.latent_dim,
            "batch_size": bench.batch_size,
            "epochs": bench.epochs[version],
            "corrected_epochs": None,
        }
    )
    models = {
        name: spec.model_copy(update={"batch_size": None, "epochs": None})
        for name, spec in params.models.items()
    }
    return params.model_copy(update={"training": training, "models": models})


def frames(params: Params, clip_samples: int) -> int:
    """Time frames of the front-end for a clip (centred STFT frames)."""
    return clip_samples // params.speech.features.hop_length + 1


def backbone(params: Params, clip_samples: int) -> BackboneFactory:
    return partial(SpeechBackbone, n_mels=params.speech.features.n_mels, frames=frames(params, clip_samples))
