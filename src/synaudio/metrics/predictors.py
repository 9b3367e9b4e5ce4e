"""Predictor-based metrics: SAP, DCI, explicitness, linear and forest probes (METRICS.md).

Under `standard` every predictor is fit on a seeded training split and scored on the
held-out rest; under `ubisoft` it is fit and scored on all rows, as the metrics
review's companion code does. Categorical factors get classifiers, continuous ones
regressors (`ubisoft`: every factor is treated as continuous).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import Lasso, LassoCV, Ridge
from sklearn.metrics import balanced_accuracy_score, mean_squared_error, r2_score
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import StandardScaler, minmax_scale
from sklearn.tree import DecisionTreeClassifier

from synaudio.metrics.inputs import (
    Convention,
    FactorKind,
    check_convention,
    check_inputs,
    discretize,
    resolve_bins,
    resolve_kinds,
    train_test_split_rows,
)
from synaudio.metrics.logistic import decision_values, fit_one_vs_rest, roc_auc_rows
from synaudio.metrics.softmax import fit_softmax

Estimator = Literal["random_forest", "lasso", "gradient_boosting"]
ESTIMATORS: tuple[Estimator, ...] = ("random_forest", "lasso", "gradient_boosting")
# The companion code's Lasso penalties, tried in this order with 10 unshuffled folds.
UBISOFT_LASSO_ALPHAS = (0.0001, 0.001, 0.01, 0.1, 0.2, 0.4, 0.8, 1.0)


def _gap_score(name: str, scores: np.ndarray) -> dict[str, float]:
    """Mean over factors (rows) of the gap between the two best codes (columns)."""
    ordered = np.sort(scores, axis=1)
    gaps = ordered[:, -1] - ordered[:, -2]
    return {name: float(gaps.mean()), **{f"{name}/factor{j}": float(g) for j, g in enumerate(gaps)}}


def _r2_single_code(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> np.ndarray:
    """R^2 on the test rows of a one-variable least-squares line fit on the training
    rows, for every (factor, code) pair at once: (F, K), clipped at 0."""
    x_mean, y_mean = train_x.mean(axis=0), train_y.mean(axis=0)
    xc, yc = train_x - x_mean, train_y - y_mean
    var_x = (xc**2).sum(axis=0)
    slope = np.divide(yc.T @ xc, var_x, out=np.zeros((yc.shape[1], xc.shape[1])), where=var_x > 0)  # (F, K)
    intercept = y_mean[:, None] - slope * x_mean[None, :]
    prediction = intercept[None] + slope[None] * test_x[:, None, :]  # (N, F, K)
    residual = ((test_y[:, :, None] - prediction) ** 2).sum(axis=0)
    total = ((test_y - test_y.mean(axis=0)) ** 2).sum(axis=0)[:, None]
    return np.maximum(1.0 - residual / total, 0.0)


def sap(
    factors: object,
    codes: object,
    *,
    convention: Convention = "standard",
    factor_kinds: Sequence[str] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, float]:
    """SAP: per factor, the gap between the two codes that predict it best alone.

    Continuous factors: R^2 of a one-variable linear fit (clipped at 0). Categorical
    factors (`standard` only): chance-adjusted balanced accuracy of a one-variable
    threshold classifier (a tree with one leaf per class), clipped at 0.
    `standard` scores on held-out rows; `ubisoft` fits and scores on all rows.
    """
    check_convention(convention)
    factors, codes = check_inputs(factors, codes)
    kinds = resolve_kinds(factor_kinds, factors.shape[1], convention)
    if convention == "ubisoft":
        train = test = np.arange(len(codes))
    else:
        train, test = train_test_split_rows(len(codes), test_fraction, seed)
    scores = _r2_single_code(codes[train], factors[train], codes[test], factors[test])
    for j, kind in enumerate(kinds):
        if kind == "categorical":
            classes = np.unique(factors[:, j]).size
            for k in range(codes.shape[1]):
                tree = DecisionTreeClassifier(max_leaf_nodes=max(classes, 2), random_state=seed)
                tree.fit(codes[train, k : k + 1], factors[train, j])
                predicted = tree.predict(codes[test, k : k + 1])
                scores[j, k] = max(balanced_accuracy_score(factors[test, j], predicted, adjusted=True), 0.0)
    return _gap_score("sap", scores)


def _entropy_rows(p: np.ndarray, base: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=1) / np.log(base)


def _dci_scores(importance: np.ndarray, ubisoft: bool) -> tuple[float, float]:
    """Disentanglement and completeness from an importance matrix R (K codes x F factors)."""
    n_codes, n_factors = importance.shape
    per_code_total = importance.sum(axis=1)
    safe = np.where(per_code_total[:, None] > 0, per_code_total[:, None], 1.0)
    disentanglement = np.where(per_code_total > 0, 1.0 - _entropy_rows(importance / safe, n_factors), 0.0)
    weight = per_code_total.copy()
    if ubisoft:
        # The companion code stops at the first code with zero importance: every later
        # code keeps disentanglement 0 and weight 0 (its loop never reaches them), so the
        # codes before the dead one alone make D. Reproduced here on purpose.
        dead = np.nonzero(per_code_total == 0)[0]
        if dead.size:
            disentanglement[dead[0] :] = 0.0
            weight[dead[0] :] = 0.0
    share = weight / weight.sum() if weight.sum() > 0 else weight * 0
    per_factor_total = importance.sum(axis=0)
    uniform = np.full_like(importance.T, 1.0 / n_codes)
    p = np.where(
        per_factor_total[:, None] > 0,
        importance.T / np.where(per_factor_total > 0, per_factor_total, 1)[:, None],
        uniform,
    )
    completeness = 1.0 - _entropy_rows(p, n_codes)
    return float(disentanglement @ share), float(completeness.mean())


def _forest(kind: FactorKind, seed: int) -> RandomForestClassifier | RandomForestRegressor:
    """Small, subsampled forests: importances and scores are stable at this size, and
    DCI on 32,000 x 8 codes takes seconds instead of minutes."""
    forest = RandomForestClassifier if kind == "categorical" else RandomForestRegressor
    return forest(
        n_estimators=25, max_depth=10, min_samples_leaf=5, max_samples=0.3, random_state=seed, n_jobs=1
    )


def _boosting(kind: FactorKind, seed: int) -> GradientBoostingClassifier | GradientBoostingRegressor:
    boosting = GradientBoostingClassifier if kind == "categorical" else GradientBoostingRegressor
    return boosting(n_estimators=50, random_state=seed)


def _fit_predictor(
    estimator: Estimator, kind: FactorKind, x: np.ndarray, y: np.ndarray, seed: int
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Fit the chosen predictor; return (importance of each code, predict function).

    `lasso` on a categorical factor fits one LassoCV per class indicator (importance:
    summed |weights|; prediction: the class with the highest output)."""
    if estimator == "lasso":
        if kind == "continuous":
            model = LassoCV(cv=5).fit(x, y)
            return np.abs(model.coef_), model.predict
        classes = np.unique(y)
        models = [LassoCV(cv=5).fit(x, (y == value).astype(float)) for value in classes]
        importance = np.sum([np.abs(m.coef_) for m in models], axis=0)
        return importance, lambda rows: classes[np.argmax([m.predict(rows) for m in models], axis=0)]
    model = (_forest if estimator == "random_forest" else _boosting)(kind, seed).fit(x, y)
    return model.feature_importances_, model.predict


