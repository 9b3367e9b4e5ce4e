"""How alike two representations of the same clips are (issue 18: inter/intra-model similarity).

Every function takes two activation matrices over the same N examples, x (N, p) and y
(N, q), and returns one number. Centred kernel alignment (Kornblith et al., 2019):
CKA = <K~, L~> / (|K~| |L~|), K and L Gram matrices over the examples, ~ the double
centring; linear (K = x x^T), RBF (bandwidth `threshold` x the median distance) and the
debiased form, whose centring is that of the unbiased HSIC estimator (Song et al., 2012),
so unrelated representations score ~0 rather than a positive value that grows as N
shrinks. CCA: the mean squared canonical correlation of the raw (uncentred) matrices, as
the reference demo computes it; SVCCA (Raghu et al., 2017): each side reduced to the
singular directions that keep `keep` of its variance, then the mean canonical correlation.
Max-neuron correlation: each unit of x matched to its best-correlated unit of y.
"""

from __future__ import annotations

import numpy as np


def _centred(gram: np.ndarray, debiased: bool) -> np.ndarray:
    """The double-centred Gram matrix; debiased: the unbiased-HSIC form (zero diagonal)."""
    gram = np.array(gram, dtype=np.float64)
    n = len(gram)
    if not debiased:
        means = gram.mean(axis=0)
        means -= means.mean() / 2
        return gram - means[:, None] - means[None, :]
    np.fill_diagonal(gram, 0.0)
    means = gram.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    gram -= means[:, None] + means[None, :]
    np.fill_diagonal(gram, 0.0)
    return gram


def cka_from_grams(gram_x: np.ndarray, gram_y: np.ndarray, debiased: bool = False) -> float:
    """CKA of two Gram matrices over the same examples."""
    a, b = _centred(gram_x, debiased), _centred(gram_y, debiased)
    return float(np.vdot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def rbf_gram(x: np.ndarray, threshold: float) -> np.ndarray:
    """exp(-d^2 / (2 threshold^2 median(d^2))), d the Euclidean distances between rows."""
    dots = np.asarray(x, dtype=np.float64) @ np.asarray(x, dtype=np.float64).T
    norms = np.diag(dots)
    squared = norms[:, None] + norms[None, :] - 2 * dots
    return np.exp(-squared / (2 * threshold**2 * np.median(squared)))


def linear_cka(x: np.ndarray, y: np.ndarray, debiased: bool = False) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return cka_from_grams(x @ x.T, y @ y.T, debiased)


def rbf_cka(x: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> float:
    return cka_from_grams(rbf_gram(x, threshold), rbf_gram(y, threshold))


def canonical_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The canonical correlations of x and y (as given: no centring), largest first."""
    basis_x = np.linalg.qr(np.asarray(x, dtype=np.float64))[0]
    basis_y = np.linalg.qr(np.asarray(y, dtype=np.float64))[0]
    return np.clip(np.linalg.svd(basis_x.T @ basis_y, compute_uv=False), 0.0, 1.0)


def mean_squared_cca(x: np.ndarray, y: np.ndarray) -> float:
    """R^2_CCA: the sum of squared canonical correlations over the smaller width."""
    return float(np.sum(canonical_correlations(x, y) ** 2) / min(np.shape(x)[1], np.shape(y)[1]))


def _top_directions(x: np.ndarray, keep: float) -> np.ndarray:
    """The centred x projected on its fewest singular directions holding `keep` of the variance."""
    centred = np.asarray(x, dtype=np.float64) - np.mean(x, axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    share = np.cumsum(s**2) / np.sum(s**2)
    k = int(np.searchsorted(share, keep) + 1)
    return u[:, :k] * s[:k]


def svcca(x: np.ndarray, y: np.ndarray, keep: float = 0.99) -> float:
    """Mean canonical correlation after reducing each side to `keep` of its variance."""
    return float(np.mean(canonical_correlations(_top_directions(x, keep), _top_directions(y, keep))))


def max_neuron_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over x's units of the largest |Pearson correlation| with any unit of y
    (constant units count as uncorrelated)."""

    def standardised(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64) - np.mean(a, axis=0)
        scale = np.linalg.norm(a, axis=0)
        return np.divide(a, scale, out=np.zeros_like(a), where=scale > 0)

    return float(np.mean(np.max(np.abs(standardised(x).T @ standardised(y)), axis=1)))
