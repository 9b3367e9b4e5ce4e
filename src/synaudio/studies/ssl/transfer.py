"""Transfer: the speech encoders on another domain, SynTone's tones.

SynTone's clips (1 s at 16 kHz) go through the speech front-end (64 mels, the same hop:
37 frames; the encoder pools over any length) and are re-expressed on the pretraining dB
range, so an encoder sees tones on the scale it learned speech on. Each encoder's frozen
representation of seeded subsets of the features' train and held-out parts is read out
linearly: the waveform by a multinomial logistic probe (accuracy; chance 0.25), frequency
and amplitude by ridge regression (held-out R^2), both on representations standardised
over the training clips. Baselines: the untrained encoder and the time-averaged log-mel
itself (64 numbers per clip, no network).

The same codes of the held-out clips get the archive's metrics suite (synaudio.metrics,
the chance-corrected information estimator, evaluation.bins and evaluation.dci_estimator
as the SynTone study's corrected protocol uses them), which tests the abstract's claim
that invariance and redundancy reduction do not make modular, compact codes: factors
known exactly, 128 codes to spread them over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from synaudio import metrics
from synaudio.features import in_scale
from synaudio.metrics.softmax import fit_softmax
from synaudio.params import LOG_MEL, RANDOM_ENCODER, Evaluation, Params, SslTransfer
from synaudio.studies.ssl import schema
from synaudio.studies.ssl.probe import represent

CLASSIFIED = ("waveform",)  # read out by accuracy; the other factors by R^2
REGRESSED = ("frequency_hz", "amplitude")
SUITE = ("mig", "modularity", "sap", "dci")  # the metrics suite's scores (dci: its three numbers)


def subsets(split: dict[str, np.ndarray], settings: SslTransfer) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, sorted subsets of the features' train and held-out rows."""
    rng = np.random.default_rng(settings.subset_seed)
    train = np.sort(
        rng.choice(split["train"], size=min(settings.train_clips, len(split["train"])), replace=False)
    )
    test = np.sort(
        rng.choice(split["test"], size=min(settings.test_clips, len(split["test"])), replace=False)
    )
    return train, test


def read_out(x: np.ndarray, factors: dict[str, np.ndarray], n_train: int) -> dict[str, float]:
    """Held-out read-out of every factor from representations `x` whose first `n_train`
    rows are the training clips: accuracy for CLASSIFIED factors, R^2 for REGRESSED."""
    scaler = StandardScaler().fit(x[:n_train])
    z = scaler.transform(x)
    scores = {}
    for name in CLASSIFIED:
        y = factors[name]
        model = fit_softmax(z[:n_train], y[:n_train])
        scores[name] = float(np.mean(model.predict(z[n_train:]) == y[n_train:]))
    for name in REGRESSED:
        y = factors[name].astype(np.float64)
        model = Ridge(alpha=1.0).fit(z[:n_train], y[:n_train])
        scores[name] = float(model.score(z[n_train:], y[n_train:]))
    return scores


def chance(factors: dict[str, np.ndarray], n_train: int) -> dict[str, float]:
    """What knowing nothing scores: the training part's most common waveform, and R^2 0."""
    out = {}
    for name in CLASSIFIED:
        values, counts = np.unique(factors[name][:n_train], return_counts=True)
        out[name] = float(np.mean(factors[name][n_train:] == values[np.argmax(counts)]))
    return out | dict.fromkeys(REGRESSED, 0.0)


def factor_values(table: Any, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The read-out targets of SynTone's factors.csv at `rows`: waveform as class indices."""
    return {
        "waveform": table["waveform_idx"].to_numpy()[rows],
        "frequency_hz": table["frequency_hz"].to_numpy()[rows],
        "amplitude": table["amplitude"].to_numpy()[rows],
    }


def suite(
    x: np.ndarray, factors: dict[str, np.ndarray], n_train: int, evaluation: Evaluation
) -> dict[str, Any]:
    """The metrics suite on the held-out clips' codes: {"metrics": {name: score}, "settings"}."""
    truth = np.column_stack([factors[name][n_train:] for name in (*CLASSIFIED, *REGRESSED)])
    result = metrics.evaluate(
        truth, x[n_train:], metrics=SUITE, bins=evaluation.bins, dci_estimator=evaluation.dci_estimator,
        factor_kinds=("categorical",) * len(CLASSIFIED) + ("continuous",) * len(REGRESSED),
        mi_estimator="chance_corrected",
    )  # fmt: skip
    return {
        "metrics": {k: v for k, v in result["metrics"].items() if "/" not in k},
        "settings": result["settings"],
    }


def run(
    params: Params, models: Path, features: np.ndarray, manifest: dict[str, Any],
    split: dict[str, np.ndarray], reference: dict[str, float], syntone_factors: pd.DataFrame,
) -> dict[str, Any]:  # fmt: skip
    """Every pretrained encoder, the untrained one at each seed and the log-mel baseline,
    on the same clips: {"clips", "chance", "settings" (the suite's), "runs": [{encoder,
    seed, "read_out": {factor: score}, "suite": {metric: score}}]}."""
    train, test = subsets(split, params.ssl.transfer)
    rows = np.concatenate([train, test])
    x = in_scale(
        np.asarray(features[rows]), manifest["normalisation"], reference, params.speech.features.top_db
    )
    factors = factor_values(syntone_factors, rows)
    representations = [(name, seed) for name, seed in schema.trained(params)]
    representations += [(RANDOM_ENCODER, seed) for seed in params.ssl.seeds] + [(LOG_MEL, 0)]
    runs, settings = [], {}
    for name, seed in tqdm(representations, unit="representation", desc="transfer", disable=None):
        model_dir = None if name in schema.UNTRAINED else models / name / f"seed{seed}"
        codes = represent(schema.encoder(params, name, seed, model_dir)[0], x, lambda batch: batch)
        scored = suite(codes, factors, len(train), params.evaluation)
        settings = scored["settings"]
        runs.append({"encoder": name, "seed": seed, "read_out": read_out(codes, factors, len(train)),
                     "suite": scored["metrics"]})  # fmt: skip
    return {"clips": {"train": len(train), "test": len(test)}, "chance": chance(factors, len(train)),
            "settings": settings, "runs": runs}  # fmt: skip
