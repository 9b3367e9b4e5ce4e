"""Feature-space saturation: known answers, the channel-wise rows, the streaming covariance,
and delve 0.1.50 as a cross-check on a Linear layer (skipped where delve is not installed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from synaudio.models.saturation import (
    LayerSaturation,
    StreamingCovariance,
    channel_rows,
    explained_dimension,
    saturation,
)


def test_explained_dimension_on_known_spectra() -> None:
    assert explained_dimension(torch.diag(torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64))) == 1
    assert explained_dimension(torch.eye(4, dtype=torch.float64)) == 4  # 3 of 4 explain only 75 %
    spectrum = torch.diag(torch.tensor([50.0, 45.0, 4.5, 0.5], dtype=torch.float64))  # 50, 95, 99.5, 100 %
    assert explained_dimension(spectrum) == 3 and saturation(spectrum) == 0.75
    assert explained_dimension(spectrum, threshold=0.95) == 2
    assert explained_dimension(torch.zeros(3, 3, dtype=torch.float64)) == 0


def test_rotation_does_not_change_it() -> None:
    cov = torch.diag(torch.tensor([5.0, 3.0, 1.0, 0.01, 0.0], dtype=torch.float64))
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    assert explained_dimension(q @ cov @ q.T) == explained_dimension(cov) == 3


def test_convolutions_give_one_row_per_position() -> None:
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)  # (N, C, T): Conv1d output
    rows = channel_rows(x)
    assert rows.shape == (8, 3) and torch.equal(rows[5], x[1, :, 1])
    assert channel_rows(torch.zeros(2, 3, 4, 5)).shape == (40, 3)
    assert channel_rows(torch.zeros(7, 6)).shape == (7, 6)


def test_streaming_covariance_equals_the_whole_batch() -> None:
    x = torch.randn(300, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    streamed = StreamingCovariance()
    for part in x.split(70):
        streamed.update(part)
    expected = np.cov(x.numpy(), rowvar=False, bias=True)
    np.testing.assert_allclose(streamed.matrix().numpy(), expected, atol=1e-12)


def test_hooks_measure_a_layer_that_uses_two_of_eight_dimensions() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(2, 8)  # outputs span an affine plane of R^8: two directions
    hooks = LayerSaturation([("fc", layer)])
    for _ in range(3):
        layer(torch.randn(100, 2))
    hooks.close()
    assert hooks.results()["fc"] == {"width": 8, "dimension": 2, "saturation": 0.25}
    layer(torch.randn(5, 2))  # removed hooks record nothing
    assert hooks.covariances["fc"].count == 300


def _delve():
    return pytest.importorskip("delve", reason="delve (dev dependency) is not installed")


def _linear_outputs(scales: list[float]) -> list[torch.Tensor]:
    """Batches of a Linear(16, 32) layer's outputs whose spectrum is the inputs' (the weight
    has orthonormal columns): principal variances scales^2."""
    generator = torch.Generator().manual_seed(2)
    layer = nn.Linear(16, 32)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(32, 16, generator=generator))
        layer.weight.copy_(q)
        return [layer(torch.randn(64, 16, generator=generator) * torch.tensor(scales)) for _ in range(5)]


def test_delve_cross_check_on_a_linear_layer() -> None:
    """delve's covariance of a Linear layer's outputs equals ours to 1e-6, and its saturation
    is ours less exactly one direction (1/32): delve 0.1.50 counts the eigenvalues whose
    cumulative share stays below the threshold, and both branches meant to add the one
    that crosses it (or to keep at least one) slice the already cut eigenvector matrix
    again, which adds nothing - it even reports 0 when one direction holds 99 %
    (delve/metrics.py, compute_intrinsic_dimensionality)."""
    _delve()
    from delve.metrics import compute_saturation
    from delve.torch_utils import TorchCovarianceMatrix

    for scales, dimension in (([10.0] + [0.05] * 15, 1), ([4.0, 3.0, 2.5, 2.0] + [0.01] * 12, 4)):
        ours, theirs = StreamingCovariance(), TorchCovarianceMatrix(device="cpu")
        for batch in _linear_outputs(scales):
            ours.update(batch)
            theirs.update(batch, vae=False)
        np.testing.assert_allclose(ours.matrix().numpy(), theirs.fix().numpy(), atol=1e-6)
        assert explained_dimension(ours.matrix()) == dimension  # 89 % in three of the four: four
        delve = compute_saturation(theirs.fix())
        assert saturation(ours.matrix()) == pytest.approx(delve + 1 / 32, abs=1e-6)
