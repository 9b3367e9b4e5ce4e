"""Codes -> probes and disentanglement metrics against SynSpeech's factors.

* **Linear probes** (the paper's main tool): for every factor - speaker, gender, text,
  keyword, carrier phrase, style, and regression on each sampled voice parameter - a
  logistic (accuracy) or ridge (R^2) probe from the standardised codes, fitted on 80 % of
  *all* clips' codes and scored on the other 20 % (seeded). All clips, because a text
  factor with 500 classes needs the examples; the representation itself never saw a label.
* **Disentanglement metrics** (MIG, JEMMIG, DCIMIG, Modularity, SAP, DCI, explicitness)
  on the posterior means of the held-out clips, against the labelled factors: speaker,
  gender, text, keyword, carrier phrase, style - all categorical. The information
  metrics use the chance-corrected estimator (metrics/information.py: with 500 texts
  the plug-in one gives noise codes Modularity ~1); the plug-in values are kept beside
  them as `<metric>_plugin`, comparable with other papers.
* **Which latent carries which factor**: I(z_k; factor) / H(factor), chance-corrected,
  for every latent and factor (the report draws it; nothing is re-encoded there).
* **Baselines** (no training): log-mel statistics, the same with loudness and padding
  normalised away, and trivial acoustic features (synaudio/trivial.py) - what a probe
  gets from the input, from its level, speaking time and pitch alone.

A factor with one value in a version (style in Small) is left out and named in the
settings. Chance levels are reported beside the probe accuracies.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from synaudio import metrics, trivial
from synaudio.inference import encode, reconstruction_and_kl
from synaudio.metrics.infomec import infomec, record
from synaudio.metrics.information import INFORMATION_NAMES, information_per_latent
from synaudio.models.backbone import ConvVAE
from synaudio.params import Params
from synaudio.store import Dataset
from synaudio.studies.synspeech.schema import (
    BASELINES,
    DISENTANGLEMENT_FACTORS,
    INFORMATION_FACTORS,
    MI_ESTIMATOR,
    PLUGIN_SUFFIX,
    PROBED,
    SUITE,
)

ACTIVE_FRAME = 0.5  # of the [0, 1] log-mel scale (80 dB): a frame within 40 dB of the clip's loudest


def factor_matrix(factors: pd.DataFrame, names: tuple[str, ...]) -> tuple[np.ndarray, list[str], list[str]]:
    """(N, F) numbers for the named factors that vary, their names and kinds.

    Categorical columns become codes 0..k-1 (strings such as gender included)."""
    columns, kept, kinds = [], [], []
    for name, column, kind in PROBED:
        if name not in names:
            continue
        values = factors[column]
        if values.nunique() < 2:
            continue
        kept.append(name)
        kinds.append(kind)
        columns.append(pd.factorize(values, sort=True)[0] if kind == "categorical" else values.to_numpy())
    return np.column_stack(columns).astype(np.float64), kept, kinds


def _named(scores: dict[str, float], names: list[str]) -> dict[str, float]:
    """ "probe/factor2" -> "probe/text"."""
    renamed = {}
    for key, value in scores.items():
        prefix, _, index = key.rpartition("/factor")
        renamed[f"{prefix}/{names[int(index)]}" if prefix else key] = value
    return renamed


def probes(codes: np.ndarray, factors: pd.DataFrame, seed: int) -> dict[str, Any]:
    """Linear-probe score per varying factor, and the chance level of each categorical one."""
    truth, names, kinds = factor_matrix(factors, tuple(name for name, _, _ in PROBED))
    scores = metrics.probe(truth, codes, factor_kinds=kinds, seed=seed)
    chance = {
        f"chance/{name}": float(np.bincount(truth[:, j].astype(int)).max() / len(truth))
        for j, (name, kind) in enumerate(zip(names, kinds, strict=True))
        if kind == "categorical"
    }
    return {
        "scores": _named(scores, names),
        "chance": chance,
        "factors": dict(zip(names, kinds, strict=True)),
    }


def disentanglement(
    codes: np.ndarray, factors: pd.DataFrame, bins: int, dci_estimator: str, seed: int
) -> dict[str, Any]:
    """The metrics suite on held-out codes against the (varying) labelled factors, the
    information metrics chance-corrected, plus their plug-in values as `<name>_plugin`."""
    truth, names, kinds = factor_matrix(factors, DISENTANGLEMENT_FACTORS)
    shared = {"bins": bins, "factor_kinds": kinds, "seed": seed}
    with warnings.catch_warnings():  # SAP's one-code classifiers miss some of 500 texts: expected
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        result = metrics.evaluate(
            truth, codes, metrics=SUITE, dci_estimator=dci_estimator, mi_estimator=MI_ESTIMATOR, **shared
        )
    plugin = metrics.evaluate(truth, codes, metrics=INFORMATION_NAMES, mi_estimator="plugin", **shared)
    plugin_scores = {
        key.replace(name, name + PLUGIN_SUFFIX, 1): value
        for key, value in plugin["metrics"].items()
        for name in INFORMATION_NAMES
        if key == name or key.startswith(name + "/")
    }
    scores = {**result["metrics"], **plugin_scores}
    settings = {**result["settings"], "factors": names, "plugin_metrics": f"<metric>{PLUGIN_SUFFIX}"}
    return {"scores": _named(scores, names), "settings": settings}


def information(codes: np.ndarray, factors: pd.DataFrame, bins: int) -> dict[str, Any]:
    """Chance-corrected I(z_k; factor) / H(factor) for every latent and varying factor."""
    truth, names, kinds = factor_matrix(factors, INFORMATION_FACTORS)
    normalised = information_per_latent(truth, codes, bins, kinds, MI_ESTIMATOR)
    return {"factors": names, "matrix": [[round(float(v), 6) for v in row] for row in normalised]}


def infomec_record(codes: np.ndarray, factors: pd.DataFrame, seed: int) -> dict[str, Any]:
    """InfoMEC of held-out codes against the factors the metrics suite scores (all
    categorical, so none is binned), as metrics.infomec.record writes it."""
    truth, names, _ = factor_matrix(factors, DISENTANGLEMENT_FACTORS)
    return record(infomec(truth, codes, seed=seed), names, seed)


def evaluate_codes(
    params: Params,
    codes: np.ndarray,
    factors: pd.DataFrame,
    test_rows: np.ndarray,
    seed: int,
    latents: str,
    held_out: dict[str, Any],
) -> dict[str, Any]:
    """Every number for one model's per-clip codes (N, D), a JSON-ready dict: probes on all
    clips, the metrics suite and the per-latent information on the held-out ones. `latents`
    says what the codes are; `held_out` is what the model's own held-out pass measured.
    Other studies' models (RAVE-style) are scored through here too."""
    held_out_factors = factors.iloc[test_rows]
    probed = probes(codes, factors, seed)
    suite = disentanglement(
        codes[test_rows], held_out_factors, params.speech.bins, params.evaluation.dci_estimator, seed
    )
    matrix = information(codes[test_rows], held_out_factors, params.speech.bins)
    return {
        "metrics": {**probed["scores"], **suite["scores"]},
        "chance": probed["chance"],
        "settings": {
            **suite["settings"],
            "probes": "logistic (accuracy) / ridge (R^2) on standardised posterior means of all clips, "
            "fitted on 80 %, scored on 20 %",
            "probed_factors": probed["factors"],
            "latents": latents,
        },
        "held_out": held_out,
        "information": matrix,
    }


