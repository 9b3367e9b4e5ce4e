"""The one encoder every method of the self-supervised study trains (in the kit:
synaudio.models.speech_encoder, the analyses read it too), and BT's projector.

Projector (pretraining only, dropped downstream as in Barlow Twins): bias-free Linear ->
BatchNorm -> ReLU per hidden width, then a bias-free Linear to the embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from synaudio.models.speech_encoder import SpeechEncoder
from synaudio.params import SelfSupervised


class TimeAverage(nn.Module):
    """The no-network baseline: (N, 1, mels, frames) -> (N, mels), each band's mean over time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 3))


def projector(width_in: int, widths: tuple[int, ...]) -> nn.Sequential:
    """Linear-BN-ReLU per hidden width, a bias-free Linear to widths[-1] (the embedding D)."""
    layers: list[nn.Module] = []
    for c_in, c_out in zip((width_in, *widths[:-2]), widths[:-1], strict=True):
        layers += [nn.Linear(c_in, c_out, bias=False), nn.BatchNorm1d(c_out), nn.ReLU()]
    layers.append(nn.Linear(widths[-2] if len(widths) > 1 else width_in, widths[-1], bias=False))
    return nn.Sequential(*layers)


class TwinNetwork(nn.Module):
    """Encoder + projector: what pretraining optimises; `encoder` alone is what it yields."""

    def __init__(self, channels: tuple[int, ...], widths: tuple[int, ...]) -> None:
        super().__init__()
        self.encoder = SpeechEncoder(channels)
        self.projector = projector(self.encoder.width, widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))


def network(settings: SelfSupervised) -> TwinNetwork:
    """The study's encoder + projector at params ssl's sizes."""
    return TwinNetwork(tuple(settings.channels), tuple(settings.projector))
