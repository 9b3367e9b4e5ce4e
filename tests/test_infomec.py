"""InfoMEC (metrics/infomec.py): hand-computed modularity and compactness, and the three
scores on codes whose answer is known - one code per factor, the same codes mixed, noise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synaudio.metrics.infomec import infomec, modularity_and_compactness, record


def test_modularity_and_compactness_of_known_matrices() -> None:
    every = np.ones(2, dtype=bool)
    assert modularity_and_compactness(np.array([[0.8, 0.0], [0.0, 0.5]]), every) == (1.0, 1.0)
    assert modularity_and_compactness(np.full((2, 2), 0.5), every) == (0.0, 0.0)
    # one code holds both factors, the other nothing: InfoM 0 (that code is shared), InfoC 1
    m, c = modularity_and_compactness(np.array([[0.6, 0.0], [0.6, 0.0]]), every)
    assert (m, c) == (pytest.approx(0.0), pytest.approx(1.0))
    # three factors over two codes: shares 0.6 / (0.6 + 0.2 + 0.2) per code -> (0.6 - 1/3) / (2/3)
    m, _ = modularity_and_compactness(np.array([[0.6, 0.2], [0.2, 0.6], [0.2, 0.2]]), every)
    assert m == pytest.approx(0.4)
    assert np.isnan(modularity_and_compactness(np.array([[0.5, 0.1]]), every)[0])  # one factor


def _factors(n: int = 1200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, size=(n, 2))


def test_one_code_per_factor_scores_near_one_and_a_mixture_does_not() -> None:
    factors = _factors()
    noise = np.random.default_rng(1).normal(scale=0.05, size=factors.shape)
    aligned = infomec(factors, factors + noise)
    assert aligned["infom"] > 0.9 and aligned["infoc"] > 0.9 and aligned["infoe"] > 0.9
    mixed = infomec(factors, (factors + noise) @ np.array([[1.0, 1.0], [1.0, -1.0]]))
    assert mixed["infom"] < 0.5 and mixed["infoc"] < 0.5 and mixed["infoe"] > 0.9  # still decodable


def test_noise_explains_nothing_and_a_collapsed_code_is_not_active() -> None:
    factors = _factors()
    rng = np.random.default_rng(2)
    noise = infomec(factors, rng.normal(size=(len(factors), 3)))
    assert noise["infoe"] < 0.05 and noise["active_codes"] == 3
    collapsed = np.column_stack(
        [factors + rng.normal(scale=0.05, size=factors.shape), np.full(len(factors), 3.0)]
    )
    result = infomec(factors, collapsed)
    assert result["active_codes"] == 2 and result["infom"] > 0.9


def test_scaling_a_code_changes_nothing_and_the_seed_fixes_the_estimate() -> None:
    factors = _factors()
    codes = factors + np.random.default_rng(3).normal(scale=0.3, size=factors.shape)
    a, b = infomec(factors, codes, seed=5), infomec(factors, codes * np.array([10.0, 0.1]), seed=5)
    assert a["infom"] == pytest.approx(b["infom"], abs=1e-9) and a["infoe"] == pytest.approx(
        b["infoe"], abs=1e-6
    )
    assert infomec(factors, codes, seed=5) == a


def test_an_undefined_number_is_written_as_null_not_nan() -> None:
    """InfoC of a single active code is undefined: the record holds null (valid JSON, left
    out of the tables' means), never NaN."""
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 3, size=(300, 2))
    codes = np.column_stack([factors[:, 0] + 0.1 * rng.standard_normal(300), np.zeros(300)])
    scores = infomec(factors, codes)
    assert scores["active_codes"] == 1 and np.isnan(scores["infoc"])
    written = record(scores, ["a", "b"], seed=0)
    assert written["metrics"]["infoc"] is None and written["metrics"]["infom"] is not None
    assert json.loads(json.dumps(written, allow_nan=False))["nmi"]["factors"] == ["a", "b"]
