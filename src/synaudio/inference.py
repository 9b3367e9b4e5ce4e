"""A trained conv VAE on stored features: posterior means and log-variances, and what the
held-out clips say about the model itself - reconstruction error, the KL of every latent
dimension (below 0.01 nats a dimension counts as inactive) and the active units as
Burda et al. (2016) count them (variance over the clips of the posterior mean above 0.01).
Every study's evaluation and report encode through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from synaudio.errors import UserError
from synaudio.models.backbone import ConvVAE
from synaudio.models.objectives import kl_per_dimension
from synaudio.training_config import BackboneFactory

MODEL_FILE, SUMMARY_FILE = "model.pt", "training.json"  # what a trained model directory holds
ACTIVE_KL = 0.01
ACTIVE_VARIANCE = 0.01  # Burda et al.: Cov_x(E_q[z | x]) of a unit above this


INFERENCE_BATCH = 32  # clips per forward pass: small, channels-last batches stay in cache


def _batches(backbone: ConvVAE, features: np.ndarray, batch: int) -> Iterator[torch.Tensor]:
    """`features` as (batch, 1, mels, frames) channels-last tensors, the network converted to
    match. Measured on one loaded core (session 5, README "Cost"): 3-5x the clips/s of
    NCHW batches of 1,024, the same numbers whatever the batch size."""
    backbone.to(memory_format=torch.channels_last)
    for start in range(0, len(features), batch):
        block = torch.from_numpy(np.array(features[start : start + batch], dtype=np.float32))  # a copy
        yield block.unsqueeze(1).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def encode(
    backbone: ConvVAE, features: np.ndarray, batch: int = INFERENCE_BATCH
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of every row of `features`, (N, D) each."""
    means, log_vars = [], []
    for x in _batches(backbone, features, batch):
        mean, log_var = backbone.encoder.infer(x)
        means.append(mean.numpy())
        log_vars.append(log_var.numpy())
    return np.concatenate(means).astype(np.float64), np.concatenate(log_vars).astype(np.float64)


@torch.inference_mode()
def reconstruction_and_kl(
    backbone: ConvVAE,
    features: np.ndarray,
    mean: np.ndarray,
    log_var: np.ndarray,
    batch: int = INFERENCE_BATCH,
) -> dict[str, Any]:
    """Mean per-clip squared error of the decoded posterior mean, mean KL per dimension, and
    the active dimensions by KL and by the variance of the posterior mean (Burda).

    `mean` and `log_var` are `encode(backbone, features)`: the evaluations have them already,
    and a Medium model's 10,000 held-out clips cost 9 s to encode again."""
    errors = []
    posterior = torch.from_numpy(mean.astype(np.float32))
    for start, x in zip(range(0, len(features), batch), _batches(backbone, features, batch), strict=True):
        decoded = backbone.decoder(posterior[start : start + batch])
        errors.append(((decoded - x) ** 2).flatten(1).sum(1).numpy())
    kl = kl_per_dimension(torch.from_numpy(mean), torch.from_numpy(log_var)).numpy().mean(axis=0)
    variance = mean.var(axis=0)
    return {
        "reconstruction_error": float(np.concatenate(errors).mean()),
        "kl_per_dimension": [float(v) for v in kl],
        "active_dimensions": int((kl > ACTIVE_KL).sum()),
        "active_units": int((variance > ACTIVE_VARIANCE).sum()),
    }


def load_backbone(model_dir: Path, latent_dim: int, backbone: BackboneFactory) -> nn.Module:
    network = backbone(latent_dim)
    try:
        state = torch.load(model_dir / MODEL_FILE, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except Exception as exc:  # a damaged pickle raises anything from EOFError to IndexError
        raise UserError(
            f"cannot load {model_dir / MODEL_FILE} ({type(exc).__name__}: {exc}); re-run its training stage "
            "(or check the latent size in params.yaml against the one it was trained with)"
        ) from None
    return network.eval()
