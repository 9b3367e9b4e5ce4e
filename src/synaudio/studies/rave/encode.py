"""A trained RAVE-style model's codes for the SynSpeech scoring (`synaudio speech-score`).

Per clip, the code is the posterior mean averaged over the clip's latent frames (all of
them: the whole clip, its zero padding included, as the log-mel VAEs see it). The held-out
clips add what they say about the model itself: RAVE's spectral distance between each
clip and the decoding of its posterior means, and the KL of every latent (the usual
Gaussian KL per frame, averaged over frames and clips).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from synaudio.inference import ACTIVE_KL, ACTIVE_VARIANCE
from synaudio.models.objectives import kl_per_dimension
from synaudio.models.rave import RaveStyle, multiscale_spectral_distance
from synaudio.params import Params
from synaudio.store import Dataset

BATCH = 32  # clips per forward pass
LATENTS = (
    "posterior means averaged over each clip's latent frames (the whole clip, its zero padding "
    "included); metrics suite on the held-out clips"
)


def _clips(dataset: Dataset, rows: np.ndarray, description: str):
    """(rows, (B, 1, T) float tensor) batches, a progress bar on a terminal only."""
    starts = range(0, len(rows), BATCH)
    for start in tqdm(starts, desc=description, unit="batch", disable=not sys.stderr.isatty()):
        chunk = rows[start : start + BATCH]
        yield chunk, torch.from_numpy(dataset.waveforms(chunk)).unsqueeze(1)


@torch.inference_mode()
def encode_clips(network: RaveStyle, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per clip: the frame-averaged posterior mean and the frame-averaged KL, (N, D) each."""
    codes, kl = [], []
    for _, x in _clips(dataset, np.arange(len(dataset.audio)), "encode"):
        mean, log_var = network.encoder(x)
        codes.append(mean.mean(dim=2).double().numpy())
        kl.append(kl_per_dimension(mean, log_var).mean(dim=2).double().numpy())
    return np.concatenate(codes), np.concatenate(kl)


@torch.inference_mode()
def spectral_distance(network: RaveStyle, dataset: Dataset, rows: np.ndarray, scales: list[int]) -> float:
    """Mean over `rows` of RAVE's distance between a clip and its decoded posterior means
    (the decoder returns whole latent frames: the clip is compared up to that length)."""
    total = 0.0
    for chunk, x in _clips(dataset, rows, "reconstruct"):
        decoded = network.decoder(network.encoder(x)[0])
        length = decoded.shape[-1]
        total += len(chunk) * float(multiscale_spectral_distance(x[..., :length], decoded, tuple(scales)))
    return total / len(rows)


def encode(
    params: Params, network: RaveStyle, dataset: Dataset, test_rows: np.ndarray
) -> tuple[np.ndarray, dict[str, Any]]:
    """Every clip's code, and the held-out numbers of the model itself."""
    codes, kl = encode_clips(network, dataset)
    distance = spectral_distance(network, dataset, test_rows, params.rave.scales)
    return codes, held_out_numbers(codes, kl, test_rows, distance)


def held_out_numbers(
    codes: np.ndarray, kl: np.ndarray, test_rows: np.ndarray, distance: float
) -> dict[str, Any]:
    """representation.json's `held_out`: the spectral distance, each latent's mean KL per
    frame and how many latents are active by KL and by the variance of the clips' codes."""
    test_kl = kl[test_rows].mean(axis=0)
    return {
        "spectral_distance": distance,
        "kl_per_dimension": [float(v) for v in test_kl],
        "active_dimensions": int((test_kl > ACTIVE_KL).sum()),
        "active_units": int((codes[test_rows].var(axis=0) > ACTIVE_VARIANCE).sum()),
    }
