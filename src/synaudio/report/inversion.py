"""Model features back to something to see and hear: dB mel images and Griffin-Lim audio.

The two front-ends store different things, so each has its own way back to a power mel:
``paper`` features are power mels divided by each frame's maximum (absolute level is
gone: its audio is peak-normalised), ``corrected`` features are dB mels scaled to [0, 1]
with the training split's floor and peak (stored in the features manifest), so the
level survives. Phase is never modelled: Griffin-Lim estimates it, so the audio shows
what the spectrogram carries, not a waveform the model produced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
import torchaudio

from synaudio.features import DB_FLOOR

PAPER_PEAK = 0.5  # paper-protocol audio has no level of its own; play it at half scale


class Inverter:
    """Features of one protocol -> dB images and waveforms (deterministic given the seed)."""

    def __init__(self, features_manifest: dict[str, Any], sample_rate: int, iters: int, seed: int) -> None:
        front = features_manifest["front_end"]
        self.protocol = features_manifest["protocol"]
        self.normalisation = features_manifest["normalisation"]
        self.top_db = float(front["top_db"])
        self.sample_rate, self.seed = sample_rate, seed
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=front["n_fft"] // 2 + 1,
            n_mels=front["n_mels"],
            sample_rate=sample_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=front["n_fft"], hop_length=front["hop_length"], n_iter=iters, power=2.0
        )

    def power(self, features: np.ndarray) -> np.ndarray:
        """(..., mels, frames) features -> power mel (relative for `paper`)."""
        if self.protocol == "paper":
            return np.asarray(features, dtype=np.float64)
        floor = self.normalisation["db_floor"]
        return 10.0 ** ((np.asarray(features, dtype=np.float64) * self.top_db + floor) / 10.0)

    def decibels(self, features: np.ndarray) -> np.ndarray:
        """dB image of features (paper: relative to each frame's peak, floored at -top_db)."""
        db = 10.0 * np.log10(np.maximum(self.power(features), DB_FLOOR))
        return np.maximum(db, db.max() - self.top_db) if self.protocol == "paper" else db

    @torch.inference_mode()
    def waveform(self, features: np.ndarray, samples: int) -> np.ndarray:
        """One (mels, frames) feature image -> float32 audio of `samples` samples."""
        torch.manual_seed(self.seed)  # Griffin-Lim's random initial phase
        mel = torch.from_numpy(self.power(features)).float()
        audio = self.griffin_lim(self.inverse_mel(mel))[:samples].numpy()
        peak = float(np.abs(audio).max())
        if self.protocol == "paper" and peak > 0:
            audio = audio * (PAPER_PEAK / peak)
        elif peak > 1.0:
            audio = audio / peak
        return np.pad(audio, (0, max(0, samples - audio.size))).astype(np.float32)


def sweep(clips: list[np.ndarray], sample_rate: int, seconds: float = 0.25, fade: float = 0.01) -> np.ndarray:
    """The middle `seconds` of each clip, faded in and out, one after another."""
    length, ramp = round(seconds * sample_rate), round(fade * sample_rate)
    envelope = np.ones(length, dtype=np.float32)
    envelope[:ramp] = np.linspace(0.0, 1.0, ramp)
    envelope[-ramp:] = np.linspace(1.0, 0.0, ramp)
    parts = []
    for clip in clips:
        start = max(0, (clip.size - length) // 2)
        parts.append(np.pad(clip[start : start + length], (0, max(0, length - clip.size))) * envelope)
    return np.concatenate(parts)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM WAV: small, and plays in every browser."""
    soundfile.write(path, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
