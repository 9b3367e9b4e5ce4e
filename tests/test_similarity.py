"""Representation similarity (issue 18): the reference demo's known answers, invariances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from synaudio.models import similarity


@pytest.fixture(scope="module")
def demo() -> tuple[np.ndarray, np.ndarray]:
    """google-research representation_similarity's demo data."""
    np.random.seed(1337)  # the demo's global seeding, so the same draws
    x = np.random.randn(100, 10)
    return x, np.random.randn(100, 10) + x


def test_the_reference_demo_values_are_reproduced(demo) -> None:
    x, y = demo
    assert similarity.linear_cka(x, y) == pytest.approx(0.55761, abs=1e-5)
    assert similarity.linear_cka(x, y, debiased=True) == pytest.approx(0.51346, abs=1e-5)
    assert similarity.rbf_cka(x, y, threshold=0.5) == pytest.approx(0.65483, abs=1e-5)
    assert similarity.mean_squared_cca(x, y) == pytest.approx(0.54312, abs=1e-5)


def test_cka_ignores_rotation_and_isotropic_scaling_but_not_anisotropic(demo) -> None:
    x, y = demo
    rotation = ortho_group.rvs(10, random_state=0)
    base = similarity.linear_cka(x, y)
    assert similarity.linear_cka(x @ rotation * 3.7, y) == pytest.approx(base, rel=1e-12)
    assert similarity.rbf_cka(x @ rotation * 3.7, y) == pytest.approx(similarity.rbf_cka(x, y), rel=1e-12)
    assert similarity.linear_cka(x * np.arange(1, 11), y) != pytest.approx(base, rel=1e-3)
    assert similarity.linear_cka(x, x) == pytest.approx(1.0) and similarity.svcca(x, x) == pytest.approx(1.0)


def test_unrelated_representations_score_near_zero_only_when_debiased() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 40)), rng.normal(size=(60, 40))
    assert similarity.linear_cka(x, y) > 0.4  # the biased estimator's floor at small N
    assert abs(similarity.linear_cka(x, y, debiased=True)) < 0.05


def test_svcca_and_neuron_matching_see_through_an_invertible_mix() -> None:
    """A full-rank linear mix keeps every canonical correlation at 1 but scrambles units;
    a permutation with sign flips keeps units matched one to one."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 6))
    assert similarity.svcca(x, x @ rng.normal(size=(6, 6))) == pytest.approx(1.0)
    assert similarity.max_neuron_correlation(x, -x[:, ::-1]) == pytest.approx(1.0)
    assert similarity.max_neuron_correlation(x, rng.normal(size=(500, 6))) < 0.2
    assert similarity.max_neuron_correlation(x, np.column_stack([x[:, :3], np.ones(500)])) < 1.0
