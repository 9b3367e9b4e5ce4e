"""Trivial acoustic features: what loudness, speaking time and pitch alone tell a probe.

SynSpeech's styles differ in level (espeak-ng amplitude 60 / 66 / 45 / 150) and speaking
time, and the voice bank's female and male pitch ranges do not overlap. A probe that
reads "style" or "gender" from a representation may be reading these. Three numbers per
clip, each a baseline representation of its own and together a fourth:

* `level_db`: RMS level over the clip's active frames, dB re full scale (of the 8 kHz
  signal below: the band above 4 kHz, mostly breath and fricatives, does not count);
* `active_seconds`: time in frames within ACTIVE_DB of the clip's loudest frame;
* `f0_hz`: median fundamental frequency over voiced frames (normalised autocorrelation
  peak >= VOICING; 0 when no frame is voiced, as in whispering).

The waveform is averaged to 8 kHz first (pitch below 500 Hz survives) and analysed in
32 ms frames every 40 ms: a summary per clip, not a pitch track.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch loads only to compute: the names above are read by results tables
    import torch

    from synaudio.store import Dataset

RATE = 8000  # Hz, after averaging sample pairs of the 16 kHz audio
FRAME = 256  # samples at RATE: 32 ms
HOP = 320  # samples at RATE: 40 ms
F0_RANGE = (60.0, 500.0)  # Hz searched
ACTIVE_DB = 40.0
VOICING = 0.5
BLOCK = 500  # clips per pass: bounds memory
REPRESENTATIONS = {  # baseline representation name -> what it is (columns of `summarise`)
    "rms_level": "RMS level of the active frames (dB)",
    "active_duration": "speaking time: seconds within 40 dB of the loudest frame",
    "median_f0": "median f0 of the voiced frames (0 if none)",
    "level_duration_f0": "the three trivial features together",
}


def _frames(audio: torch.Tensor) -> torch.Tensor:
    """(clips, samples at 16 kHz) -> (clips, frames, FRAME) at 8 kHz."""
    halved = audio[:, : audio.shape[1] // 2 * 2].reshape(len(audio), -1, 2).mean(dim=2)
    return halved.unfold(1, FRAME, HOP)


def summarise(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(clips, 3): level_db, active_seconds, f0_hz of 16 kHz clips."""
    if sample_rate != 2 * RATE:
        raise ValueError(f"trivial features expect 16 kHz audio, got {sample_rate} Hz")
    import torch

    frames = _frames(torch.from_numpy(np.asarray(audio, dtype=np.float32)))
    energy = (frames**2).mean(dim=2)  # (clips, frames)
    peak = energy.max(dim=1, keepdim=True).values.clamp_min(1e-20)
    active = energy >= peak * 10 ** (-ACTIVE_DB / 10)
    level = 10 * torch.log10((energy * active).sum(1) / active.sum(1).clamp_min(1) + 1e-20)
    centred = frames - frames.mean(dim=2, keepdim=True)
    spectrum = torch.fft.rfft(centred, n=2 * FRAME)
    autocorrelation = torch.fft.irfft(spectrum.abs() ** 2, n=2 * FRAME)[..., :FRAME]
    shortest, longest = int(RATE / F0_RANGE[1]), int(RATE / F0_RANGE[0])
    normalised = autocorrelation[..., shortest : longest + 1] / autocorrelation[..., :1].clamp_min(1e-20)
    strength, lag = normalised.max(dim=2)
    voiced = active & (strength >= VOICING)
    f0 = RATE / (lag + shortest).float()
    f0 = torch.where(voiced, f0, torch.nan).nanmedian(dim=1).values.nan_to_num(0.0)
    seconds = active.sum(1).float() * HOP / RATE
    return torch.stack([level, seconds, f0], dim=1).numpy()


def trivial_features(dataset: Dataset) -> np.ndarray:
    """`summarise` over every clip of a dataset, a block at a time."""
    sample_rate = int(dataset.manifest["audio"]["sample_rate"])
    clips = dataset.audio.shape[0]
    return np.concatenate(
        [summarise(dataset.waveforms(slice(s, s + BLOCK)), sample_rate) for s in range(0, clips, BLOCK)]
    )


def representations(dataset: Dataset) -> dict[str, np.ndarray]:
    """Every representation of REPRESENTATIONS of a dataset's clips, (clips, width) each."""
    acoustic = trivial_features(dataset)
    singles = {name: acoustic[:, [column]] for column, name in enumerate(list(REPRESENTATIONS)[:3])}
    return {**singles, "level_duration_f0": acoustic}
