"""InfoMEC (Hsu, Dorrell, Whittington, Wu and Finn, "Disentanglement via Latent Quantization",
arXiv 2305.18378): modularity, explicitness and compactness of continuous codes against
discrete factors, all from information rather than from a chosen predictor's weights.

* **NMI** (factors x codes): I(s_i; z_j) / H(s_i). Each code standardised; I by the
  k-nearest-neighbour estimator for one continuous and one discrete variable (Ross 2014;
  scikit-learn's `mutual_info_classif`, k = 10 as the reference), whose jitter is drawn from
  `seed` (the reference leaves it unseeded); H(s_i) the plug-in entropy. Nats both.
* **Active codes**: those whose range exceeds 1/20 of the largest code's range (as the
  reference); collapsed codes neither help nor hurt InfoM and InfoC.
* **InfoM**: per active code, the share of its NMI that goes to its top factor, averaged,
  rescaled so that an even spread over the factors scores 0 and one factor per code 1.
* **InfoC**: per factor, the share of its NMI held by its top active code, averaged,
  rescaled by the number of active codes the same way.
* **InfoE**: per factor, 1 - (log loss of a multinomial logistic regression on every code) /
  (log loss of the intercept-only one), both unpenalised with balanced class weights,
  fitted and scored on the same examples, as the reference; averaged over factors. The
  reference passes `multi_class="multinomial"`, which the archive's scikit-learn no longer
  accepts: lbfgs fits the multinomial model anyway, so leaving it out changes nothing; and
  `penalty=None`, deprecated there for `C=inf`, the same unpenalised fit.

InfoM (InfoC) is undefined with one factor (one active code): NaN, not a made-up number.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, mutual_info_score
from sklearn.preprocessing import StandardScaler

NEIGHBOURS = 10
ACTIVE_RANGE = 1 / 20
NAMES = ("infom", "infoe", "infoc")
ESTIMATORS = {  # recorded beside every InfoMEC number
    "nmi": f"k-NN mutual information (scikit-learn mutual_info_classif, k={NEIGHBOURS}, codes "
    "standardised, seeded) / plug-in factor entropy, nats",
    "active_codes": f"range above {ACTIVE_RANGE:g} of the widest code's",
    "infoe": "unpenalised multinomial logistic regression (lbfgs, 100 iterations, balanced classes), "
    "fitted and scored on the same codes",
}


def _labels(factors: np.ndarray) -> np.ndarray:
    """Each factor column as class indices 0..K-1."""
    return np.column_stack([np.unique(column, return_inverse=True)[1] for column in factors.T])


def normalised_mutual_information(factors: np.ndarray, codes: np.ndarray, seed: int = 0) -> np.ndarray:
    """(factors, codes): I(s_i; z_j) / H(s_i) in nats, k-NN estimate for the codes."""
    labels, standardised = _labels(factors), StandardScaler().fit_transform(codes)
    nmi = np.empty((labels.shape[1], codes.shape[1]))
    for i, target in enumerate(labels.T):
        nmi[i] = mutual_info_classif(
            standardised, target, discrete_features=False, n_neighbors=NEIGHBOURS, random_state=seed
        )
        nmi[i] /= mutual_info_score(target, target)
    return nmi


def active_codes(codes: np.ndarray) -> np.ndarray:
    ranges = codes.max(axis=0) - codes.min(axis=0)
    return ranges > ranges.max() * ACTIVE_RANGE


def _rescaled_top_share(matrix: np.ndarray, axis: int) -> float:
    """Mean over the other axis of max / sum along `axis`, mapped so that 1/n -> 0 and 1 -> 1."""
    n = matrix.shape[axis]
    if n < 2:
        return float("nan")
    totals = matrix.sum(axis=axis)
    shares = np.divide(matrix.max(axis=axis), totals, out=np.full(totals.shape, 1 / n), where=totals > 0)
    return float((shares.mean() - 1 / n) / (1 - 1 / n))


def modularity_and_compactness(nmi: np.ndarray, active: np.ndarray) -> tuple[float, float]:
    """(InfoM, InfoC) of an NMI matrix (factors x codes) over its `active` codes."""
    pruned = nmi[:, active]
    return _rescaled_top_share(pruned, axis=0), _rescaled_top_share(pruned, axis=1)


def _fitted_log_loss(x: np.ndarray, target: np.ndarray) -> float:
    model = LogisticRegression(C=np.inf, class_weight="balanced", solver="lbfgs", max_iter=100)
    with warnings.catch_warnings():  # 100 lbfgs steps, as the reference: not always converged
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        model.fit(x, target)
    return float(log_loss(target, model.predict_proba(x), labels=model.classes_))


def explicitness(factors: np.ndarray, codes: np.ndarray) -> float:
    """InfoE: the mean share of each factor's (logistic) entropy the codes explain."""
    labels, standardised = _labels(factors), StandardScaler().fit_transform(codes)
    shares = []
    for target in labels.T:
        marginal = _fitted_log_loss(np.zeros((len(target), 1)), target)
        shares.append((marginal - _fitted_log_loss(standardised, target)) / marginal)
    return float(np.mean(shares))


def infomec(factors: object, codes: object, seed: int = 0) -> dict[str, Any]:
    """InfoM, InfoE, InfoC of `codes` (N, K, continuous) against discrete `factors` (N, F),
    with the NMI matrix and which codes were active."""
    factors, codes = np.asarray(factors), np.asarray(codes, dtype=np.float64)
    if factors.ndim != 2 or codes.ndim != 2 or len(factors) != len(codes):
        raise ValueError(
            f"factors (N, F) and codes (N, K) must share N, got {factors.shape} and {codes.shape}"
        )
    nmi = normalised_mutual_information(factors, codes, seed)
    active = active_codes(codes)
    info_m, info_c = modularity_and_compactness(nmi, active)
    return {"infom": info_m, "infoe": explicitness(factors, codes), "infoc": info_c,
            "nmi": nmi.tolist(), "active_codes": int(active.sum())}  # fmt: skip


def record(scores: dict[str, Any], factors: Sequence[str], seed: int) -> dict[str, Any]:
    """One model's InfoMEC as the stages write it: the three numbers (an undefined one - InfoC
    of one active code - as null, which JSON can hold and the tables leave out of a mean),
    the active codes, the NMI matrix with its factors' names, and the estimators."""
    numbers = {name: None if np.isnan(scores[name]) else scores[name] for name in NAMES}
    return {"metrics": numbers, "active_codes": scores["active_codes"],
            "nmi": {"factors": list(factors), "matrix": scores["nmi"]},
            "settings": {**ESTIMATORS, "seed": seed}}  # fmt: skip
