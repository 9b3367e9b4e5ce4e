"""Input checks and discretisation shared by every metric (numpy + scikit-learn only).

Two conventions (METRICS.md, "Two conventions, one switch"):

* ``standard``: categorical factors are used as their classes, continuous factors and
  all codes are min-max scaled and cut into ``bins`` equal-width bins (default 20, the
  disentanglement_lib convention); predictors are scored on a held-out split.
* ``ubisoft``: what the metrics review's companion code does - every column, factors
  included, is min-max scaled and cut into ``bins`` bins (default 10); predictors are
  scored on the rows they were fit on.

Bin edges are ``linspace(0, 1, bins + 1)``; a value exactly on an edge goes to the upper
bin and 1.0 to the last, i.e. ``min(floor(x * bins), bins - 1)`` up to floating-point ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.preprocessing import minmax_scale

Convention = Literal["standard", "ubisoft"]
FactorKind = Literal["categorical", "continuous"]
CONVENTIONS: tuple[Convention, ...] = ("standard", "ubisoft")
DEFAULT_BINS: dict[str, int] = {"standard": 20, "ubisoft": 10}


def _matrix(name: str, values: object) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] < 2:
        raise ValueError(f"{name} must be an (N, columns) array with N >= 2, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        column = int(np.nonzero(bad.any(axis=0))[0][0])
        raise ValueError(f"{name} contains NaN or inf (first in column {column})")
    return array


def check_inputs(factors: object, codes: object, min_codes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return (factors, codes) as float64 (N, F) and (N, K) arrays.

    Raises ValueError naming the argument: mismatched N, NaN/inf, a constant factor,
    fewer than `min_codes` codes (2 where a metric compares the two best).
    """
    factors, codes = _matrix("factors", factors), _matrix("codes", codes)
    if factors.shape[0] != codes.shape[0]:
        raise ValueError(
            f"factors has {factors.shape[0]} rows but codes has {codes.shape[0]}: one row per sample"
        )
    if codes.shape[1] < min_codes:
        raise ValueError(
            f"codes needs at least {min_codes} columns (got {codes.shape[1]})"
            + (": gaps compare the two best codes" if min_codes == 2 else "")
        )
    constant = np.nonzero(np.ptp(factors, axis=0) == 0)[0]
    if constant.size:
        raise ValueError(f"factors column {int(constant[0])} is constant: a factor must vary to be measured")
    return factors, codes


def check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def resolve_kinds(
    kinds: Sequence[str] | None, n_factors: int, convention: Convention
) -> tuple[FactorKind, ...]:
    """Per-factor kind; `ubisoft` treats every factor as continuous (binned)."""
    if convention == "ubisoft" or kinds is None:
        return ("continuous",) * n_factors
    if len(kinds) != n_factors:
        raise ValueError(f"factor_kinds has {len(kinds)} entries for {n_factors} factors")
    for kind in kinds:
        if kind not in ("categorical", "continuous"):
            raise ValueError(f"factor_kinds entries must be 'categorical' or 'continuous', got {kind!r}")
    return tuple(kinds)  # type: ignore[return-value]


def resolve_bins(bins: int | None, convention: Convention) -> int:
    bins = DEFAULT_BINS[convention] if bins is None else bins
    if not isinstance(bins, int | np.integer) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    return int(bins)


def bin_columns(values: np.ndarray, bins: int) -> np.ndarray:
    """Min-max scale each column over the rows given and cut it into `bins` bins (0-based)."""
    edges = np.linspace(0.0, 1.0, bins + 1)[:-1]
    return np.digitize(minmax_scale(values), edges) - 1


@dataclass(frozen=True)
class Discrete:
    """Integer labels per column (N, M), each column's labels in range(cardinality[m])."""

    labels: np.ndarray
    cardinality: np.ndarray


def discretize(values: np.ndarray, bins: int, kinds: Sequence[FactorKind] | None = None) -> Discrete:
    """Columns -> labels: categorical columns by their distinct values, others binned."""
    kinds = kinds or ("continuous",) * values.shape[1]
    labels = np.empty(values.shape, dtype=np.int64)
    binned = [m for m, kind in enumerate(kinds) if kind == "continuous"]
    if binned:
        labels[:, binned] = bin_columns(values[:, binned], bins)
    for m, kind in enumerate(kinds):
        if kind == "categorical":
            labels[:, m] = np.unique(values[:, m], return_inverse=True)[1]
    return Discrete(labels=labels, cardinality=labels.max(axis=0) + 1)


def train_test_split_rows(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of row indices; both parts sorted (row order kept)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * test_fraction))
    return np.sort(order[n_test:]), np.sort(order[:n_test])
