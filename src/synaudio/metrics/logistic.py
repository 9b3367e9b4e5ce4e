"""Many one-vs-rest logistic regressions on the same inputs, solved together.

Explicitness fits one balanced, L2-penalised logistic regression per factor value: 500
of them for SynSpeech's text factor. Fitted one at a time (scikit-learn) that took
5-10 minutes per model; here all classes share one Newton iteration - the gradients and
Hessians of every class come from two matrix products over the rows - and the whole
set converges in about ten steps. The objective is scikit-learn's
`LogisticRegression(C=C, class_weight="balanced")` exactly (intercept not penalised),
solved to a tighter tolerance than its lbfgs default, so the fits agree with it to that
solver's tolerance.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit
from scipy.stats import rankdata

MAX_NEWTON_STEPS = 100
GRADIENT_TOLERANCE = 1e-9  # max |gradient| relative to the number of rows


def _objective(x1: np.ndarray, w: np.ndarray, y: np.ndarray, s: np.ndarray, c: float) -> np.ndarray:
    """Per class: C * sum_i s_i * logloss_i + |w without intercept|^2 / 2, shape (classes,)."""
    z = w @ x1.T  # (classes, rows)
    loss = -(y * log_expit(z) + (1.0 - y) * log_expit(-z))
    return c * (s * loss).sum(axis=1) + 0.5 * (w[:, :-1] ** 2).sum(axis=1)


def fit_one_vs_rest(x: np.ndarray, targets: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Weights (classes, features + 1; intercept last) of one balanced logistic regression
    per row of `targets` (classes, rows; 1 = in the class), all sharing the inputs `x`."""
    rows, width = x.shape
    x1 = np.hstack([x, np.ones((rows, 1))])
    y = targets.astype(np.float64)
    positives = y.sum(axis=1, keepdims=True)
    # class_weight="balanced": n / (2 * n_class) for each of the two classes
    s = np.where(y > 0, rows / (2.0 * positives), rows / (2.0 * (rows - positives)))
    outer = (x1[:, :, None] * x1[:, None, :]).reshape(rows, -1)  # (rows, (width+1)^2)
    ridge = np.diag(np.r_[np.ones(width), 0.0])
    w = np.zeros((len(y), width + 1))
    current = _objective(x1, w, y, s, c)
    for _ in range(MAX_NEWTON_STEPS):
        p = expit(w @ x1.T)
        gradient = c * (s * (p - y)) @ x1 + w @ ridge
        if np.abs(gradient).max() <= GRADIENT_TOLERANCE * rows:
            break
        hessian = (c * (s * p * (1.0 - p)) @ outer).reshape(-1, width + 1, width + 1) + ridge
        step = np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
        scale = np.ones(len(y))
        for _ in range(30):  # backtracking, per class: a full Newton step unless it overshoots
            trial = w - scale[:, None] * step
            value = _objective(x1, trial, y, s, c)
            worse = value > current + 1e-12 * np.abs(current)
            if not worse.any():
                break
            scale = np.where(worse, scale / 2.0, scale)
        w, current = trial, np.minimum(value, current)
    return w


def decision_values(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(classes, rows) linear scores of `fit_one_vs_rest`'s weights on `x`."""
    return weights[:, :-1] @ x.T + weights[:, -1:]


def roc_auc_rows(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC-AUC of every row of `scores` against the same row of `targets` (ties count one
    half, as in scikit-learn), from rank sums: one call for all classes."""
    ranks = rankdata(scores, axis=1)
    positives = targets.sum(axis=1)
    negatives = targets.shape[1] - positives
    rank_sum = (ranks * targets).sum(axis=1)
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)
