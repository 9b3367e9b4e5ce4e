"""Transfer: the speech encoders on another domain, SynTone's tones.

SynTone's clips (1 s at 16 kHz) go through the speech front-end (64 mels, the same hop:
37 frames; the encoder pools over any length) and are re-expressed on the pretraining dB
range, so an encoder sees tones on the scale it learned speech on. Each encoder's frozen
representation of seeded subsets of the features' train and held-out parts is read out
linearly: the waveform by a multinomial logistic probe (accuracy; chance 0.25), frequency
and amplitude by ridge regression (held-out R^2), both on representations standardised
over the training clips. Baselines: the untrained encoder and the time-averaged log-mel
itself (64 numbers per clip, no network).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from synaudio.metrics.softmax import fit_softmax
from synaudio.params import RANDOM_ENCODER, Params, SslTransfer
from synaudio.studies.ssl import schema
from synaudio.studies.ssl.probe import in_scale, represent
from synaudio.studies.ssl.schema import LOG_MEL

CLASSIFIED = ("waveform",)  # read out by accuracy; the other factors by R^2
REGRESSED = ("frequency_hz", "amplitude")


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


def time_average(features: np.ndarray) -> np.ndarray:
    """The no-network representation: each mel band averaged over the clip's frames."""
    return features.mean(axis=-1, dtype=np.float64)


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


def run(
    params: Params, models: Path, features: np.ndarray, manifest: dict[str, Any],
    split: dict[str, np.ndarray], reference: dict[str, float], syntone_factors: pd.DataFrame,
) -> dict[str, Any]:  # fmt: skip
    """Every pretrained encoder, the untrained one at each seed and the log-mel baseline,
    read out on the same clips: {"clips", "chance", "runs": [{encoder, seed, <factor>: score}]}."""
    train, test = subsets(split, params.ssl.transfer)
    rows = np.concatenate([train, test])
    x = in_scale(
        np.asarray(features[rows]), manifest["normalisation"], reference, params.speech.features.top_db
    )
    factors = factor_values(syntone_factors, rows)
    encoders = schema.trained(params) + [(RANDOM_ENCODER, seed) for seed in params.ssl.seeds]
    runs = []
    for name, seed in encoders:
        model_dir = None if name == RANDOM_ENCODER else models / name / f"seed{seed}"
        encoder, _ = schema.encoder(params, name, seed, model_dir)
        runs.append(
            {
                "encoder": name,
                "seed": seed,
                **read_out(represent(encoder, x, lambda b: b), factors, len(train)),
            }
        )
    runs.append({"encoder": LOG_MEL, "seed": 0, **read_out(time_average(x), factors, len(train))})
    return {
        "clips": {"train": len(train), "test": len(test)},
        "chance": chance(factors, len(train)),
        "runs": runs,
    }
