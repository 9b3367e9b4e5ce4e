"""SynTone: a full grid of waveform x amplitude x frequency tones (spec: SYNTONE.md section 1).

Pure functions of the parameters - no randomness, no I/O. A clip is amplitude times a
unit-peak waveform, so the generator synthesises one unit waveform per (frequency,
waveform) pair and scales it: 400 x 4 waveforms instead of 32,000 clips of
trigonometry, which is what makes the full grid cheap.

Protocols differ only in the time axis:

* ``paper``: the reference's ``linspace(0, duration, n)`` with the end point included,
  so the sample step is duration / (n - 1) and every frequency is played
  n / (n - 1) times too high (16000/15999 at 1 s, 16 kHz);
* ``corrected``: t = n / sample_rate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synaudio.params import WAVEFORMS, SynTone
from synaudio.protocol import Protocol
from synaudio.store import dataset_digest, write_dataset


def time_axis(spec: SynTone, protocol: Protocol) -> np.ndarray:
    """Sample times in seconds under the given protocol (float64)."""
    n = spec.clip_samples
    if protocol.reference_time_axis:
        return np.linspace(0.0, spec.duration, n, endpoint=True)
    return np.arange(n, dtype=np.float64) / spec.sample_rate


def effective_frequency_scale(spec: SynTone, protocol: Protocol) -> float:
    """Factor by which the played frequency exceeds the nominal one (1 when corrected)."""
    step = float(np.diff(time_axis(spec, protocol)[:2])[0])
    return step * spec.sample_rate


def amplitudes(spec: SynTone) -> np.ndarray:
    return np.linspace(spec.amplitude.start, spec.amplitude.stop, spec.amplitude.levels)


def frequencies(spec: SynTone) -> np.ndarray:
    return np.linspace(spec.frequency.start, spec.frequency.stop, spec.frequency.levels)


def _naive(name: str, cycles: np.ndarray) -> np.ndarray:
    """Unit-peak waveform of phase 0 from elapsed cycles f*t; harmonics alias freely."""
    if name == "sine":
        return np.sin(2 * np.pi * cycles)
    phase = np.mod(cycles, 1.0)  # position within the period, [0, 1)
    if name == "sawtooth":  # rising ramp, -1 at phase 0
        return 2.0 * phase - 1.0
    if name == "triangle":  # symmetric ramp: -1 at phase 0, +1 at half period
        return np.where(phase < 0.5, 4.0 * phase - 1.0, 3.0 - 4.0 * phase)
    return np.where(phase < 0.5, 1.0, -1.0)  # square, 50 % duty, +1 first


def _bandlimited(name: str, cycles: np.ndarray, frequency: float, nyquist: float) -> np.ndarray:
    """The same waveform's Fourier series cut below Nyquist, rescaled to unit peak.

    Above sample_rate / 6 (2.67 kHz at 16 kHz) square and triangle keep only their
    fundamental (their next harmonic is the 3rd) and become sinusoids; above
    sample_rate / 4 the sawtooth does too. Timbre then no longer tells them apart.
    """
    if name == "sine":
        return np.sin(2 * np.pi * cycles)
    n_harmonics = int(np.ceil(nyquist / frequency)) - 1  # k * f < nyquist
    ks = np.arange(1, n_harmonics + 1)
    if name != "sawtooth":
        ks = ks[ks % 2 == 1]
    angle = 2 * np.pi * np.outer(ks, cycles)
    if name == "sawtooth":
        wave = -(2 / np.pi) * (np.sin(angle) / ks[:, None]).sum(axis=0)
    elif name == "square":
        wave = (4 / np.pi) * (np.sin(angle) / ks[:, None]).sum(axis=0)
    else:  # triangle
        wave = -(8 / np.pi**2) * (np.cos(angle) / ks[:, None] ** 2).sum(axis=0)
    return wave / np.abs(wave).max()


def unit_waveforms(spec: SynTone, protocol: Protocol, freqs: np.ndarray) -> np.ndarray:
    """Unit-peak waveforms for the given frequencies: array (len(freqs), W, T), float64."""
    t = time_axis(spec, protocol)
    out = np.empty((len(freqs), len(spec.waveforms), t.size))
    for i, frequency in enumerate(freqs):
        cycles = frequency * t
        for j, name in enumerate(spec.waveforms):
            if spec.synthesis == "naive":
                out[i, j] = _naive(name, cycles)
            else:
                out[i, j] = _bandlimited(name, cycles, frequency, spec.sample_rate / 2)
    return out


def clip_chunks(spec: SynTone, protocol: Protocol, max_clips: int) -> Iterator[np.ndarray]:
    """Yield the clips in the reference's order, a block of frequencies at a time.

    Order: frequency outermost, then amplitude, then waveform innermost, i.e.
    clip index = (f_idx * A + a_idx) * W + w_idx. Each block is (clips, T) float64.
    """
    amps = amplitudes(spec)
    freqs = frequencies(spec)
    clips_per_frequency = len(amps) * len(spec.waveforms)
    block = max(1, max_clips // clips_per_frequency)
    for first in range(0, len(freqs), block):
        units = unit_waveforms(spec, protocol, freqs[first : first + block])  # (F, W, T)
        clips = amps[None, :, None, None] * units[:, None, :, :]  # (F, A, W, T)
        yield clips.reshape(-1, units.shape[-1])


def factor_table(spec: SynTone, protocol: Protocol) -> pd.DataFrame:
    """One row per clip, in clip order: the ground-truth factors and their grid indices."""
    freqs, amps = frequencies(spec), amplitudes(spec)
    f_idx, a_idx, w_idx = np.meshgrid(
        np.arange(len(freqs)), np.arange(len(amps)), np.arange(len(spec.waveforms)), indexing="ij"
    )
    f_idx, a_idx, w_idx = f_idx.ravel(), a_idx.ravel(), w_idx.ravel()
    names = np.array(spec.waveforms)[w_idx]
    return pd.DataFrame(
        {
            "clip": np.arange(f_idx.size),
            "waveform": names,
            # class index is fixed by the canonical order, whichever subset is generated
            "waveform_idx": np.array([WAVEFORMS.index(n) for n in spec.waveforms])[w_idx],
            "amplitude_idx": a_idx,
            "amplitude": amps[a_idx],
            "frequency_idx": f_idx,
            "frequency_hz": freqs[f_idx],
            "frequency_played_hz": freqs[f_idx] * effective_frequency_scale(spec, protocol),
        }
    )


def build(spec: SynTone, protocol: Protocol, out_dir: Path) -> dict[str, Any]:
    """Generate the grid and write it as a dataset directory; return its manifest."""
    return write_dataset(
        out_dir,
        chunks=clip_chunks(spec, protocol, max_clips=spec.chunk_mb * 2**20 // (8 * spec.clip_samples)),
        n_clips=spec.n_clips,
        clip_samples=spec.clip_samples,
        sample_rate=spec.sample_rate,
        sample_format=spec.sample_format,
        factors=factor_table(spec, protocol),
        spec={"dataset": "syntone", "protocol": protocol.name, **spec.model_dump()},
    )


def summary(spec: SynTone, protocol: Protocol, manifest: dict[str, Any]) -> dict[str, Any]:
    """Small, deterministic facts about a generated dataset (a DVC metrics file)."""
    return {
        "clips": spec.n_clips,
        "hours_of_audio": round(spec.n_clips * spec.duration / 3600, 6),
        "audio_bytes": manifest["files"]["audio.npy"]["bytes"],
        "waveforms": len(spec.waveforms),
        "amplitude_levels": spec.amplitude.levels,
        "frequency_levels": spec.frequency.levels,
        "frequency_scale": effective_frequency_scale(spec, protocol),
        "digest": dataset_digest(manifest),
    }
