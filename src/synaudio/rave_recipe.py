"""How the RAVE study trains: params.rave -> the archive's training loop (synaudio.training)
with RAVE's loss (spectral distance + beta x KL on a random window of every clip) and the
RAVE-style network, on SynSpeech's waveforms and the speech benchmark's split."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from synaudio.models.rave import RaveShape, RaveStyle
from synaudio.models.specs import RaveSpec
from synaudio.params import Params
from synaudio.protocol import CORRECTED
from synaudio.training_config import BackboneFactory, TrainingConfig


def shape(params: Params) -> RaveShape:
    rave = params.rave
    return RaveShape(
        bands=rave.bands,
        capacity=rave.capacity,
        ratios=tuple(rave.ratios),
        dilations=tuple(tuple(stage) for stage in rave.dilations),
        kernel=rave.kernel,
    )


def config(params: Params, version: str) -> TrainingConfig:
    """The training loop's settings: RAVE's batch, epochs, lr and KL warm-up; the device,
    threads and precision every archive training shares; no channels-last (1-D convs)."""
    rave, shared = params.rave, params.training
    return TrainingConfig(
        latent_dim=rave.latent_dim,
        lr=rave.lr,
        batch_size=rave.batch_size,
        epochs=rave.epochs[version],
        loss=replace(CORRECTED.loss, decoder="fixed", kl_warmup=rave.kl_warmup),
        **{**shared.machine(), "channels_last": False},
        grad_clip=rave.grad_clip,
    )


def objective(params: Params) -> RaveSpec:
    rave = params.rave
    return RaveSpec(objective="rave", beta=rave.beta, crop_samples=rave.crop_samples, scales=rave.scales)


def backbone(params: Params) -> BackboneFactory:
    return partial(RaveStyle, shape=shape(params))
