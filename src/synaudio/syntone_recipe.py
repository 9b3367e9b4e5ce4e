"""How the SynTone study trains a model under a protocol: the reference network (the conv
VAE's SynTone preset on 128 x 32 mels), `params.training` with a model block's batch /
epoch overrides, and the corrected budget (`training.corrected_epochs`) for the protocols
that train on it."""

from __future__ import annotations

from functools import partial

from synaudio.models.backbone import ConvVAE
from synaudio.models.presets import SYNTONE
from synaudio.params import SYNTONE_INPUT, Params
from synaudio.protocol import Protocol
from synaudio.training_config import BackboneFactory, TrainingConfig


def epochs(params: Params, model: str, protocol: Protocol) -> int:
    """The paper's epochs (a model block may override them), or the corrected budget scaled
    by the model's own ratio to the shared epochs: FactorVAE, which spends half of every
    batch on its discriminator, keeps its doubled epochs under either budget."""
    paper = params.models[model].epochs or params.training.epochs
    corrected = params.training.corrected_epochs
    if protocol.budget == "corrected" and corrected:
        return max(1, round(corrected * paper / params.training.epochs))
    return paper


def config(params: Params, model: str, protocol: Protocol) -> TrainingConfig:
    shared = params.training
    return TrainingConfig(
        latent_dim=shared.latent_dim,
        lr=shared.lr,
        batch_size=params.batch_size(model),
        epochs=epochs(params, model, protocol),
        loss=protocol.loss,
        **shared.machine(),
    )


def backbone(size: tuple[int, int] = SYNTONE_INPUT) -> BackboneFactory:
    """The reference network, or (the input-size sweep) its layers sized for mels x frames."""
    return partial(ConvVAE, n_mels=size[0], frames=size[1], preset=SYNTONE)
