"""Representation similarity (metrics/similarity.py): the known answers of the
google-research representation_similarity demo, and the invariances each measure claims."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from synaudio.metrics import similarity


@pytest.fixture(scope="module")
def demo() -> tuple[np.ndarray, np.ndarray]:
    """The demo's inputs: np.random.seed(1337), X = randn(100, 10), Y = randn(100, 10) + X."""
    np.random.seed(1337)
    x = np.random.randn(100, 10)
    return x, np.random.randn(100, 10) + x


def test_the_demos_known_answers(demo) -> None:
    x, y = demo
    assert similarity.linear_cka(x, y) == pytest.approx(0.55761, abs=5e-6)
    assert similarity.linear_cka(x, y, debiased=True) == pytest.approx(0.51346, abs=5e-6)
    assert similarity.rbf_cka(x, y, threshold=0.5) == pytest.approx(0.65483, abs=5e-6)
    assert similarity.mean_squared_cca(x, y, centred=False) == pytest.approx(0.54312, abs=5e-6)


def test_linear_cka_from_features_equals_the_kernel_form(demo) -> None:
    x, y = demo
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    k, m = xc @ xc.T, yc @ yc.T
    assert similarity.linear_cka(x, y) == pytest.approx(
        np.sum(k * m) / np.sqrt(np.sum(k * k) * np.sum(m * m))
    )


def test_invariances(demo) -> None:
    """Orthogonal transforms and isotropic scaling change no measure; an anisotropic
    scaling changes CKA but not CCA (which is invariant to any invertible linear map)."""
    x, y = demo
    rotation = ortho_group.rvs(10, random_state=0)
    moved = 3.7 * x @ rotation
    for measure in (similarity.linear_cka, similarity.rbf_cka, similarity.mean_squared_cca, similarity.svcca):
        assert measure(moved, y) == pytest.approx(measure(x, y), abs=1e-10)
    assert similarity.linear_cka(x, y, debiased=True) == pytest.approx(
        similarity.linear_cka(moved, y, debiased=True), abs=1e-10
    )
    stretched = x * np.linspace(0.1, 10.0, 10)
    assert abs(similarity.linear_cka(stretched, y) - similarity.linear_cka(x, y)) > 0.05
    assert similarity.mean_squared_cca(stretched, y) == pytest.approx(similarity.mean_squared_cca(x, y))


def test_identical_representations_score_one_and_unrelated_ones_near_zero_once_debiased() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 64))
    unrelated = rng.normal(size=(200, 64))
    assert similarity.linear_cka(x, x) == pytest.approx(1.0)
    assert similarity.rbf_cka(x, x) == pytest.approx(1.0)
    assert similarity.max_neuron_correlation(x, x) == pytest.approx(1.0)
    assert similarity.linear_cka(x, unrelated) > 0.2  # the width / examples bias
    assert abs(similarity.linear_cka(x, unrelated, debiased=True)) < 0.02


def test_max_neuron_correlation_finds_a_unit_wherever_it_sits() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 3))
    y = np.column_stack([rng.normal(size=500), -2.0 * x[:, 2], x[:, 0] + 1.0, x[:, 1], np.ones(500)])
    assert similarity.max_neuron_correlation(x, y) == pytest.approx(1.0)


def test_the_cli_compares_two_saved_representations(demo, tmp_path) -> None:
    import json
    import subprocess

    x, y = demo
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    run = subprocess.run(
        ["synaudio", "similarity", tmp_path / "x.npy", tmp_path / "y.npy", "--json", tmp_path / "s.json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "linear_cka " in run.stdout and "0.5576" in run.stdout
    assert json.loads((tmp_path / "s.json").read_text())["rbf_cka_0.5"] == pytest.approx(0.65483, abs=5e-6)
    np.save(tmp_path / "short.npy", x[:50])
    bad = subprocess.run(
        ["synaudio", "similarity", tmp_path / "x.npy", tmp_path / "short.npy"], capture_output=True, text=True
    )
    assert bad.returncode != 0 and "must match" in bad.stderr


def test_mismatched_examples_are_refused() -> None:
    with pytest.raises(ValueError, match="must match"):
        similarity.linear_cka(np.zeros((10, 2)), np.zeros((9, 2)))
    with pytest.raises(ValueError, match="variance"):
        similarity.svcca(np.eye(5), np.eye(5), variance=0.0)
