"""The self-supervised study's encoder (Barlow Twins, MBT), in the kit because the analyses
study reads its weights too: per entry of `channels`, [3x3 conv -> BatchNorm -> ReLU -> 2x2
max-pool], then a global average over mels and frames - a fixed-size representation for any
input length, so the views' time crops and the full clips downstream go through the same
weights. Layer names and creation order are fixed: saved weights load, a seed gives the
same initial weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class SpeechEncoder(nn.Module):
    """(N, 1, mels, frames) log-mels -> (N, channels[-1]) representations."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in zip((1, *channels[:-1]), channels, strict=True):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.width = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(-2, -1))


def load_encoder(model_file: Path, channels: tuple[int, ...]) -> SpeechEncoder:
    """A pretrained encoder's weights (its model.pt: the encoder's state, no projector);
    OSError / RuntimeError when the file is missing or made for other channels."""
    encoder = SpeechEncoder(channels)
    encoder.load_state_dict(torch.load(model_file, map_location="cpu", weights_only=True))
    return encoder
