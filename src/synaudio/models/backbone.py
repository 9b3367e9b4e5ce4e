"""The conv VAE backbone of every SynTone model (SYNTONE.md section 3), ~1.1 M parameters.

Encoder: three [3x3 conv -> LeakyReLU(0.01) -> 2x2 max-pool] blocks, 1 -> 16 -> 32 -> 64
channels, flatten (64 x 16 x 4 = 4096) -> FC 128 -> FC 64 -> mean and log-variance heads.
Decoder: FC latent -> 64 -> 128 -> 4096, reshape to 64 x 16 x 4, three stride-2
transposed convs (64 -> 32 -> 16 -> 1) with LeakyReLU between, sigmoid at the end.
Input (N, 1, 128, 32).
"""

from __future__ import annotations

import torch
from torch import nn

SLOPE = 0.01
GRID = (64, 16, 4)  # channels, mel, frames after three 2x2 poolings of 128 x 32


def _conv_block(channels_in: int, channels_out: int) -> list[nn.Module]:
    return [nn.Conv2d(channels_in, channels_out, 3, padding=1), nn.LeakyReLU(SLOPE), nn.MaxPool2d(2)]


def _deconv(channels_in: int, channels_out: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(channels_in, channels_out, 3, stride=2, padding=1, output_padding=1)


class Encoder(nn.Module):
    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        flat = GRID[0] * GRID[1] * GRID[2]
        self.body = nn.Sequential(
            *_conv_block(1, 16), *_conv_block(16, 32), *_conv_block(32, 64), nn.Flatten(),
            nn.Linear(flat, 128), nn.LeakyReLU(SLOPE), nn.Linear(128, 64), nn.LeakyReLU(SLOPE),
        )  # fmt: skip
        self.mean = nn.Linear(64, latent_dim)
        self.log_var = nn.Linear(64, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(x)
        return self.mean(hidden), self.log_var(hidden)


class Decoder(nn.Module):
    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        flat = GRID[0] * GRID[1] * GRID[2]
        self.body = nn.Sequential(
            nn.Linear(latent_dim, 64), nn.LeakyReLU(SLOPE), nn.Linear(64, 128), nn.LeakyReLU(SLOPE),
            nn.Linear(128, flat), nn.LeakyReLU(SLOPE), nn.Unflatten(1, GRID),
            _deconv(64, 32), nn.LeakyReLU(SLOPE), _deconv(32, 16), nn.LeakyReLU(SLOPE), _deconv(16, 1),
            nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


class VAEBackbone(nn.Module):
    """Encoder + decoder; `forward` samples z with the reparameterisation trick."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.encoder = Encoder(latent_dim)
        self.decoder = Decoder(latent_dim)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mean, log_var = self.encoder(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return {"mean": mean, "log_var": log_var, "z": z, "reconstruction": self.decoder(z)}
