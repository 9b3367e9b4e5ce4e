"""The held-out curves of a training: after every epoch, the ELBO of the held-out clips
and the KL of each latent dimension - what shows a model giving up its latents (posterior
collapse) while the training loss still falls.

The ELBO takes one posterior sample per clip from its own generator, seeded by (seed,
epoch), so the curves are reproducible and the training's random stream is untouched: a
run with curves ends with the weights of one without.
"""

from __future__ import annotations

import torch

from synaudio.inference import ACTIVE_VARIANCE
from synaudio.models.objectives import gaussian_nll, kl_per_dimension

CURVE_BATCH = 256


@torch.inference_mode()
def held_out_curves(
    backbone: torch.nn.Module, rows: torch.Tensor, variance: float, seed: int, channels_last: bool
) -> dict[str, float]:
    """Per-clip means over `rows` (N, mels, frames): ELBO = -(NLL + KL) in nats under the
    decoder's variance, its two parts, the per-pixel squared error, the KL of each
    dimension and the active units (Burda et al.: variance of the posterior mean > 0.01)."""
    generator = torch.Generator(device=rows.device).manual_seed(seed)
    nll, squared_error, kl, means = 0.0, 0.0, 0.0, []
    variance_tensor = torch.tensor(variance, dtype=torch.float64)
    for start in range(0, rows.shape[0], CURVE_BATCH):
        x = rows[start : start + CURVE_BATCH].unsqueeze(1)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        mean, log_var = backbone.encoder(x)
        noise = torch.randn(mean.shape, generator=generator, device=rows.device, dtype=mean.dtype)
        reconstruction = backbone.decoder(mean + noise * torch.exp(0.5 * log_var))
        squared = ((reconstruction - x) ** 2).flatten(1).sum(1).double()
        nll += float(gaussian_nll(squared, x[0].numel(), variance_tensor).sum())
        squared_error += float(squared.sum())
        kl = kl + kl_per_dimension(mean, log_var).double().sum(0)
        means.append(mean.double())
    n = rows.shape[0]
    kl_dims = (kl / n).tolist()
    active = int((torch.cat(means).var(0, unbiased=False) > ACTIVE_VARIANCE).sum())
    curves = {
        "heldout/elbo": -(nll / n + sum(kl_dims)),
        "heldout/nll": nll / n,
        "heldout/kl": sum(kl_dims),
        "heldout/mse": squared_error / (n * rows[0].numel()),
        "heldout/active_units": float(active),
    }
    return curves | {f"heldout/kl_dim{d}": value for d, value in enumerate(kl_dims)}