def evaluate_model(
    params: Params,
    backbone: ConvVAE,
    features: np.ndarray,
    factors: pd.DataFrame,
    test_rows: np.ndarray,
    seed: int,
) -> dict[str, Any]:
    """Every number for one trained speech model (a JSON-ready dict)."""
    codes, log_var = encode(backbone, features)
    held_out = reconstruction_and_kl(backbone, features[test_rows], codes[test_rows], log_var[test_rows])
    latents = "posterior means; metrics suite on the held-out clips"
    return evaluate_codes(params, codes, factors, test_rows, seed, latents, held_out)


def log_mel_statistics(features: np.ndarray, normalised: bool = False, batch: int = 2048) -> np.ndarray:
    """Per-clip mean and standard deviation of every mel band over time, (N, 2 x mels).

    `normalised`: each clip shifted so its loudest value is 0 and only its active frames
    (loudest band within ACTIVE_FRAME of that maximum) counted - no level, no padding."""
    parts = []
    for start in range(0, len(features), batch):
        block = np.asarray(features[start : start + batch], dtype=np.float64)  # (clips, mels, frames)
        weight = np.ones(block.shape[::2])[:, None, :]
        if normalised:
            peak = block.max(axis=(1, 2), keepdims=True)
            block = block - peak
            weight = (block.max(axis=1, keepdims=True) >= -ACTIVE_FRAME).astype(np.float64)
        count = weight.sum(axis=2)
        mean = (block * weight).sum(axis=2) / count
        std = np.sqrt((((block - mean[:, :, None]) ** 2) * weight).sum(axis=2) / count)
        parts.append(np.concatenate([mean, std], axis=1))
    return np.concatenate(parts)


def baseline_representations(features: np.ndarray, dataset: Dataset) -> dict[str, np.ndarray]:
    """Every untrained representation of BASELINES, (clips, width) each."""
    return {
        "logmel_stats": log_mel_statistics(features),
        "logmel_stats_normalised": log_mel_statistics(features, normalised=True),
        **trivial.representations(dataset),
    }


def evaluate_baselines(features: np.ndarray, dataset: Dataset, seed: int) -> dict[str, dict[str, Any]]:
    """Probes on every baseline representation (no metrics suite: these are not codes)."""
    results = {}
    for name, representation in baseline_representations(features, dataset).items():
        probed = probes(representation, dataset.factors, seed)
        results[name] = {
            "metrics": probed["scores"],
            "chance": probed["chance"],
            "settings": {
                "representation": BASELINES[name],
                "probes": "logistic (accuracy) / ridge (R^2) on the standardised representation of all "
                "clips, fitted on 80 %, scored on 20 %",
                "probed_factors": probed["factors"],
            },
        }
    return results
