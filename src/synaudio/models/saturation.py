"""Feature-space saturation (Richter, Shenk, Byttner, Arpteg, Huss, arXiv 2006.08679): per
layer, how many principal directions of its outputs explain 99 % of their variance,
divided by the layer's width. Low saturation: the layer uses few of its dimensions.

A layer's output becomes rows of its width: a Linear's (N, C) as they are; a convolution's
(N, C, ...) channel-wise - every position of every clip is one row of C channels (Conv1d
and Conv2d alike; the `delve` package skips Conv1d). The covariance accumulates over
batches in float64 (sums of x and x x^T), so a dataset of any size streams through.

The explained dimension is the smallest k whose k largest eigenvalues (negative rounding
residue set to 0) reach `threshold` of their sum - the paper's definition. delve 0.1.50
reports k - 1 (0 when one direction suffices): it counts the eigenvalues whose cumulative
share stays below the threshold, and its branches meant to add the one that crosses it
have no effect (tests/test_saturation.py: the covariances agree to 1e-6, the saturations
by exactly one direction).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

THRESHOLD = 0.99


def channel_rows(output: torch.Tensor) -> torch.Tensor:
    """(N, C) -> itself; (N, C, *positions) -> (N x positions, C)."""
    if output.dim() == 2:
        return output
    return output.transpose(0, 1).flatten(1).T


class StreamingCovariance:
    """The covariance of rows seen so far (float64, divided by n as delve does)."""

    def __init__(self) -> None:
        self.count, self.total, self.products = 0, None, None

    def update(self, rows: torch.Tensor) -> None:
        rows = rows.detach().to(torch.float64)
        if self.total is None:
            self.total = torch.zeros(rows.shape[1], dtype=torch.float64)
            self.products = torch.zeros(rows.shape[1], rows.shape[1], dtype=torch.float64)
        self.count += rows.shape[0]
        self.total += rows.sum(0)
        self.products += rows.T @ rows

    def matrix(self) -> torch.Tensor:
        mean = self.total / self.count
        return self.products / self.count - torch.outer(mean, mean)


def explained_dimension(covariance: torch.Tensor, threshold: float = THRESHOLD) -> int:
    """Smallest k whose k largest eigenvalues reach `threshold` of the total variance."""
    eigenvalues = torch.linalg.eigvalsh(covariance).flip(0).clamp_min(0)
    total = eigenvalues.sum()
    if total <= 0:
        return 0  # a constant layer: nothing varies
    shares = eigenvalues.cumsum(0) / total
    return int(torch.searchsorted(shares, torch.tensor(threshold, dtype=shares.dtype)).item()) + 1


def saturation(covariance: torch.Tensor, threshold: float = THRESHOLD) -> float:
    return explained_dimension(covariance, threshold) / covariance.shape[0]


class LayerSaturation:
    """Forward hooks on `layers` (name -> module) that accumulate each one's output
    covariance while batches pass; `results()` gives width, dimension and saturation."""

    def __init__(self, layers: Iterable[tuple[str, nn.Module]]) -> None:
        self.covariances: dict[str, StreamingCovariance] = {}
        self.handles = []
        for name, layer in layers:
            self.covariances[name] = StreamingCovariance()
            self.handles.append(layer.register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def record(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            self.covariances[name].update(channel_rows(output))

        return record

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()

    def results(self, threshold: float = THRESHOLD) -> dict[str, dict[str, float]]:
        out = {}
        for name, accumulated in self.covariances.items():
            covariance = accumulated.matrix()
            dimension = explained_dimension(covariance, threshold)
            out[name] = {"width": covariance.shape[0], "dimension": dimension,
                         "saturation": dimension / covariance.shape[0]}  # fmt: skip
        return out
