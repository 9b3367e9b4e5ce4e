"""Trained model -> latents -> metrics, per protocol (SYNTONE.md section 4).

* ``paper``: latents *sampled* (z = mean + sigma * eps) for all clips, training clips
  included; the metrics in paper-compatible mode (ubisoft convention, arguments
  swapped); repeated with fresh noise, mean +- std over repeats - what the published
  table's "10 runs" were.
* ``corrected``: posterior means of the held-out clips, arguments in the right order,
  waveform categorical, frequency and amplitude binned, plus DCI and linear probes.

Both also report the reconstruction error and the KL of every latent dimension on the
held-out clips (a dimension with KL below 0.01 nats is counted inactive), and the active
units as Burda et al. (2016) count them: variance over the clips of the posterior mean
above 0.01.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from synaudio import metrics
from synaudio.models.backbone import VAEBackbone
from synaudio.models.objectives import kl_per_dimension
from synaudio.params import Params

FACTOR_COLUMNS = ("waveform_idx", "frequency_hz", "amplitude")  # the order the paper passed
FACTOR_NAMES = ("waveform", "frequency", "amplitude")
FACTOR_KINDS = ("categorical", "continuous", "continuous")
ACTIVE_KL = 0.01
ACTIVE_VARIANCE = 0.01  # Burda et al.: Cov_x(E_q[z | x]) of a unit above this


INFERENCE_BATCH = 32  # clips per forward pass: small, channels-last batches stay in cache


def _batches(backbone: VAEBackbone, features: np.ndarray, batch: int) -> Iterator[torch.Tensor]:
    """`features` as (batch, 1, mels, frames) channels-last tensors, the network converted to
    match. Measured on one loaded core (session 5, README "Cost"): 3-5x the clips/s of
    NCHW batches of 1,024, the same numbers whatever the batch size."""
    backbone.to(memory_format=torch.channels_last)
    for start in range(0, len(features), batch):
        block = torch.from_numpy(np.array(features[start : start + batch], dtype=np.float32))  # a copy
        yield block.unsqueeze(1).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def encode(
    backbone: VAEBackbone, features: np.ndarray, batch: int = INFERENCE_BATCH
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of every row of `features`, (N, D) each."""
    means, log_vars = [], []
    for x in _batches(backbone, features, batch):
        mean, log_var = backbone.encoder(x)
        means.append(mean.numpy())
        log_vars.append(log_var.numpy())
    return np.concatenate(means).astype(np.float64), np.concatenate(log_vars).astype(np.float64)


@torch.inference_mode()
def reconstruction_and_kl(
    backbone: VAEBackbone, features: np.ndarray, batch: int = INFERENCE_BATCH
) -> dict[str, Any]:
    """Mean per-clip squared error (from the posterior mean), mean KL per dimension, and
    the active dimensions by KL and by the variance of the posterior mean (Burda)."""
    errors, kls, means = [], [], []
    for x in _batches(backbone, features, batch):
        mean, log_var = backbone.encoder(x)
        errors.append(((backbone.decoder(mean) - x) ** 2).flatten(1).sum(1).numpy())
        kls.append(kl_per_dimension(mean, log_var).numpy())
        means.append(mean.double().numpy())
    kl = np.concatenate(kls).mean(axis=0)
    variance = np.concatenate(means).var(axis=0)
    return {
        "reconstruction_error": float(np.concatenate(errors).mean()),
        "kl_per_dimension": [float(v) for v in kl],
        "active_dimensions": int((kl > ACTIVE_KL).sum()),
        "active_units": int((variance > ACTIVE_VARIANCE).sum()),
    }


def _factor_names(key: str) -> str:
    """ "probe/factor0" -> "probe/waveform": per-factor entries named after the factor."""
    for index, name in enumerate(FACTOR_NAMES):
        key = key.replace(f"factor{index}", name)
    return key


def _mean_std(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    frame = pd.DataFrame(runs)
    return {
        name: {"mean": float(frame[name].mean()), "std": float(frame[name].std(ddof=0))} for name in frame
    }


def evaluate_model(
    params: Params,
    protocol: str,
    backbone: VAEBackbone,
    features: np.ndarray,
    factors: pd.DataFrame,
    test_rows: np.ndarray,
    seed: int,
) -> dict[str, Any]:
    """All numbers for one trained model under `protocol` (a JSON-ready dict)."""
    truth = factors.loc[:, list(FACTOR_COLUMNS)].to_numpy(dtype=np.float64)
    settings = params.evaluation
    if protocol == "paper":
        mean, log_var = encode(backbone, features)
        rng = np.random.default_rng(seed)
        runs = []
        for _ in range(settings.paper_repeats):
            sampled = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
            result = metrics.evaluate(truth, sampled, paper_compat=True)
            runs.append({k: v for k, v in result["metrics"].items() if "/" not in k})
        scores, evaluated = (
            _mean_std(runs),
            {**result["settings"], "latents": "sampled, all clips", "repeats": settings.paper_repeats},
        )
    else:
        mean, _ = encode(backbone, features[test_rows])
        result = metrics.evaluate(
            truth[test_rows],
            mean,
            factor_kinds=FACTOR_KINDS,
            bins=settings.bins,
            dci_estimator=settings.dci_estimator,
            seed=seed,
        )
        scores = {_factor_names(key): {"mean": value, "std": 0.0} for key, value in result["metrics"].items()}
        evaluated = {**result["settings"], "latents": "posterior means, held-out clips"}
    return {
        "protocol": protocol,
        "factors": list(FACTOR_COLUMNS),
        "metrics": scores,
        "settings": evaluated,
        "held_out": reconstruction_and_kl(backbone, features[test_rows]),
    }
