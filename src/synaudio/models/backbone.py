"""The conv VAE every study's VAE-family model is built on, in two sizes (models/presets.py).

Encoder: [3x3 conv -> LeakyReLU(0.01) -> 2x2 max-pool] per preset channel count, flatten,
two fully connected layers, then mean and log-variance heads. Decoder: the mirror - three
fully connected layers up to the encoder's last grid, stride-2 transposed convs with
LeakyReLU between, a sigmoid at the end (inputs live in [0, 1]). With the SynTone preset
and a 128 x 32 input this is the reference's network (SYNTONE.md section 3, 1,117,521
parameters with 8 latents); layer names and creation order are fixed, so weights saved
by earlier versions load, and a seed gives the same initial weights.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from synaudio.models.presets import SPEECH, Preset

SLOPE = 0.01


def _conv_block(channels_in: int, channels_out: int) -> list[nn.Module]:
    return [nn.Conv2d(channels_in, channels_out, 3, padding=1), nn.LeakyReLU(SLOPE), nn.MaxPool2d(2)]


def _deconv(channels_in: int, channels_out: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(channels_in, channels_out, 3, stride=2, padding=1, output_padding=1)


def grid(preset: Preset, n_mels: int, frames: int) -> tuple[int, int, int]:
    """Channels, mels, frames after the encoder's poolings; the input must divide evenly."""
    scale = preset.downsampling
    if n_mels % scale or frames % scale:
        raise ValueError(f"input {n_mels} x {frames}: both sides must be multiples of {scale}")
    return preset.channels[-1], n_mels // scale, frames // scale


class Encoder(nn.Module):
    def __init__(self, latent_dim: int, n_mels: int, frames: int, preset: Preset) -> None:
        super().__init__()
        channels, mels, steps = grid(preset, n_mels, frames)
        pairs = zip((1, *preset.channels[:-1]), preset.channels, strict=True)
        blocks = [layer for c_in, c_out in pairs for layer in _conv_block(c_in, c_out)]
        first, second = preset.hidden
        self.body = nn.Sequential(
            *blocks, nn.Flatten(),
            nn.Linear(channels * mels * steps, first), nn.LeakyReLU(SLOPE),
            nn.Linear(first, second), nn.LeakyReLU(SLOPE),
        )  # fmt: skip
        self.mean = nn.Linear(second, latent_dim)
        self.log_var = nn.Linear(second, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(x)
        return self.mean(hidden), self.log_var(hidden)

    def infer(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` bit for bit, with every max-pool moved before its activation: an
        increasing activation commutes with a max exactly, and runs on a quarter of the
        values - 1.5x the clips/s on a CPU core (speech preset, session 11). For evaluation
        only: in training, two negative inputs that 0.01 x rounds to one float make a tie
        the original order breaks differently, and the gradient lands elsewhere."""
        layers = list(self.body)
        for index, layer in enumerate(layers[:-1]):
            if isinstance(layer, nn.LeakyReLU) and isinstance(layers[index + 1], nn.MaxPool2d):
                layers[index], layers[index + 1] = layers[index + 1], layer
        hidden = nn.Sequential(*layers)(x)
        return self.mean(hidden), self.log_var(hidden)


class Decoder(nn.Module):
    def __init__(self, latent_dim: int, n_mels: int, frames: int, preset: Preset) -> None:
        super().__init__()
        shape = grid(preset, n_mels, frames)
        first, second = preset.hidden

        def dense() -> list[nn.Module]:
            return [
                nn.Linear(latent_dim, second), nn.LeakyReLU(SLOPE),
                nn.Linear(second, first), nn.LeakyReLU(SLOPE),
                nn.Linear(first, shape[0] * shape[1] * shape[2]), nn.LeakyReLU(SLOPE), nn.Unflatten(1, shape),
            ]  # fmt: skip

        def deconvs() -> list[nn.Module]:
            ups: list[nn.Module] = []
            for c_in, c_out in zip(preset.channels[::-1], (*preset.channels[-2::-1], 1), strict=True):
                ups += [_deconv(c_in, c_out), nn.LeakyReLU(SLOPE)]
            return [*ups[:-1], nn.Sigmoid()]

        if preset.decoder_init == "dense_first":
            head = dense()
            tail = deconvs()
        else:
            tail = deconvs()
            head = dense()
        self.body = nn.Sequential(*head, *tail)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


class ConvVAE(nn.Module):
    """Encoder + decoder for (N, 1, n_mels, frames) inputs; `forward` samples z with the
    reparameterisation trick."""

    def __init__(self, latent_dim: int, n_mels: int, frames: int, preset: Preset) -> None:
        super().__init__()
        self.encoder = Encoder(latent_dim, n_mels, frames, preset)
        self.decoder = Decoder(latent_dim, n_mels, frames, preset)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mean, log_var = self.encoder(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return {"mean": mean, "log_var": log_var, "z": z, "reconstruction": self.decoder(z)}


def speech_vae(input_size: tuple[int, int]) -> Callable[[int], ConvVAE]:
    """The SynSpeech benchmark's VAE over a mels x frames log-mel, by latent size: the speech
    study trains it and other studies load its weights, so both build it here."""
    n_mels, frames = input_size
    return partial(ConvVAE, n_mels=n_mels, frames=frames, preset=SPEECH)
