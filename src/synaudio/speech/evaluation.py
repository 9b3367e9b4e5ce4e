"""Codes -> probes and disentanglement metrics against SynSpeech's factors.

* **Linear probes** (the paper's main tool): for every factor - speaker, gender, text,
  keyword, carrier phrase, style, and regression on each sampled voice parameter - a
  logistic (accuracy) or ridge (R^2) probe from the standardised codes, fitted on 80 % of
  *all* clips' codes and scored on the other 20 % (seeded). All clips, because a text
  factor with 500 classes needs the examples; the representation itself never saw a label.
* **Disentanglement metrics** (MIG, JEMMIG, DCIMIG, Modularity, SAP, DCI, explicitness)
  on the posterior means of the held-out clips, against the paper's labelled factors:
  speaker, gender, text, style - all categorical.

A factor with one value in a version (style in Small) is left out and named in the
settings. Chance levels are reported beside the probe accuracies.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from synaudio import metrics
from synaudio.evaluation import encode, reconstruction_and_kl
from synaudio.models.backbone import VAEBackbone
from synaudio.params import Params

# (name, factor-table column, kind): what the probes predict.
PROBED = (
    ("speaker", "speaker_index", "categorical"),
    ("gender", "gender", "categorical"),
    ("text", "text_id", "categorical"),
    ("keyword", "keyword_id", "categorical"),
    ("carrier", "carrier_id", "categorical"),
    ("style", "style_index", "categorical"),
    ("pitch_base", "pitch_base_hz", "continuous"),
    ("pitch_top", "pitch_top_hz", "continuous"),
    ("formant_scale", "formant_scale_pct", "continuous"),
    ("breathiness", "breathiness", "continuous"),
    ("roughness", "roughness", "continuous"),
    ("flutter", "flutter", "continuous"),
)
DISENTANGLEMENT_FACTORS = ("speaker", "gender", "text", "style")  # the paper's labels
BASELINE = "logmel_stats"  # the untrained reference representation (evaluate_baseline)
SUITE = ("mig", "jemmig", "dcimig", "modularity", "sap", "dci", "explicitness")


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
    scores = metrics.linear_probe(truth, codes, factor_kinds=kinds, seed=seed)
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
    """The metrics suite on held-out codes against the paper's (varying) labelled factors."""
    truth, names, kinds = factor_matrix(factors, DISENTANGLEMENT_FACTORS)
    with warnings.catch_warnings():  # SAP's one-code classifiers miss some of 500 texts: expected
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        result = metrics.evaluate(
            truth, codes, metrics=SUITE, bins=bins, factor_kinds=kinds, dci_estimator=dci_estimator, seed=seed
        )
    return {"scores": _named(result["metrics"], names), "settings": {**result["settings"], "factors": names}}


def evaluate_model(
    params: Params,
    backbone: VAEBackbone,
    features: np.ndarray,
    factors: pd.DataFrame,
    test_rows: np.ndarray,
    seed: int,
) -> dict[str, Any]:
    """Every number for one trained speech model (a JSON-ready dict)."""
    codes, _ = encode(backbone, features)
    held_out = factors.iloc[test_rows]
    probed = probes(codes, factors, seed)
    suite = disentanglement(
        codes[test_rows], held_out, params.speech.bins, params.evaluation.dci_estimator, seed
    )
    return {
        "metrics": {**probed["scores"], **suite["scores"]},
        "chance": probed["chance"],
        "settings": {
            **suite["settings"],
            "probes": "logistic (accuracy) / ridge (R^2) on standardised posterior means of all clips, "
            "fitted on 80 %, scored on 20 %",
            "probed_factors": probed["factors"],
            "latents": "posterior means; metrics suite on the held-out clips",
        },
        "held_out": reconstruction_and_kl(backbone, features[test_rows]),
    }


def log_mel_statistics(features: np.ndarray, batch: int = 2048) -> np.ndarray:
    """Per-clip mean and standard deviation of every mel band over time, (N, 2 x mels):
    an untrained representation that says what the probes can get from the input alone."""
    parts = []
    for start in range(0, len(features), batch):
        block = np.asarray(features[start : start + batch], dtype=np.float64)
        parts.append(np.concatenate([block.mean(axis=2), block.std(axis=2)], axis=1))
    return np.concatenate(parts)


def evaluate_baseline(features: np.ndarray, factors: pd.DataFrame, seed: int) -> dict[str, Any]:
    """Probes on the log-mel statistics (no metrics suite: 128 codes are not meant to be factors)."""
    probed = probes(log_mel_statistics(features), factors, seed)
    return {
        "metrics": probed["scores"],
        "chance": probed["chance"],
        "settings": {
            "probes": "logistic (accuracy) / ridge (R^2) on standardised per-band mean and std of the "
            "log-mel over time (all clips), fitted on 80 %, scored on 20 %",
            "probed_factors": probed["factors"],
        },
    }
