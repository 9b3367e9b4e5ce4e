"""Training objectives of the VAE family, one class each, registered by name.

Reconstruction scaling follows the protocol's `reduction` (SYNTONE.md section 3):

* ``batch_sum`` (paper protocol): squared error summed over the whole batch, KL-type terms
  averaged over it - so the effective per-sample beta is beta / batch_size (the
  reference's quirk);
* ``per_sample_mean`` (corrected protocol): the per-sample ELBO - squared error summed
  over pixels, averaged over the batch, like the KL-type terms.

The corrected protocol's decoder is calibrated (`decoder`): the reconstruction term is
the Gaussian negative log-likelihood with one variance for all pixels, set to the batch's
mean squared error - so beta means what each objective's paper says rather than ~40x it.
Every objective takes the regulariser's weight (`weight`, the KL warm-up); at 1.0 the
loss is computed exactly as before the warm-up existed.

The other `LossSettings` switches replicate the reference code's quirks under the paper
protocol (synaudio.protocol documents each); the corrected protocol turns them off.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from synaudio.models.backbone import ConvVAE
from synaudio.models.specs import BetaTCVAESpec, FactorVAESpec, ObjectiveSpec, VAESpec
from synaudio.protocol import LossSettings, Reduction

OBJECTIVES: dict[str, type[Objective]] = {}
LOG_2PI = math.log(2 * math.pi)
# The calibrated decoder's variance floor: sigma 0.01 of the [0, 1] feature range, below
# which a near-perfect batch would make the likelihood (and its gradients) explode.
VARIANCE_FLOOR = 1e-4


def register(cls: type[Objective]) -> type[Objective]:
    OBJECTIVES[cls.name] = cls
    return cls


def reconstruction_error(x: torch.Tensor, reconstruction: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    squared = (reconstruction - x) ** 2
    return squared.sum() if reduction == "batch_sum" else squared.flatten(1).sum(1).mean()


def gaussian_nll(squared_error: torch.Tensor, pixels: int, variance: torch.Tensor) -> torch.Tensor:
    """-log N(x; x_hat, variance * I) per clip from its summed squared error, in nats."""
    return squared_error / (2 * variance) + 0.5 * pixels * (LOG_2PI + torch.log(variance))


def reconstruction_term(
    x: torch.Tensor, reconstruction: torch.Tensor, settings: LossSettings
) -> dict[str, torch.Tensor]:
    """The reconstruction term under the protocol's decoder (and, calibrated, its variance)."""
    if settings.decoder == "fixed":
        return {"reconstruction": reconstruction_error(x, reconstruction, settings.reduction)}
    squared = ((reconstruction - x) ** 2).flatten(1)
    variance = squared.detach().mean().clamp_min(VARIANCE_FLOOR)  # optimal for the batch: no gradient needed
    nll = gaussian_nll(squared.sum(1), squared.shape[1], variance)
    total = nll.sum() if settings.reduction == "batch_sum" else nll.mean()
    return {"reconstruction": total, "decoder_variance": variance}


