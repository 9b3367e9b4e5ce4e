"""Checks on a generated SynSpeech version, measured from the audio itself.

Fails (after writing its JSON) when a clip is silent, clipped or cut short, when a
voiced clip's measured pitch leaves its speaker's range, when a whispered clip is
voiced, or when the styles do not order the speaking time as intended
(sad > default > friendly).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from synaudio.atomic import atomic_write_text
from synaudio.errors import UserError
from synaudio.store import load_dataset

FRAME, HOP, RATE = 1024, 1024, 16000
LAGS = (RATE // 450, RATE // 55)  # pitch search range: 55-450 Hz
SILENT_PEAK = 0.01  # full scale = 1
VOICED = 0.5  # normalised autocorrelation peak above which a frame counts as periodic
PITCH_RANGE = (0.7, 1.4)  # measured median f0 within [0.7 x base, 1.4 x top] (styles shift pitch)
WHISPER_VOICED = 0.1  # at most this fraction of a whispered clip's frames periodic
DURATION_ORDER = ("sad", "default", "friendly")  # mean speaking time, longest first


def pitch_track(clip: np.ndarray, length: int) -> tuple[float, float]:
    """(median f0 over periodic frames, fraction of loud frames that are periodic)."""
    speech = clip[:length].astype(np.float64) / 32767.0
    starts = np.arange(0, max(speech.size - FRAME, 0) + 1, HOP)
    frames = np.stack([speech[s : s + FRAME] for s in starts])
    frames = frames[np.sqrt(np.mean(frames**2, axis=1)) > 0.02]
    if not len(frames):
        return 0.0, 0.0
    spectrum = np.fft.rfft(frames - frames.mean(axis=1, keepdims=True), n=2 * FRAME)
    correlation = np.fft.irfft(np.abs(spectrum) ** 2)[:, :FRAME]
    # Per overlapping sample: the raw sum shrinks with the lag, which favours short lags and
    # measured low, rough voices (Large's sad males) at a formant's multiple of their f0.
    correlation *= FRAME / (FRAME - np.arange(FRAME))
    lag = LAGS[0] + np.argmax(correlation[:, LAGS[0] : LAGS[1]], axis=1)
    peak = correlation[np.arange(len(lag)), lag] / np.maximum(correlation[:, 0], 1e-12)
    periodic = peak > VOICED
    f0 = float(np.median(RATE / lag[periodic])) if periodic.any() else 0.0
    return f0, float(periodic.mean())


def check(dataset_dir: Path, out: Path) -> dict[str, Any]:
    dataset = load_dataset(dataset_dir)
    factors = dataset.factors
    clip_samples = dataset.audio.shape[1]
    peaks = np.array([np.abs(clip.astype(np.int32)).max() for clip in dataset.audio]) / 32767.0
    measured = [
        pitch_track(clip, min(n, clip_samples))
        for clip, n in zip(dataset.audio, factors["speech_samples"], strict=True)
    ]
    f0 = np.array([m[0] for m in measured])
    voiced = np.array([m[1] for m in measured])
    whisper = (factors["style"] == "whispering").to_numpy()
    low = factors["pitch_base_hz"].to_numpy() * PITCH_RANGE[0]
    high = factors["pitch_top_hz"].to_numpy() * PITCH_RANGE[1]
    problems = {
        "silent": np.flatnonzero(peaks < SILENT_PEAK),
        "clipped": np.flatnonzero(peaks >= 1.0),
        "cut_short": np.flatnonzero(factors["speech_samples"].to_numpy() > clip_samples),
        "pitch_outside_speaker_range": np.flatnonzero(~whisper & ((f0 < low) | (f0 > high))),
        "voiced_whisper": np.flatnonzero(whisper & (voiced > WHISPER_VOICED)),
    }
    seconds = (factors.groupby("style")["speech_samples"].mean() / RATE).round(3).to_dict()
    present = [s for s in DURATION_ORDER if s in seconds]
    order_ok = all(seconds[a] > seconds[b] for a, b in itertools.pairwise(present))
    ratio = f0[~whisper] / factors["pitch_base_hz"].to_numpy()[~whisper]
    report = {
        "clips": len(factors),
        "violations": {name: len(rows) for name, rows in problems.items()}
        | {"duration_order": int(not order_ok)},
        "examples": {name: [int(r) for r in rows[:5]] for name, rows in problems.items() if len(rows)},
        "seconds_by_style": seconds,
        "f0_over_base_pitch": {
            q: round(float(np.quantile(ratio, p)), 3)
            for q, p in (("p05", 0.05), ("median", 0.5), ("p95", 0.95))
        }
        if ratio.size
        else {},
        "whisper_voiced_fraction_max": round(float(voiced[whisper].max()), 3) if whisper.any() else None,
        "peak_min": round(float(peaks.min()), 3),
        "peak_max": round(float(peaks.max()), 3),
    }
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    failed = {k: v for k, v in report["violations"].items() if v}
    if failed:
        raise UserError(f"{dataset_dir} fails its checks: {failed} (clip rows in {out}, under 'examples')")
    return report
