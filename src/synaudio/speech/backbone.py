"""A conv VAE sized for SynSpeech's log-mels: (N, 1, 64 mels, 128 frames) by default.

The SynTone backbone's design (3x3 conv -> LeakyReLU -> 2x2 max-pool blocks, FC
bottleneck, stride-2 transposed convs, sigmoid output) one block deeper and wider,
because a 3.5 s utterance carries far more structure than a 1 s tone: four blocks
(1 -> 16 -> 32 -> 64 -> 64 channels) bring 64 x 128 down to 64 x 4 x 8 = 2,048
features, then FC 256 -> FC 128 -> mean and log-variance heads (~1.2 M parameters).
"""

from __future__ import annotations

import torch
from torch import nn

from synaudio.models.backbone import SLOPE, VAEBackbone, _conv_block, _deconv

CHANNELS = (16, 32, 64, 64)
HIDDEN = (256, 128)


def _grid(n_mels: int, frames: int) -> tuple[int, int, int]:
    """Channels, mels, frames after the encoder's poolings; the input must divide evenly."""
    scale = 2 ** len(CHANNELS)
    if n_mels % scale or frames % scale:
        raise ValueError(f"input {n_mels} x {frames}: both sides must be multiples of {scale}")
    return CHANNELS[-1], n_mels // scale, frames // scale


class SpeechEncoder(nn.Module):
    def __init__(self, latent_dim: int, n_mels: int, frames: int) -> None:
        super().__init__()
        grid = _grid(n_mels, frames)
        pairs = zip((1, *CHANNELS[:-1]), CHANNELS, strict=True)
        blocks = [layer for c_in, c_out in pairs for layer in _conv_block(c_in, c_out)]
        self.body = nn.Sequential(
            *blocks, nn.Flatten(),
            nn.Linear(grid[0] * grid[1] * grid[2], HIDDEN[0]), nn.LeakyReLU(SLOPE),
            nn.Linear(HIDDEN[0], HIDDEN[1]), nn.LeakyReLU(SLOPE),
        )  # fmt: skip
        self.mean = nn.Linear(HIDDEN[1], latent_dim)
        self.log_var = nn.Linear(HIDDEN[1], latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(x)
        return self.mean(hidden), self.log_var(hidden)


class SpeechDecoder(nn.Module):
    def __init__(self, latent_dim: int, n_mels: int, frames: int) -> None:
        super().__init__()
        grid = _grid(n_mels, frames)
        ups: list[nn.Module] = []
        for c_in, c_out in zip(CHANNELS[::-1], (*CHANNELS[-2::-1], 1), strict=True):
            ups += [_deconv(c_in, c_out), nn.LeakyReLU(SLOPE)]
        self.body = nn.Sequential(
            nn.Linear(latent_dim, HIDDEN[1]), nn.LeakyReLU(SLOPE),
            nn.Linear(HIDDEN[1], HIDDEN[0]), nn.LeakyReLU(SLOPE),
            nn.Linear(HIDDEN[0], grid[0] * grid[1] * grid[2]), nn.LeakyReLU(SLOPE), nn.Unflatten(1, grid),
            *ups[:-1], nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


class SpeechBackbone(VAEBackbone):
    """Encoder + decoder with VAEBackbone's interface and sampling (its `forward`)."""

    def __init__(self, latent_dim: int, n_mels: int = 64, frames: int = 128) -> None:
        nn.Module.__init__(self)  # not VAEBackbone's: that would build SynTone's layers first
        self.encoder = SpeechEncoder(latent_dim, n_mels, frames)
        self.decoder = SpeechDecoder(latent_dim, n_mels, frames)
