"""Trained model -> latents -> metrics, per protocol (SYNTONE.md section 4).

* ``paper`` (latents ``sampled_all_clips``): z = mean + sigma * eps for all clips, training
  clips included; the metrics in paper-compatible mode (ubisoft convention, arguments
  swapped); repeated with fresh noise, mean +- std over repeats - what the published
  table's "10 runs" were.
* ``corrected`` (``posterior_means_held_out``): posterior means of the held-out clips,
  arguments in the right order, waveform categorical, frequency and amplitude binned,
  plus DCI, linear probes (also of log frequency and dB amplitude) and forest probes.

Both also report the held-out reconstruction error, KL per dimension and active units
(synaudio.inference). ``corrected`` also writes I(z_k; factor_j) / H(factor_j) of every latent
and factor (the report's information figure reads it rather than encoding again).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from synaudio import metrics
from synaudio.inference import encode, reconstruction_and_kl
from synaudio.metrics.infomec import infomec, record
from synaudio.metrics.information import information_per_latent
from synaudio.metrics.inputs import discretize
from synaudio.models.backbone import ConvVAE
from synaudio.params import Evaluation
from synaudio.protocol import Protocol

FACTOR_COLUMNS = ("waveform_idx", "frequency_hz", "amplitude")  # the order the paper passed
FACTOR_NAMES = ("waveform", "frequency", "amplitude")
FACTOR_KINDS = ("categorical", "continuous", "continuous")
PERCEPTUAL_NAMES = ("waveform", "log_frequency", "amplitude_db")  # the forest probe's targets


def _factor_names(key: str) -> str:
    """ "probe/factor0" -> "probe/waveform": per-factor entries named after the factor."""
    for index, name in enumerate(FACTOR_NAMES):
        key = key.replace(f"factor{index}", name)
    return key


def _perceptual_probes(truth: np.ndarray, codes: np.ndarray, seed: int) -> dict[str, float]:
    """Probes of the factors on the scales hearing uses - frequency in log Hz, amplitude in
    dB (linear), and every factor by the forest probe: a code can hold pitch on a log
    axis, which a linear probe of Hz undervalues."""
    perceptual = np.column_stack([truth[:, 0], np.log(truth[:, 1]), 20 * np.log10(truth[:, 2])])
    linear = metrics.probe(perceptual[:, 1:], codes, factor_kinds=FACTOR_KINDS[1:], seed=seed)
    forest = metrics.probe(perceptual, codes, reader="forest", factor_kinds=FACTOR_KINDS, seed=seed)
    names = {"probe/factor0": "probe/log_frequency", "probe/factor1": "probe/amplitude_db"}
    forest_names = {f"probe_forest/factor{j}": f"probe_forest/{n}" for j, n in enumerate(PERCEPTUAL_NAMES)}
    return {**{names[k]: v for k, v in linear.items()}, **{forest_names[k]: v for k, v in forest.items()}}


def _mean_std(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sample std (ddof=1, as the reference's pandas aggregation) over repeated
    evaluations of one checkpoint; one evaluation has no spread (std 0)."""
    frame = pd.DataFrame(runs)
    spread = frame.std(ddof=1) if len(frame) > 1 else frame.iloc[0] * 0.0
    return {name: {"mean": float(frame[name].mean()), "std": float(spread[name])} for name in frame}


def evaluate_model(
    settings: Evaluation,
    protocol: Protocol,
    backbone: ConvVAE,
    features: np.ndarray,
    factors: pd.DataFrame,
    test_rows: np.ndarray,
    seed: int,
) -> dict[str, Any]:
    """All numbers for one trained model under `protocol` (a JSON-ready dict)."""
    truth = factors.loc[:, list(FACTOR_COLUMNS)].to_numpy(dtype=np.float64)
    extra: dict[str, Any] = {}
    if protocol.latents == "sampled_all_clips":
        mean, log_var = encode(backbone, features)
        held_out = mean[test_rows], log_var[test_rows]
        rng = np.random.default_rng(seed)
        runs = []
        for _ in range(settings.paper_repeats):
            sampled = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
            result = metrics.evaluate(truth, sampled, paper_compat=True)
            runs.append({k: v for k, v in result["metrics"].items() if "/" not in k})
        scores, evaluated = (
            _mean_std(runs),
            {**result["settings"], "latents": "sampled, all clips", "repeats": settings.paper_repeats},
        )
    else:
        mean, log_var = encode(backbone, features[test_rows])
        held_out = mean, log_var
        result = metrics.evaluate(
            truth[test_rows],
            mean,
            factor_kinds=FACTOR_KINDS,
            bins=settings.bins,
            dci_estimator=settings.dci_estimator,
            seed=seed,
        )
        probed = _perceptual_probes(truth[test_rows], mean, seed)
        scores = {
            _factor_names(key): {"mean": value, "std": 0.0}
            for key, value in {**result["metrics"], **probed}.items()
        }
        evaluated = {
            **result["settings"],
            "latents": "posterior means, held-out clips",
            "probes": "linear (logistic / ridge) and forest, on waveform, Hz, log Hz, amplitude and dB",
        }
        extra["information"] = latent_information(truth[test_rows], mean, settings.bins)
    return {
        "protocol": protocol.name,
        "factors": list(FACTOR_COLUMNS),
        "metrics": scores,
        "settings": evaluated,
        "held_out": reconstruction_and_kl(backbone, features[test_rows], *held_out),
        **extra,
    }


def latent_information(truth: np.ndarray, codes: np.ndarray, bins: int) -> dict[str, list[float]]:
    """{factor: [I(z_k; factor) / H(factor) for every latent k]} on the held-out codes, the
    metrics' own binning, plug-in estimator (SynTone's factors have a handful of values)."""
    ratio = information_per_latent(truth, codes, bins, FACTOR_KINDS)
    return {name: [float(v) for v in row] for name, row in zip(FACTOR_NAMES, ratio, strict=True)}


def infomec_record(truth: np.ndarray, codes: np.ndarray, bins: int, seed: int) -> dict[str, Any]:
    """InfoMEC of held-out codes against the factors as the metrics suite bins them - the
    waveform by its classes, frequency and amplitude in `bins` equal bins (InfoMEC needs
    discrete factors) - as metrics.infomec.record writes it."""
    scores = infomec(discretize(truth, bins, FACTOR_KINDS).labels, codes, seed=seed)
    return record(scores, FACTOR_NAMES, seed)
