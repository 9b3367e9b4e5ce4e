"""Supervised disentanglement metrics on plain arrays (numpy + scikit-learn, no torch).

Every metric takes ``(factors, codes, ...)`` - (N, F) ground-truth factors and (N, K)
codes - and returns a dict of floats (the score, plus per-factor parts where they
exist). Higher is better for every number returned. ``evaluate`` runs the suite and
records the settings that produced the numbers; ``paper_compat=True`` reproduces the
SynTone paper's evaluator: the ``ubisoft`` convention with the arguments swapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synaudio.metrics.information import (
    FROM_TABLES,
    INFORMATION_NAMES,
    MI_ESTIMATORS,
    MiEstimator,
    dcimig,
    jemmig,
    mig,
    modularity,
    tables_for,
)
from synaudio.metrics.inputs import CONVENTIONS, Convention, resolve_bins
from synaudio.metrics.predictors import (
    ESTIMATORS,
    Estimator,
    dci,
    explicitness,
    probe,
    sap,
)

ALL_METRICS = (*INFORMATION_NAMES, "sap", "dci", "explicitness", "probe")
PAPER_METRICS = ("mig", "sap", "dcimig", "jemmig", "modularity")  # the SynTone paper's table
MI_ESTIMATOR_NAMES = {  # recorded with every number
    "plugin": "plugin (counts, bits)",
    "chance_corrected": "chance_corrected: max(I - E[I | independent, same marginals], 0), bits",
}


def evaluate(
    factors: object,
    codes: object,
    *,
    convention: Convention = "standard",
    paper_compat: bool = False,
    metrics: Sequence[str] | None = None,
    bins: int | None = None,
    factor_kinds: Sequence[str] | None = None,
    dci_estimator: Estimator = "random_forest",
    mi_estimator: MiEstimator = "plugin",
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the chosen metrics once; return {"metrics": {name: float}, "settings": {...}}.

    `paper_compat=True` means: `ubisoft` convention, codes passed where factors belong
    and vice versa (so "MIG" is averaged over codes), the paper's five metrics unless
    `metrics` says otherwise. Factor kinds do not apply there (everything is binned).
    `mi_estimator` (information metrics, `standard` only): `plugin` or `chance_corrected`
    (metrics/information.py).
    """
    if paper_compat:
        convention, factors, codes, factor_kinds = "ubisoft", codes, factors, None
        metrics = metrics or PAPER_METRICS
    metrics = tuple(metrics or ALL_METRICS)
    unknown = sorted(set(metrics) - set(ALL_METRICS))
    if unknown:
        raise ValueError(f"metrics: unknown {unknown}; choose from {ALL_METRICS}")
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    if mi_estimator not in MI_ESTIMATORS:
        raise ValueError(f"mi_estimator must be one of {MI_ESTIMATORS}, got {mi_estimator!r}")
    results: dict[str, float] = {}
    if set(metrics) & set(INFORMATION_NAMES):
        # one set of tables, shared by all four
        tables = tables_for(factors, codes, convention, bins, factor_kinds, mi_estimator)
        for name in INFORMATION_NAMES:
            if name in metrics:
                results.update(FROM_TABLES[name](tables, convention))
    split = {"test_fraction": test_fraction, "seed": seed}
    if "sap" in metrics:
        results.update(sap(factors, codes, convention=convention, factor_kinds=factor_kinds, **split))
    if "dci" in metrics:
        results.update(
            dci(
                factors,
                codes,
                convention=convention,
                factor_kinds=factor_kinds,
                estimator=dci_estimator,
                **split,
            )
        )
    if "explicitness" in metrics:
        results.update(
            explicitness(factors, codes, convention=convention, bins=bins, factor_kinds=factor_kinds, **split)
        )
    if "probe" in metrics:
        results.update(probe(factors, codes, factor_kinds=factor_kinds, **split))
    if paper_compat:  # the per-part entries belong to the codes, which sat in the factors' place
        results = {name.replace("/factor", "/code"): value for name, value in results.items()}
    settings = {
        "convention": convention,
        "paper_compat": paper_compat,
        "bins": resolve_bins(bins, convention),
        "factor_kinds": list(factor_kinds) if factor_kinds else "all continuous (binned)",
        "dci_estimator": "lasso (companion code)" if convention == "ubisoft" else dci_estimator,
        "mi_estimator": MI_ESTIMATOR_NAMES[mi_estimator],
        "scored_on": "all rows" if convention == "ubisoft" else f"held-out {test_fraction:.0%} (seed {seed})",
        "informativeness": "1 - 12 MSE"
        if convention == "ubisoft"
        else "accuracy (categorical) / R^2 (continuous)",
    }
    return {"metrics": results, "settings": settings}


__all__ = [
    "ALL_METRICS",
    "ESTIMATORS",
    "MI_ESTIMATORS",
    "PAPER_METRICS",
    "dci",
    "dcimig",
    "evaluate",
    "explicitness",
    "jemmig",
    "mig",
    "modularity",
    "probe",
    "sap",
]
