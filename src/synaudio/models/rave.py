"""A RAVE-style waveform VAE (Caillon & Esling 2021, laid out like RAVE v2), sized for CPUs.

* **PQMF**: a 16-band pseudo-quadrature-mirror filter bank. The prototype is a Kaiser-
  window low-pass (100 dB stop band); its cutoff is the one that makes the prototype's
  autocorrelation vanish at the non-zero multiples of 2 x bands (Lin & Vaidyanathan 1998),
  which is what makes analysis then synthesis return the signal (near-perfect
  reconstruction: tests/test_rave.py measures it). Analysis and synthesis are strided
  (transposed) convolutions centred on the clip, so band frame m stands for samples
  m x bands onwards.
* **Encoder**: the bands -> a wide convolution -> per stage, dilated residual units then a
  strided convolution (RAVE v2's ratios; channels double at every stage) -> the posterior
  mean and scale of every latent frame (scale = softplus + 1e-4, as RAVE's).
* **Decoder**: the mirror image with transposed convolutions; its last layer gives each
  band a waveform and an amplitude envelope (RAVE v2's amplitude modulation), then the
  PQMF synthesises the clip.
* **Loss**: RAVE's multi-scale spectral distance - per STFT scale, the relative squared
  error of the magnitudes plus the L1 distance of their logarithms - and beta x the KL
  summed over latent channels, averaged over batch and frames (RAVE's convention).

Left out on a CPU (the README lists every deviation): the adversarial phase, the noise
synthesiser, weight normalisation and causal (cached) convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.signal import firwin, kaiserord
from torch import nn
from torch.nn import functional as F

from synaudio.models.objectives import Objective, register
from synaudio.models.specs import RaveSpec
from synaudio.store import INT16_SCALE

LOG_EPSILON = 1e-7  # RAVE's, inside the log of the spectral distance
SCALE_FLOOR = 1e-4  # RAVE's: the posterior scale is softplus(.) + this
SLOPE = 0.2  # LeakyReLU


@cache
def prototype_filter(bands: int, attenuation: float = 100.0) -> np.ndarray:
    """The PQMF prototype low-pass (odd length, symmetric): a Kaiser window for
    `attenuation` dB whose cutoff minimises the worst autocorrelation at lags 2 x bands x k,
    k >= 1 - the condition for the cosine-modulated bank to reconstruct (near-)perfectly."""
    taps, beta = kaiserord(attenuation, 1.0 / bands)  # transition width pi / bands
    taps |= 1

    def leak(cutoff: float) -> float:
        h = firwin(taps, cutoff, window=("kaiser", beta), scale=False)
        autocorrelation = np.convolve(h, h[::-1])
        return float(np.abs(autocorrelation[taps - 1 + 2 * bands :: 2 * bands]).max())

    best = minimize_scalar(leak, bounds=(0.25 / bands, 1.0 / bands), method="bounded",
                           options={"xatol": 1e-10})  # fmt: skip
    return firwin(taps, best.x, window=("kaiser", beta), scale=False)


class PQMF(nn.Module):
    """Analysis (B, 1, T) -> (B, bands, T / bands) and synthesis back; T a multiple of bands."""

    def __init__(self, bands: int = 16, attenuation: float = 100.0) -> None:
        super().__init__()
        h = prototype_filter(bands, attenuation)
        taps = len(h)
        n = np.arange(taps) - (taps - 1) / 2
        k = np.arange(bands)[:, None]
        phase = (-1.0) ** k * np.pi / 4
        carrier = (2 * k + 1) * np.pi / (2 * bands) * n
        analysis = 2 * h * np.cos(carrier + phase)
        synthesis = 2 * h * np.cos(carrier - phase)
        self.bands, self.taps = bands, taps
        # conv1d correlates: the analysis filters flipped make it a convolution
        self.register_buffer("analysis", torch.from_numpy(analysis[:, None, ::-1].copy()).float())
        self.register_buffer("synthesis", torch.from_numpy(synthesis[:, None, :].copy()).float())

    def receptive_geometry(self) -> tuple[int, int, int]:
        """Kernel, stride and dilation of the analysis, for synaudio.models.receptive."""
        return self.taps, self.bands, 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Analysis: (B, 1, T) -> (B, bands, T / bands)."""
        if x.shape[-1] % self.bands:
            raise ValueError(f"PQMF: {x.shape[-1]} samples is not a multiple of {self.bands} bands")
        half = (self.taps - 1) // 2
        return F.conv1d(F.pad(x, (half, half)), self.analysis, stride=self.bands)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Synthesis: (B, bands, L) -> (B, 1, L x bands)."""
        half = (self.taps - 1) // 2
        full = F.conv_transpose1d(y, self.synthesis, stride=self.bands) * self.bands
        return full[..., half : half + y.shape[-1] * self.bands]


class ResidualUnit(nn.Module):
    """x + conv1x1(act(dilated conv(act(x)))): RAVE v2's residual block."""

    def __init__(self, width: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.LeakyReLU(SLOPE),
            nn.Conv1d(width, width, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2),
            nn.LeakyReLU(SLOPE),
            nn.Conv1d(width, width, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@dataclass(frozen=True)
class RaveShape:
    """The network's size: PQMF bands, base width (doubled per stage), the stages' strides
    and the dilations of each stage's residual units, the kernel of the dilated convs."""

    bands: int = 16
    capacity: int = 16
    ratios: tuple[int, ...] = (4, 2, 2, 2)
    dilations: tuple[tuple[int, ...], ...] = ((1, 3, 9), (1, 3, 9), (1, 3, 9), (1, 3))
    kernel: int = 3

    @property
    def hop(self) -> int:
        """Samples per latent frame."""
        return self.bands * int(np.prod(self.ratios))


class RaveEncoder(nn.Module):
    """Waveform (B, 1, T) -> posterior mean and log-variance per latent frame, (B, D, T / hop)."""

    def __init__(self, shape: RaveShape, latent_dim: int, pqmf: PQMF) -> None:
        super().__init__()
        self.pqmf = pqmf
        width = shape.capacity
        layers: list[nn.Module] = [nn.Conv1d(shape.bands, width, 7, padding=3)]
        for ratio, dilations in zip(shape.ratios, shape.dilations, strict=True):
            layers += [ResidualUnit(width, shape.kernel, d) for d in dilations]
            layers += [
                nn.LeakyReLU(SLOPE),
                nn.Conv1d(width, 2 * width, 2 * ratio, stride=ratio, padding=ratio // 2),
            ]
            width *= 2
        layers += [
            nn.LeakyReLU(SLOPE),
            nn.Conv1d(width, 2 * latent_dim, shape.kernel, padding=shape.kernel // 2),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, scale = self.net(self.pqmf(x)).chunk(2, dim=1)
        std = F.softplus(scale) + SCALE_FLOOR
        return mean, 2 * torch.log(std)


class RaveDecoder(nn.Module):
    """Latent frames (B, D, L) -> waveform (B, 1, L x hop)."""

    def __init__(self, shape: RaveShape, latent_dim: int, pqmf: PQMF) -> None:
        super().__init__()
        self.pqmf = pqmf
        width = shape.capacity * 2 ** len(shape.ratios)
        layers: list[nn.Module] = [nn.Conv1d(latent_dim, width, shape.kernel, padding=shape.kernel // 2)]
        for ratio, dilations in zip(shape.ratios[::-1], shape.dilations[::-1], strict=True):
            layers += [
                nn.LeakyReLU(SLOPE),
                nn.ConvTranspose1d(width, width // 2, 2 * ratio, stride=ratio, padding=ratio // 2),
            ]
            width //= 2
            layers += [ResidualUnit(width, shape.kernel, d) for d in dilations]
        layers += [nn.LeakyReLU(SLOPE), nn.Conv1d(width, 2 * shape.bands, 7, padding=3)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        waveform, amplitude = self.net(z).chunk(2, dim=1)
        return self.pqmf.inverse(waveform * torch.sigmoid(amplitude))


class RaveStyle(nn.Module):
    """Encoder, decoder and their shared PQMF; `forward` samples z (B, D, frames) from the
    posterior and decodes it."""

    def __init__(self, latent_dim: int, shape: RaveShape = RaveShape()) -> None:
        super().__init__()
        self.shape = shape
        pqmf = PQMF(shape.bands)
        self.encoder = RaveEncoder(shape, latent_dim, pqmf)
        self.decoder = RaveDecoder(shape, latent_dim, pqmf)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mean, log_var = self.encoder(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return {"reconstruction": self.decoder(z), "mean": mean, "log_var": log_var, "z": z}


def multiscale_spectral_distance(
    x: torch.Tensor, y: torch.Tensor, scales: tuple[int, ...] = (2048, 1024, 512, 256, 128)
) -> torch.Tensor:
    """RAVE's spectral distance of reconstruction `y` from target `x`, (B, 1, T) each: per
    scale (Hann window, hop scale / 4), mean((|X| - |Y|)^2) / mean(|X|^2) over the batch plus
    mean(| log(|X| + eps) - log(|Y| + eps) |); summed over scales."""
    distance = x.new_zeros(())
    for scale in scales:
        window = torch.hann_window(scale, device=x.device, dtype=x.dtype)
        spectra = [
            torch.stft(s.flatten(0, 1), scale, scale // 4, window=window, return_complex=True).abs()
            for s in (x, y)
        ]
        target, value = spectra
        linear = ((target - value) ** 2).mean() / (target**2).mean().clamp_min(1e-12)
        log = (torch.log(target + LOG_EPSILON) - torch.log(value + LOG_EPSILON)).abs().mean()
        distance = distance + linear + log
    return distance


def rave_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """RAVE's KL: (mean^2 + var - log var - 1) summed over latent channels, averaged over
    batch and frames (twice the usual Gaussian KL per frame; beta absorbs the factor)."""
    return (mean**2 + log_var.exp() - log_var - 1).sum(1).mean()


def random_windows(clips: torch.Tensor, length: int) -> torch.Tensor:
    """One window of `length` samples per clip (B, 1, T) -> (B, 1, length) as float in [-1, 1],
    its start drawn from torch's global generator (seeded per epoch by the training loop).

    The window lies within the clip's sounding part - up to its last non-zero sample, since
    SynSpeech pads with exact zeros: a window of digital silence has no spectrum to compare
    (the relative term's denominator vanishes; measured: batch losses of 1e5 and a diverging
    KL before this rule). A clip shorter than the window starts it at 0."""
    sounding = clips[:, 0] != 0
    positions = torch.arange(clips.shape[-1], device=clips.device)
    end = torch.where(sounding, positions + 1, 0).amax(dim=1)  # one past the last non-zero sample
    last_start = (end - length).clamp(min=0, max=clips.shape[-1] - length)
    starts = (torch.rand(clips.shape[0], device=clips.device) * (last_start + 1)).long().unsqueeze(1)
    window = clips[:, 0].gather(1, starts + positions[:length]).unsqueeze(1)
    return window.float() / INT16_SCALE if clips.dtype == torch.int16 else window.float()


@register
class RaveObjective(Objective):
    """RAVE's first (representation) phase: spectral distance + weight x beta x KL."""

    name = "rave"
    spec: RaveSpec

    def losses(self, x: torch.Tensor, backbone: nn.Module, weight: float = 1.0) -> dict[str, torch.Tensor]:
        window = random_windows(x, self.spec.crop_samples)
        out = backbone(window)
        distance = multiscale_spectral_distance(window, out["reconstruction"], tuple(self.spec.scales))
        kl = rave_kl(out["mean"], out["log_var"])
        return {"loss": distance + weight * self.spec.beta * kl, "spectral_distance": distance, "kl": kl}
