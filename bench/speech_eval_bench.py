"""Benchmark: one SynSpeech Medium model's whole evaluation - encoder pass included.

Target (issue 15): <= 60 s per model on Medium. Medium-shaped work: 50,000 log-mels
(64 x 128) through the speech preset's encoder (seeded, untrained: the cost does not
depend on the weights), the held-out 10,000 decoded again for the reconstruction error,
then probes on codes that carry the version's factors as a trained encoder's do, the
metrics suite and the per-latent information. The paths this replaced run in the same
process beside them: explicitness with one scikit-learn regression per factor value,
the probe with scikit-learn's LogisticRegression, the encoder in training order.
Process start-up and loading the dataset (~8 s in a real stage) are not included.

    python bench/speech_eval_bench.py [--threads N]   # N: torch, BLAS and scikit-learn threads
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler, minmax_scale
from threadpoolctl import threadpool_limits

from record import record
from synaudio import metrics
from synaudio.inference import encode, reconstruction_and_kl
from synaudio.metrics.inputs import train_test_split_rows
from synaudio.metrics.softmax import fit_softmax
from synaudio.models.backbone import ConvVAE
from synaudio.models.presets import SPEECH
from synaudio.studies.synspeech import evaluation, schema

CLIPS, HELD_OUT, LATENTS, MELS, FRAMES = 50_000, 10_000, 16, 64, 128
ORDER_SAMPLE = 5_000  # clips for the side-by-side of the encoder's two layer orders
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


def categorical_probe_seconds(codes: np.ndarray, factors: pd.DataFrame, fit) -> float:
    """The categorical probes (six factors, 500 texts among them) fitted by `fit(x, labels)`."""
    truth, _, kinds = evaluation.factor_matrix(factors, tuple(name for name, _, _ in schema.PROBED))
    train, test = train_test_split_rows(len(codes), 0.2, 0)
    x = StandardScaler().fit(codes[train]).transform(codes)
    started = time.perf_counter()
    for j, kind in enumerate(kinds):
        if kind == "categorical":
            fit(x[train], truth[train, j]).predict(x[test])
    return time.perf_counter() - started


def log_mels(rng: np.random.Generator) -> np.ndarray:
    """Medium-shaped features in [0, 1], float32 (1.6 GB), as the features stage stores them."""
    features = np.empty((CLIPS, MELS, FRAMES), dtype=np.float32)
    for start in range(0, CLIPS, 5_000):
        features[start : start + 5_000] = rng.random((5_000, MELS, FRAMES), dtype=np.float32)
    return features


def timed(work):
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


@torch.inference_mode()
def training_order_seconds(backbone: ConvVAE, features: np.ndarray) -> float:
    """The encoder's forward (activation before pooling) on ORDER_SAMPLE clips, as `encode` did."""
    started = time.perf_counter()
    for start in range(0, ORDER_SAMPLE, 32):
        block = torch.from_numpy(np.array(features[start : start + 32])).unsqueeze(1)
        backbone.encoder(block.contiguous(memory_format=torch.channels_last))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    threads = parser.parse_args().threads
    threadpool_limits(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    factors = medium_factors(rng)
    codes = encoder_like_codes(factors, rng)
    held_out = np.sort(rng.choice(CLIPS, HELD_OUT, replace=False))
    truth, _, kinds = evaluation.factor_matrix(factors.iloc[held_out], schema.DISENTANGLEMENT_FACTORS)
    split = {"factor_kinds": kinds, "bins": 20, "seed": 0}
    features = log_mels(rng)
    torch.manual_seed(0)
    backbone = ConvVAE(LATENTS, MELS, FRAMES, SPEECH).eval()

    (mean, log_var), encode_seconds = timed(lambda: encode(backbone, features))
    _, decode_seconds = timed(
        lambda: reconstruction_and_kl(backbone, features[held_out], mean[held_out], log_var[held_out])
    )
    _, probe_seconds = timed(lambda: evaluation.probes(codes, factors, 0))
    _, suite_seconds = timed(
        lambda: evaluation.disentanglement(codes[held_out], factors.iloc[held_out], 20, "random_forest", 0)
    )
    _, matrix_seconds = timed(lambda: evaluation.information(codes[held_out], factors.iloc[held_out], 20))
    total = encode_seconds + decode_seconds + probe_seconds + suite_seconds + matrix_seconds
    print(f"SynSpeech Medium evaluation, {threads} thread(s) ({CLIPS:,} clips, {HELD_OUT:,} held out, "
          f"{LATENTS} latents)")  # fmt: skip
    print(f"  encoder pass, all clips:                         {encode_seconds:7.1f} s")
    print(f"  held-out reconstruction (decoder only):          {decode_seconds:7.1f} s")
    print(f"  probes (all clips, 12 factors):                  {probe_seconds:7.1f} s")
    print(f"  metrics suite (both MI estimators):              {suite_seconds:7.1f} s")
    print(f"  per-latent information matrix:                   {matrix_seconds:7.1f} s")
    verdict = "meets" if total <= TARGET_SECONDS else "MISSES"
    print(f"  evaluation: {total:.1f} s - {verdict} the {TARGET_SECONDS:.0f} s target")
    if threads > 1:  # the old paths are timed once, on one thread
        record("speech_evaluation_two_threads", total, f"encoder {encode_seconds:.0f} s")
        return
    _, infer_sample = timed(lambda: encode(backbone, features[:ORDER_SAMPLE]))
    forward_sample = training_order_seconds(backbone, features)
    softmax_seconds = categorical_probe_seconds(codes, factors, fit_softmax)
    sklearn_seconds = categorical_probe_seconds(codes, factors, LogisticRegression(max_iter=1000).fit)
    old, old_seconds = timed(lambda: explicitness_one_at_a_time(truth, codes[held_out], 0))
    new, new_seconds = timed(lambda: metrics.explicitness(truth, codes[held_out], **split)["explicitness"])
    print("  beside the paths they replaced, same run:")
    print(f"    encoder, {ORDER_SAMPLE:,} clips: pool then activate {infer_sample:.1f} s, "
          f"training order {forward_sample:.1f} s ({forward_sample / infer_sample:.2f}x)")  # fmt: skip
    print(f"    categorical probes: metrics/softmax.py {softmax_seconds:.1f} s, "
          f"scikit-learn {sklearn_seconds:.1f} s ({sklearn_seconds / softmax_seconds:.1f}x)")  # fmt: skip
    print(f"    explicitness: joint Newton solve {new_seconds:.1f} s (score {new:.4f}), "
          f"one regression per value {old_seconds:.1f} s (score {old:.4f})")  # fmt: skip
    record(
        "speech_evaluation",
        total,
        f"encoder {encode_seconds:.0f} s; categorical probes {softmax_seconds:.0f} s "
        f"(scikit-learn {sklearn_seconds:.0f} s); "
        f"explicitness {old_seconds:.0f} s one value at a time -> {new_seconds:.1f} s",
    )


if __name__ == "__main__":
    main()
