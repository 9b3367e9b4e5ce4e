"""Benchmark: the metrics suite on 32,000 x 8 codes and 3 factors, on one core.

Targets (issue 3): the four information metrics together <= 0.3 s (a per-pair
implementation calling pyitlib for each (factor, code) pair, as the widely used
companion code does, is timed beside them in this same run); SAP <= 0.5 s; DCI with
the default estimator <= 10 s.

    python bench/metrics_bench.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from pyitlib import discrete_random_variable as drv
from sklearn.preprocessing import minmax_scale
from threadpoolctl import threadpool_limits

from synaudio import metrics
from synaudio.metrics.information import INFORMATION_NAMES

N, CODES = 32_000, 8
KINDS = ["categorical", "continuous", "continuous"]


def data() -> tuple[np.ndarray, np.ndarray]:
    """SynTone-shaped factors and codes that mix them like a trained encoder's."""
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, 4, N), rng.uniform(440, 8000, N), rng.uniform(0.1, 1, N)], axis=1)
    mixing = rng.normal(size=(3, CODES))
    codes = np.tanh(minmax_scale(factors) @ mixing) + 0.1 * rng.normal(size=(N, CODES))
    return factors, codes


def per_pair_information(factors: np.ndarray, codes: np.ndarray) -> None:
    """The tables behind MIG, JEMMIG, DCIMIG and Modularity, one library call per pair
    and per metric, as the companion code computes them (10 bins)."""
    edges = np.linspace(0, 1, 11)[:-1]
    f, c = np.digitize(minmax_scale(factors), edges), np.digitize(minmax_scale(codes), edges)
    pairs = [(j, k) for j in range(f.shape[1]) for k in range(c.shape[1])]
    for _ in range(3):  # MIG's normalised MI; JEMMIG, DCIMIG and Modularity each redo plain MI
        [drv.information_mutual(f[:, j], c[:, k]) for j, k in pairs]
    [drv.information_mutual_normalised(f[:, j], c[:, k], norm_factor="Y") for j, k in pairs]
    [drv.entropy_joint(np.stack([f[:, j], c[:, k]])) for j, k in pairs]


def best_of(repeats: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    threadpool_limits(1)  # one core for numpy's BLAS and scikit-learn's OpenMP
    factors, codes = data()
    info = best_of(5, lambda: metrics.evaluate(factors, codes, metrics=INFORMATION_NAMES, factor_kinds=KINDS))
    reference = best_of(1, lambda: per_pair_information(factors, codes))
    sap = best_of(3, lambda: metrics.sap(factors, codes, factor_kinds=KINDS))
    sap_ubisoft = best_of(3, lambda: metrics.sap(factors, codes, convention="ubisoft"))
    dci = best_of(1, lambda: metrics.dci(factors, codes, factor_kinds=KINDS))
    dci_lasso = best_of(1, lambda: metrics.dci(factors, codes, convention="ubisoft"))
    print(f"metrics on {N:,} x {CODES} codes, 3 factors, 1 thread (best of repeats):")
    print(
        f"  MIG+JEMMIG+DCIMIG+Modularity {info:.3f} s (target <= 0.3 s); per-pair pyitlib calls "
        f"{reference:.2f} s -> {reference / info:.0f}x faster"
    )
    print(
        f"  SAP {sap:.3f} s standard (held-out, tree for the categorical factor), "
        f"{sap_ubisoft:.3f} s ubisoft (target <= 0.5 s)"
    )
    print(f"  DCI {dci:.2f} s random_forest default (target <= 10 s); {dci_lasso:.2f} s ubisoft Lasso-CV")


if __name__ == "__main__":
    main()