def kl_per_dimension(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per sample and latent dimension, (N, D)."""
    return 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var)


class Objective(nn.Module):
    """Turns a batch into losses. `losses` returns at least "loss" (minimised by the
    backbone's optimiser); an objective with its own module adds "aux_loss" and
    builds its optimiser in `aux_optimizer`."""

    name: ClassVar[str]

    def __init__(self, spec: ObjectiveSpec, latent_dim: int, train_size: int, settings: LossSettings) -> None:
        super().__init__()
        self.spec, self.latent_dim, self.train_size, self.settings = spec, latent_dim, train_size, settings

    def tc_sample(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """The z a TC estimate sees: the decoder's sample, or a fresh draw from q(z|x)."""
        if self.settings.tc_sample == "decoder":
            return out["z"]
        return out["mean"] + torch.randn_like(out["mean"]) * torch.exp(0.5 * out["log_var"])

    def losses(self, x: torch.Tensor, backbone: ConvVAE, weight: float = 1.0) -> dict[str, torch.Tensor]:
        """The batch's terms; `weight` scales every regularising term (the KL warm-up)."""
        raise NotImplementedError

    def aux_optimizer(self) -> torch.optim.Optimizer | None:
        return None


@register
class VAE(Objective):
    """Reconstruction + beta * KL (beta = 1: VAE; beta = 4: beta-VAE)."""

    name = "vae"
    spec: VAESpec

    def losses(self, x: torch.Tensor, backbone: ConvVAE, weight: float = 1.0) -> dict[str, torch.Tensor]:
        out = backbone(x)
        terms = reconstruction_term(x, out["reconstruction"], self.settings)
        kl = kl_per_dimension(out["mean"], out["log_var"]).sum(1).mean()
        return {"loss": terms["reconstruction"] + weight * self.spec.beta * kl, **terms, "kl": kl}


def _permute_dimensions(z: torch.Tensor) -> torch.Tensor:
    """Shuffle each latent dimension independently across the batch: a sample of the
    product of marginals, which the FactorVAE discriminator learns to tell apart."""
    columns = [z[torch.randperm(z.shape[0], device=z.device), d] for d in range(z.shape[1])]
    return torch.stack(columns, dim=1)


@register
class FactorVAE(Objective):
    """ELBO on one half of the batch + gamma * TC from a discriminator trained on the
    other half (its dimensions permuted) - Kim & Mnih 2018."""

    name = "factor_vae"
    spec: FactorVAESpec

    def __init__(self, spec: FactorVAESpec, latent_dim: int, train_size: int, settings: LossSettings) -> None:
        super().__init__(spec, latent_dim, train_size, settings)
        layers: list[nn.Module] = []
        width = latent_dim
        for _ in range(spec.disc_layers):
            layers += [nn.Linear(width, spec.disc_hidden), nn.LeakyReLU(0.2)]
            width = spec.disc_hidden
        self.discriminator = nn.Sequential(*layers, nn.Linear(width, 2))
        if settings.disc_init == "kaiming_uniform":  # weights only; biases keep PyTorch's default
            for layer in self.discriminator:
                if isinstance(layer, nn.Linear):
                    nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")

    def losses(self, x: torch.Tensor, backbone: ConvVAE, weight: float = 1.0) -> dict[str, torch.Tensor]:
        half = x.shape[0] // 2
        out = backbone(x[:half])
        terms = reconstruction_term(x[:half], out["reconstruction"], self.settings)
        kl = kl_per_dimension(out["mean"], out["log_var"]).sum(1).mean()
        z = self.tc_sample(out)
        logits = self.discriminator(z)
        tc = (logits[:, 0] - logits[:, 1]).mean()
        with torch.no_grad():
            mean, log_var = backbone.encoder(x[half : 2 * half])
            z_other = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        real = torch.zeros(half, dtype=torch.long, device=x.device)
        # attached: the reference reuses the TC logits, so this loss reaches the encoder
        real_logits = logits if self.settings.disc_input == "attached" else self.discriminator(z.detach())
        aux = 0.5 * (
            F.cross_entropy(real_logits, real)
            + F.cross_entropy(self.discriminator(_permute_dimensions(z_other)), 1 - real)
        )
        return {
            "loss": terms["reconstruction"] + weight * kl + weight * self.spec.gamma * tc,
            **terms,
            "kl": kl,
            "tc": tc,
            "aux_loss": aux,
        }

    def aux_optimizer(self) -> torch.optim.Optimizer:
        betas = (self.spec.disc_betas[0], self.spec.disc_betas[1])
        return torch.optim.Adam(self.discriminator.parameters(), lr=self.spec.disc_lr, betas=betas)


def _log_normal(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    return -0.5 * (LOG_2PI + log_var + (z - mean) ** 2 * torch.exp(-log_var))


def stratified_log_weights(batch: int, dataset_size: int, device: torch.device) -> torch.Tensor:
    """log w_ij of minibatch-stratified sampling (Chen et al. 2018, appendix): the batch
    stands for the dataset - the sample itself with weight 1/N, the rest sharing the
    remaining mass, one of them re-weighted for the stratum the batch was drawn from."""
    m = batch - 1
    weights = torch.full((batch, batch), 1.0 / m, device=device)
    rows = torch.arange(batch, device=device)
    weights[rows, rows] = 1.0 / dataset_size
    stratum = (dataset_size - m) / (dataset_size * m)
    weights[rows[:-1], rows[:-1] + 1] = stratum
    weights[m - 1, 0] = stratum
    return weights.log()


def reference_stratified_log_weights(batch: int, dataset_size: int, device: torch.device) -> torch.Tensor:
    """log w_ij as the reference code builds them: it fills every (batch)-th entry of the
    flattened matrix, meaning the diagonal, but that stride lands in column 0 (1/N) and,
    offset by one, column 1 (the stratum weight); every other pair, the sample itself
    included, keeps 1/M."""
    m = batch - 1
    stratum = (dataset_size - m) / (dataset_size * m)
    weights = torch.full((batch, batch), 1.0 / m, device=device)
    weights[:, 0] = 1.0 / dataset_size
    weights[:, 1] = stratum
    weights[m - 1, 0] = stratum
    return weights.log()


STRATIFIED_WEIGHTS = {"intended": stratified_log_weights, "reference": reference_stratified_log_weights}


@register
class BetaTCVAE(Objective):
    """Reconstruction + alpha * index-code MI + beta * TC + gamma * dimension-wise KL."""

    name = "beta_tcvae"
    spec: BetaTCVAESpec

    def losses(self, x: torch.Tensor, backbone: ConvVAE, weight: float = 1.0) -> dict[str, torch.Tensor]:
        out = backbone(x)
        z, mean, log_var = self.tc_sample(out), out["mean"], out["log_var"]
        terms = reconstruction_term(x, out["reconstruction"], self.settings)
        pairwise = _log_normal(z[:, None, :], mean[None, :, :], log_var[None, :, :])  # (i, j, D)
        log_w = STRATIFIED_WEIGHTS[self.settings.mss_weights](x.shape[0], self.train_size, x.device)
        log_qz = torch.logsumexp(pairwise.sum(2) + log_w, dim=1)
        log_prod_qz = torch.logsumexp(pairwise + log_w[:, :, None], dim=1).sum(1)
        log_qz_given_x = _log_normal(z, mean, log_var).sum(1)
        log_pz = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
        mi = (log_qz_given_x - log_qz).mean()
        tc = (log_qz - log_prod_qz).mean()
        dim_kl = (log_prod_qz - log_pz).mean()
        spec = self.spec
        return {  # one sum, left to right: at weight 1.0 the loss of the pre-warm-up code, bit for bit
            "loss": terms["reconstruction"]
            + weight * spec.alpha * mi
            + weight * spec.beta * tc
            + weight * spec.gamma * dim_kl,
            **terms,
            "mi": mi,
            "tc": tc,
            "dim_kl": dim_kl,
        }


def build_objective(
    spec: ObjectiveSpec, latent_dim: int, train_size: int, settings: LossSettings
) -> Objective:
    name = spec.objective  # type: ignore[attr-defined]
    if name not in OBJECTIVES:
        raise KeyError(f"objective {name!r} has settings but no implementation in synaudio.models.objectives")
    return OBJECTIVES[name](spec, latent_dim, train_size, settings)
