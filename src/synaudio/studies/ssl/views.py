"""Two random views of a batch of log-mels, made on the fly from torch's global RNG (which
pretraining seeds per epoch from params, so a run's views are a function of its seed).

Inputs are the archive's log-mels: dB floored `top_db` below a peak and scaled to [0, 1]
(synaudio.features). Every view is a time crop at a random offset (crop and shift); the
others each apply with probability `p` (SSL.md; our reading of the mel-domain forms):

* noise: mel power 10^(x top_db / 10) plus noise, flat over the mel bands with
  exponentially distributed bins, at an SNR drawn uniformly in `snr_db` relative to the
  clip's mean power - back to the same dB scale;
* time and frequency masks: one band of up to `time_mask` frames / `mel_mask` mels set
  to the floor (SpecAugment's masks);
* filter: a gentle spectral tilt, a straight line in dB across the mel bands with its
  ends within +-`tilt_db` - it changes the balance of low and high bands, not the level.

No pitch or formant change (they would alter the speaker factor) and no gain change
(the styles differ in level: a gain view would teach invariance to a style cue).
"""

from __future__ import annotations

import torch

from synaudio.params import SslViews


def _chance(n: int, p: float) -> torch.Tensor:
    return (torch.rand(n) < p).view(n, 1, 1)


def _band_mask(n: int, length: int, widest: int) -> torch.Tensor:
    """(n, length) booleans: one band of 0..widest positions per row at a random start."""
    width = torch.randint(0, widest + 1, (n, 1))
    start = (torch.rand(n, 1) * (length - width + 1)).floor()
    positions = torch.arange(length).view(1, length)
    return (positions >= start) & (positions < start + width)


def view(x: torch.Tensor, settings: SslViews, top_db: float) -> torch.Tensor:
    """One random view of (N, mels, frames) log-mels -> (N, mels, crop_frames)."""
    n, mels, frames = x.shape
    crop = settings.crop_frames
    start = torch.randint(0, frames - crop + 1, (n,))
    x = x.gather(2, (start.view(n, 1, 1) + torch.arange(crop).view(1, 1, crop)).expand(n, mels, crop))
    scale = top_db / 10.0
    power = torch.pow(10.0, x * scale)
    snr = settings.snr_db[0] + torch.rand(n, 1, 1) * (settings.snr_db[1] - settings.snr_db[0])
    level = power.mean(dim=(1, 2), keepdim=True) / torch.pow(10.0, snr / 10)
    noise = torch.empty_like(power).exponential_() * level
    noisy = torch.log10(power + noise) / scale
    x = torch.where(_chance(n, settings.p), noisy.clamp(0.0, 1.0), x)
    tilt = (torch.rand(n, 1, 1) * 2 - 1) * settings.tilt_db * torch.linspace(-1, 1, mels).view(1, mels, 1)
    x = torch.where(_chance(n, settings.p), (x + tilt / top_db).clamp(0.0, 1.0), x)
    time = _band_mask(n, crop, settings.time_mask).view(n, 1, crop) & _chance(n, settings.p)
    mel = _band_mask(n, mels, settings.mel_mask).view(n, mels, 1) & _chance(n, settings.p)
    return x.masked_fill(time | mel, 0.0)


def two_views(x: torch.Tensor, settings: SslViews, top_db: float) -> tuple[torch.Tensor, torch.Tensor]:
    return view(x, settings, top_db), view(x, settings, top_db)