def _ubisoft_lasso(codes: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """The companion code's DCI predictor: Lasso, penalty by 10-fold CV (unshuffled),
    informativeness = max(1 - 12 * MSE, 0) on the rows it was fit on."""
    best_alpha, best_mse = 0.0, 10e10
    for alpha in UBISOFT_LASSO_ALPHAS:
        mse = -cross_val_score(
            Lasso(alpha=alpha, max_iter=5000), codes, target, cv=10, scoring="neg_mean_squared_error"
        ).mean()
        if mse < best_mse:
            best_alpha, best_mse = alpha, mse
    model = Lasso(alpha=best_alpha).fit(codes, target)
    informativeness = max(1.0 - 12.0 * mean_squared_error(target, model.predict(codes)), 0.0)
    return informativeness, np.abs(model.coef_)


def dci(
    factors: object,
    codes: object,
    *,
    convention: Convention = "standard",
    factor_kinds: Sequence[str] | None = None,
    estimator: Estimator = "random_forest",
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, float]:
    """DCI disentanglement, completeness and informativeness.

    `standard`: one predictor per factor from all codes (`estimator`: random_forest -
    the default, seconds on 32,000 rows - lasso, or gradient_boosting), fit on the
    training split; informativeness = held-out accuracy (categorical factors) or
    held-out R^2 (continuous factors, min-max scaled), averaged over factors.
    `ubisoft`: Lasso as in the companion code, informativeness = 1 - 12 * MSE on the
    fitting rows (`estimator` is ignored).
    """
    check_convention(convention)
    factors, codes = check_inputs(factors, codes)
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    n_factors = factors.shape[1]
    importance = np.zeros((codes.shape[1], n_factors))
    informativeness = np.zeros(n_factors)
    if convention == "ubisoft":
        scaled_factors, scaled_codes = minmax_scale(factors), minmax_scale(codes)
        for j in range(n_factors):
            informativeness[j], importance[:, j] = _ubisoft_lasso(scaled_codes, scaled_factors[:, j])
    else:
        kinds = resolve_kinds(factor_kinds, n_factors, convention)
        train, test = train_test_split_rows(len(codes), test_fraction, seed)
        x = StandardScaler().fit(codes[train]).transform(codes)
        for j, kind in enumerate(kinds):
            y = factors[:, j] if kind == "categorical" else minmax_scale(factors[:, j])
            importance[:, j], predict = _fit_predictor(estimator, kind, x[train], y[train], seed)
            predicted = predict(x[test])
            informativeness[j] = (
                float(np.mean(predicted == y[test]))
                if kind == "categorical"
                else r2_score(y[test], predicted)
            )
    disentanglement, completeness = _dci_scores(importance, convention == "ubisoft")
    return {
        "dci_disentanglement": disentanglement,
        "dci_completeness": completeness,
        "dci_informativeness": float(informativeness.mean()),
        **{f"dci_informativeness/factor{j}": float(v) for j, v in enumerate(informativeness)},
    }


def _both_classes(onehot: np.ndarray) -> np.ndarray:
    """Rows (factor values) that are neither absent from nor all of the columns."""
    return onehot.any(axis=1) & ~onehot.all(axis=1)


def explicitness(
    factors: object,
    codes: object,
    *,
    convention: Convention = "standard",
    bins: int | None = None,
    factor_kinds: Sequence[str] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, float]:
    """Explicitness (Ridgeway & Mozer): mean one-vs-rest ROC-AUC of balanced logistic
    regressions (C = 1) from all codes to each factor value, rescaled so chance = 0,
    perfect = 1. Continuous factors are binned. `standard` scores held-out rows; `ubisoft`
    all rows. The regressions of one factor are solved together (metrics/logistic.py)."""
    check_convention(convention)
    factors, codes = check_inputs(factors, codes)
    bins = resolve_bins(bins, convention)
    labels = discretize(factors, bins, resolve_kinds(factor_kinds, factors.shape[1], convention)).labels
    x = minmax_scale(codes)
    if convention == "ubisoft":
        train = test = np.arange(len(codes))
    else:
        train, test = train_test_split_rows(len(codes), test_fraction, seed)
    per_factor = []
    for j in range(labels.shape[1]):
        onehot = labels[:, j][None, :] == np.unique(labels[:, j])[:, None]  # (values, rows)
        scorable = _both_classes(onehot[:, train]) & _both_classes(onehot[:, test])  # else no AUC
        if not scorable.any():
            per_factor.append(0.0)
            continue
        weights = fit_one_vs_rest(x[train], onehot[scorable][:, train])
        aucs = roc_auc_rows(onehot[scorable][:, test], decision_values(x[test], weights))
        per_factor.append(2.0 * (aucs.mean() - 0.5))
    return {
        "explicitness": float(np.mean(per_factor)),
        **{f"explicitness/factor{j}": float(v) for j, v in enumerate(per_factor)},
    }


def probe(
    factors: object,
    codes: object,
    *,
    reader: Literal["linear", "forest"] = "linear",
    factor_kinds: Sequence[str] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, float]:
    """Held-out accuracy (categorical factors) or R^2 (continuous) of a probe from all codes
    (standardised) to each factor. `reader` "linear": multinomial logistic (metrics/softmax.py)
    / ridge regression, keys
    probe/factor<j>; "forest": the small random forest DCI uses, same split, keys
    probe_forest/factor<j> - what a forest reads and a linear probe does not is information
    the code holds in a curved or tangled form."""
    factors, codes = check_inputs(factors, codes, min_codes=1)  # a probe can read one feature
    kinds = resolve_kinds(factor_kinds, factors.shape[1], "standard")
    train, test = train_test_split_rows(len(codes), test_fraction, seed)
    x = StandardScaler().fit(codes[train]).transform(codes)
    prefix = "probe" if reader == "linear" else "probe_forest"
    scores = {}
    for j, kind in enumerate(kinds):
        if reader == "forest":
            model = _forest(kind, seed).fit(x[train], factors[train, j])
        elif kind == "categorical":  # multinomial logistic regression, C = 1 (metrics/softmax.py)
            model = fit_softmax(x[train], factors[train, j])
        else:
            model = Ridge(alpha=1.0).fit(x[train], factors[train, j])
        prediction = model.predict(x[test])
        truth = factors[test, j]
        score = np.mean(prediction == truth) if kind == "categorical" else r2_score(truth, prediction)
        scores[f"{prefix}/factor{j}"] = float(score)
    return scores
