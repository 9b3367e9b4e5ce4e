"""How alike two representations of the same examples are (issue 18): rows are examples,
columns are units (a layer's channels, a model's latents); the two may differ in width.

* **Linear CKA** (Kornblith et al. 2019): HSIC of the linear kernels of the column-centred
  representations, normalised - invariant to orthogonal transforms and isotropic scaling,
  not to arbitrary invertible linear maps.
* **Debiased CKA**: the same with the unbiased HSIC estimator (U-centred Gram matrices with
  zero diagonals, Song et al. 2012): plain CKA of two unrelated representations grows with
  the width / examples ratio, the debiased one stays near 0.
* **RBF CKA**: Gaussian kernels whose squared bandwidth is `threshold`^2 times the median
  squared distance between examples.
* **Mean squared CCA** (R^2_CCA) and **SVCCA** (Raghu et al. 2017): canonical correlations
  between the two column spaces; SVCCA first keeps the top singular directions of each
  side that explain `variance` of it, then averages the correlations (not squared).
* **Max-neuron correlation**: for each unit of `x`, its largest absolute Pearson
  correlation with any unit of `y`, averaged (the neuron-level view of El Kheir et al.).

Everything in float64; every function checks that both sides have the same examples.
"""

from __future__ import annotations

import numpy as np


def _pair(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"representations must be (examples, units), got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"the two representations have {len(x)} and {len(y)} examples: they must match")
    if len(x) < 4:
        raise ValueError("at least 4 examples are needed (the unbiased HSIC divides by n - 3)")
    return x, y


def _centred_columns(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=0, keepdims=True)


def _centred_gram(gram: np.ndarray, unbiased: bool) -> np.ndarray:
    """H K H (double centring), or the U-centred matrix of the unbiased HSIC estimator."""
    gram = gram.copy()
    if not unbiased:
        gram -= gram.mean(axis=0, keepdims=True)
        return gram - gram.mean(axis=1, keepdims=True)
    n = len(gram)
    np.fill_diagonal(gram, 0.0)
    means = gram.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    gram -= means[:, None] + means[None, :]
    np.fill_diagonal(gram, 0.0)
    return gram


def cka_of_grams(k: np.ndarray, m: np.ndarray, unbiased: bool = False) -> float:
    """CKA of two kernel (Gram) matrices over the same examples - for representations too
    wide for the feature-space form, whose Gram matrices are computed once and compared
    many times (`unbiased`: the debiased estimator)."""
    k, m = _centred_gram(k, unbiased), _centred_gram(m, unbiased)
    cross = float(np.sum(k * m))
    return cross / float(np.sqrt(np.sum(k * k) * np.sum(m * m)))


def linear_cka(x: object, y: object, debiased: bool = False) -> float:
    """Linear CKA (`debiased`: with the unbiased HSIC estimator)."""
    x, y = _pair(x, y)
    if not debiased:  # the feature-space form: no n x n matrices
        x, y = _centred_columns(x), _centred_columns(y)
        cross = np.linalg.norm(y.T @ x) ** 2
        return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))
    return cka_of_grams(x @ x.T, y @ y.T, unbiased=True)


def _rbf_gram(x: np.ndarray, threshold: float) -> np.ndarray:
    squared_norms = np.sum(x * x, axis=1)
    distances = np.maximum(squared_norms[:, None] + squared_norms[None, :] - 2.0 * (x @ x.T), 0.0)
    return np.exp(-distances / (2.0 * threshold**2 * np.median(distances)))


def rbf_cka(x: object, y: object, threshold: float = 0.5) -> float:
    """CKA of Gaussian kernels, bandwidth^2 = threshold^2 x the median squared distance."""
    x, y = _pair(x, y)
    return cka_of_grams(_rbf_gram(x, threshold), _rbf_gram(y, threshold), unbiased=False)


def canonical_correlations(x: object, y: object, centred: bool = True) -> np.ndarray:
    """The canonical correlations of the two column spaces, largest first. `centred=False`
    skips centring the columns, as the representation_similarity demo's `cca` does (its
    known answers are for raw features)."""
    x, y = _pair(x, y)
    if centred:
        x, y = _centred_columns(x), _centred_columns(y)
    qx, _ = np.linalg.qr(x)
    qy, _ = np.linalg.qr(y)
    return np.clip(np.linalg.svd(qx.T @ qy, compute_uv=False), 0.0, 1.0)


def mean_squared_cca(x: object, y: object, centred: bool = True) -> float:
    """R^2_CCA: the mean squared canonical correlation."""
    return float(np.mean(canonical_correlations(x, y, centred) ** 2))


def _top_directions(x: np.ndarray, variance: float) -> np.ndarray:
    """The centred rows projected on the fewest singular directions holding `variance` of x."""
    u, s, _ = np.linalg.svd(_centred_columns(x), full_matrices=False)
    share = np.cumsum(s**2) / np.sum(s**2)
    keep = int(np.searchsorted(share, variance) + 1)
    return u[:, :keep] * s[:keep]


def svcca(x: object, y: object, variance: float = 0.99) -> float:
    """SVCCA: mean canonical correlation after keeping `variance` of each side by SVD."""
    x, y = _pair(x, y)
    if not 0.0 < variance <= 1.0:
        raise ValueError(f"variance must be in (0, 1], got {variance}")
    return float(np.mean(canonical_correlations(_top_directions(x, variance), _top_directions(y, variance))))


def max_neuron_correlation(x: object, y: object) -> float:
    """Mean over the units of x of the largest |Pearson r| with a unit of y (constant units: 0)."""
    x, y = _pair(x, y)

    def standardised(a: np.ndarray) -> np.ndarray:
        a = _centred_columns(a)
        norms = np.linalg.norm(a, axis=0)
        return np.divide(a, norms, out=np.zeros_like(a), where=norms > 0)

    return float(np.mean(np.max(np.abs(standardised(x).T @ standardised(y)), axis=1)))
