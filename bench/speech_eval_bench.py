"""Benchmark: one SynSpeech Medium model's evaluation, on one core.

Target (issue 15): <= 60 s per model on Medium. Medium-shaped inputs: 50,000 clips' codes
(16 latents) for the probes, 10,000 held-out clips for the metrics suite, the version's
factors (25 speakers, 2 genders, 500 texts, 50 keywords, 10 carriers, 4 styles, six
voice parameters) and codes that carry some of them, as a trained encoder's do. The
explicitness step the old path spent its time on - one scikit-learn logistic regression
per factor value (500 for the text) - is timed beside the joint solver in this run.

    python bench/speech_eval_bench.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import minmax_scale
from threadpoolctl import threadpool_limits

from record import record
from synaudio import metrics
from synaudio.metrics.inputs import train_test_split_rows
from synaudio.studies.synspeech import evaluation, schema

CLIPS, HELD_OUT, LATENTS = 50_000, 10_000, 16
TARGET_SECONDS = 60.0


def medium_factors(rng: np.random.Generator) -> pd.DataFrame:
    speaker = rng.integers(0, 25, CLIPS)
    text = rng.integers(0, 500, CLIPS)
    voice = rng.normal(size=(25, 6))
    return pd.DataFrame({
        "speaker_index": speaker, "gender": np.where(speaker % 2, "male", "female"), "text_id": text,
        "keyword_id": text % 50, "carrier_id": text // 50, "style_index": rng.integers(0, 4, CLIPS),
        "pitch_base_hz": 100 + 50 * voice[speaker, 0], "pitch_top_hz": 150 + 50 * voice[speaker, 1],
        "formant_scale_pct": 100 + 5 * voice[speaker, 2], "breathiness": voice[speaker, 3],
        "roughness": voice[speaker, 4], "flutter": voice[speaker, 5],
    })  # fmt: skip


def encoder_like_codes(factors: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    truth, _, _ = evaluation.factor_matrix(factors, tuple(name for name, _, _ in schema.PROBED))
    mixing = rng.normal(size=(truth.shape[1], LATENTS))
    return np.tanh(minmax_scale(truth) @ mixing) + 0.3 * rng.normal(size=(CLIPS, LATENTS))


def explicitness_one_at_a_time(truth: np.ndarray, codes: np.ndarray, seed: int) -> float:
    """The old path: one scikit-learn LogisticRegression per factor value."""
    x = minmax_scale(codes)
    train, test = train_test_split_rows(len(codes), 0.2, seed)
    per_factor = []
    for j in range(truth.shape[1]):
        aucs = []
        for value in np.unique(truth[:, j]):
            target = truth[:, j] == value
            if target[train].all() or not target[train].any() or target[test].all() or not target[test].any():
                continue  # as the old path did: a value missing from one side cannot be scored
            model = LogisticRegression(class_weight="balanced").fit(x[train], target[train])
            aucs.append(roc_auc_score(target[test], model.predict_proba(x[test])[:, 1]))
        per_factor.append(2.0 * (np.mean(aucs) - 0.5))
    return float(np.mean(per_factor))


def timed(work):
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def main() -> None:
    threadpool_limits(1)
    rng = np.random.default_rng(0)
    factors = medium_factors(rng)
    codes = encoder_like_codes(factors, rng)
    held_out = np.sort(rng.choice(CLIPS, HELD_OUT, replace=False))
    truth, _, kinds = evaluation.factor_matrix(factors.iloc[held_out], schema.DISENTANGLEMENT_FACTORS)
    split = {"factor_kinds": kinds, "bins": 20, "seed": 0}

    old, old_seconds = timed(lambda: explicitness_one_at_a_time(truth, codes[held_out], 0))
    new, new_seconds = timed(lambda: metrics.explicitness(truth, codes[held_out], **split)["explicitness"])
    _, probe_seconds = timed(lambda: evaluation.probes(codes, factors, 0))
    _, suite_seconds = timed(
        lambda: evaluation.disentanglement(codes[held_out], factors.iloc[held_out], 20, "random_forest", 0)
    )
    _, matrix_seconds = timed(lambda: evaluation.information(codes[held_out], factors.iloc[held_out], 20))
    total = probe_seconds + suite_seconds + matrix_seconds
    print(
        f"SynSpeech Medium evaluation, one core ({CLIPS:,} clips, {HELD_OUT:,} held out, {LATENTS} latents)"
    )
    print(f"  explicitness, one regression per value (old): {old_seconds:7.1f} s  score {old:.4f}")
    print(f"  explicitness, joint Newton solve (now):       {new_seconds:7.1f} s  score {new:.4f}"
          f"  ({old_seconds / new_seconds:.0f}x)")  # fmt: skip
    print(f"  probes (all clips, 12 factors):               {probe_seconds:7.1f} s")
    print(f"  metrics suite (both MI estimators):           {suite_seconds:7.1f} s")
    print(f"  per-latent information matrix:                {matrix_seconds:7.1f} s")
    verdict = "meets" if total <= TARGET_SECONDS else "MISSES"
    print(
        f"  evaluation without the encoder pass: {total:.1f} s - {verdict} the {TARGET_SECONDS:.0f} s target"
    )
    record(
        "speech_evaluation",
        total,
        f"explicitness {old_seconds:.0f} s one value at a time -> {new_seconds:.1f} s",
    )


if __name__ == "__main__":
    main()
