"""How the SynSpeech study trains (in the kit: the analyses study trains its models again):
the conv VAE's speech preset over the whole clip's log-mel, the corrected protocol's
per-sample ELBO with a fixed decoder variance (the benchmark was trained before the SynTone
study's calibrated decoder and KL warm-up; moving it over is a retraining, issue 15), and its
own settings (`params.speech`: latent size, batch, epochs per version). The objectives are
the `models:` blocks; their batch / epoch overrides belong to the SynTone paper protocol and
do not apply here.
"""

from __future__ import annotations

from dataclasses import replace

from synaudio.models.backbone import speech_vae
from synaudio.models.specs import ObjectiveSpec
from synaudio.params import Features, Params
from synaudio.protocol import CORRECTED, LEVEL_NORMALISED, Protocol
from synaudio.training_config import BackboneFactory, TrainingConfig

PROTOCOL = CORRECTED  # log-mel that keeps loudness, per-sample ELBO
LOSS = replace(CORRECTED.loss, decoder="fixed", kl_warmup=0.0)


def config(params: Params, version: str) -> TrainingConfig:
    bench, shared = params.speech, params.training
    return TrainingConfig(
        latent_dim=bench.latent_dim,
        lr=shared.lr,
        batch_size=bench.batch_size,
        epochs=bench.epochs[version],
        loss=LOSS,
        **shared.machine(),
    )


def objective(params: Params, model: str) -> ObjectiveSpec:
    """The model's objective settings, without the SynTone study's batch / epoch overrides."""
    return params.models[model].model_copy(update={"batch_size": None, "epochs": None})


def frames(features: Features, clip_samples: int) -> int:
    """Time frames of the front-end for a clip (centred STFT frames)."""
    return clip_samples // features.hop_length + 1


def backbone(params: Params, clip_samples: int, features: Features | None = None) -> BackboneFactory:
    """The network for the front-end `features` (default: the benchmark's, params speech.features)."""
    features = features or params.speech.features
    return speech_vae((features.n_mels, frames(features, clip_samples)))


def protocol(level_normalised: bool) -> Protocol:
    """The study's protocol, or its level-normalised arm's (log-mels from each clip's peak)."""
    return LEVEL_NORMALISED if level_normalised else PROTOCOL
