"""Multinomial logistic regression for the linear probe of a categorical factor.

The objective is scikit-learn's `LogisticRegression(C=C)` with the lbfgs solver: mean
cross-entropy over the rows plus |W|^2 / (2 C n), intercepts not penalised, a softmax over
all classes, started from zero and minimised by scipy's L-BFGS-B with the same settings
(gradient tolerance 1e-4, at most 1,000 iterations, 50 line-search steps). One difference:
with two classes scikit-learn fits a single logistic regression, here the softmax keeps
both (the same decision rule, its penalty counted on two weight vectors).

Why not scikit-learn itself: SynSpeech's text factor has 500 classes over 40,000 training
rows, and scikit-learn's loss took 36 s of a Medium model's 117 s evaluation. Here the
class probabilities are computed in float32 over buffers allocated once (parameters, the
objective's sum and the gradient stay float64): 9 s, the same minimum to L-BFGS's
tolerance (tests/test_metrics.py compares with scikit-learn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

MAX_ITERATIONS = 1000
GRADIENT_TOLERANCE = 1e-4
LINE_SEARCH_STEPS = 50


@dataclass(frozen=True)
class SoftmaxModel:
    classes: np.ndarray  # (K,) the label values, sorted
    weights: np.ndarray  # (K, features + 1), intercept last

    def predict(self, x: np.ndarray) -> np.ndarray:
        scores = x @ self.weights[:, :-1].T + self.weights[:, -1]
        return self.classes[np.argmax(scores, axis=1)]


class _CrossEntropy:
    """The penalised objective and its gradient at flat weights `w`, per row on average."""

    def __init__(self, x: np.ndarray, labels: np.ndarray, classes: int, c: float) -> None:
        rows = len(x)
        self.x = np.hstack([x, np.ones((rows, 1))]).astype(np.float32)
        self.labels, self.c, self.rows = labels, c, np.arange(rows)
        self.shape = (classes, self.x.shape[1])
        self.scores = np.empty((rows, classes), dtype=np.float32)  # becomes probabilities - one-hot
        self.peak = np.empty((rows, 1), dtype=np.float32)
        self.total = np.empty((rows, 1), dtype=np.float32)

    def __call__(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        weights = w.reshape(self.shape)
        z = self.scores
        np.matmul(self.x, weights.T.astype(np.float32), out=z)
        np.max(z, axis=1, keepdims=True, out=self.peak)
        z -= self.peak  # exp(z) <= 1: no overflow
        picked = z[self.rows, self.labels].astype(np.float64).sum()
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=self.total)
        loss = np.log(self.total.astype(np.float64)).sum() - picked
        z /= self.total
        z[self.rows, self.labels] -= 1.0
        gradient = (z.T @ self.x).astype(np.float64)
        penalised = weights[:, :-1]
        gradient[:, :-1] += penalised / self.c
        loss += 0.5 / self.c * float((penalised**2).sum())
        rows = len(self.rows)
        return loss / rows, gradient.ravel() / rows


def fit_softmax(x: np.ndarray, labels: np.ndarray, c: float = 1.0) -> SoftmaxModel:
    """The probe's classifier from rows `x` (n, features) to `labels` (n,)."""
    classes, index = np.unique(labels, return_inverse=True)
    objective = _CrossEntropy(np.asarray(x, dtype=np.float64), index, len(classes), c)
    start = np.zeros(objective.shape[0] * objective.shape[1])
    if len(classes) < 2:  # nothing to separate: the single class is the prediction
        return SoftmaxModel(classes, start.reshape(objective.shape))
    options = {"maxiter": MAX_ITERATIONS, "gtol": GRADIENT_TOLERANCE, "maxls": LINE_SEARCH_STEPS,
               "ftol": 64 * np.finfo(float).eps}  # fmt: skip
    solution = minimize(objective, start, jac=True, method="L-BFGS-B", options=options)
    return SoftmaxModel(classes, solution.x.reshape(objective.shape))
