"""Settings of each objective, validated with params.yaml (no torch import here).

To add a model: declare its settings here (a subclass with a unique `objective`
literal, added to SPECS), implement it in synaudio.models.objectives (a subclass of
Objective registered under the same name), and add a block under `models:` in
params.yaml. Every block may override the training batch size and epochs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ObjectiveSpec(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    batch_size: int | None = Field(default=None, ge=2)
    epochs: int | None = Field(default=None, ge=1)


class VAESpec(ObjectiveSpec):
    """ELBO with a weighted KL: beta = 1 is the VAE, beta > 1 the beta-VAE."""

    objective: Literal["vae"]
    beta: float = Field(default=1.0, ge=0)


class FactorVAESpec(ObjectiveSpec):
    """ELBO + gamma * total correlation estimated by a discriminator (Kim & Mnih 2018)."""

    objective: Literal["factor_vae"]
    gamma: float = Field(default=6.0, ge=0)
    disc_lr: float = Field(default=5e-5, gt=0)
    disc_betas: list[float] = Field(default_factory=lambda: [0.5, 0.9], min_length=2, max_length=2)
    disc_hidden: int = Field(default=1000, ge=1)
    disc_layers: int = Field(default=5, ge=1)


class BetaTCVAESpec(ObjectiveSpec):
    """Decomposed KL with minibatch-stratified sampling (Chen et al. 2018)."""

    objective: Literal["beta_tcvae"]
    alpha: float = Field(default=1.0, ge=0)
    beta: float = Field(default=4.0, ge=0)
    gamma: float = Field(default=1.0, ge=0)


class RaveSpec(ObjectiveSpec):
    """RAVE's loss (synaudio.models.rave): multi-scale spectral distance + beta x KL, on a
    random `crop_samples` window of every clip. Built from params.rave, not a models: block."""

    objective: Literal["rave"]
    beta: float = Field(ge=0)
    crop_samples: int = Field(ge=1)
    scales: list[int] = Field(min_length=1)


SPECS: dict[str, type[ObjectiveSpec]] = {
    "vae": VAESpec,
    "factor_vae": FactorVAESpec,
    "beta_tcvae": BetaTCVAESpec,
}
AnySpec = Annotated[VAESpec | FactorVAESpec | BetaTCVAESpec, Field(discriminator="objective")]
