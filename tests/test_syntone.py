"""SynTone generator: grid order, waveform shapes, both time axes, determinism."""

from __future__ import annotations

import copy
import filecmp
from pathlib import Path

import numpy as np
import pytest

from synaudio.params import Params, SynTone
from synaudio.protocol import CORRECTED, PAPER, Protocol
from synaudio.store import load_dataset
from synaudio.studies.syntone import dataset as syntone
from tests.conftest import TINY


def spec(**changes) -> SynTone:
    """TINY's generator settings with changes (only the syntone section is validated:
    grids smaller than a training batch are fine for generator tests)."""
    return SynTone.model_validate({**copy.deepcopy(TINY["syntone"]), **changes})


def all_clips(s: SynTone, protocol: Protocol) -> np.ndarray:
    return np.concatenate(list(syntone.clip_chunks(s, protocol, max_clips=7)))


def test_grid_order_matches_the_reference() -> None:
    s = spec()
    table = syntone.factor_table(s, PAPER)
    amplitude_levels, waveforms = s.amplitude.levels, len(s.waveforms)
    expected = (table.frequency_idx * amplitude_levels + table.amplitude_idx) * waveforms + table.waveform_idx
    assert (table["clip"] == expected).all()
    assert list(table.waveform[:4]) == ["sine", "triangle", "sawtooth", "square"]
    assert table.frequency_hz.iloc[0] == 440.0 and table.frequency_hz.iloc[-1] == 8000.0
    assert np.allclose(sorted(set(table.amplitude)), [0.1, 0.55, 1.0])


def test_full_grid_has_32000_clips_in_paper_order() -> None:
    table = syntone.factor_table(Params().syntone, PAPER)
    assert len(table) == 32_000
    row = table.iloc[(123 * 20 + 7) * 4 + 2]
    assert (row.frequency_idx, row.amplitude_idx, row.waveform) == (123, 7, "sawtooth")
    assert np.isclose(row.frequency_hz, 440 + 123 * (8000 - 440) / 399)


def test_clips_are_amplitude_times_unit_waveforms_with_phase_zero() -> None:
    s = spec()
    clips = all_clips(s, CORRECTED)
    table = syntone.factor_table(s, CORRECTED)
    assert clips.shape == (s.n_clips, s.clip_samples)
    peaks = np.abs(clips).max(axis=1)
    audible = ~((table.waveform == "sine") & (table.frequency_hz == 8000.0))  # see the Nyquist test
    assert np.allclose(peaks[audible], table.amplitude[audible], rtol=1e-3)
    first = dict(zip(table.waveform, clips[:, 0] / table.amplitude, strict=False))
    assert first == {"sine": 0.0, "triangle": -1.0, "sawtooth": -1.0, "square": 1.0}


def test_square_has_half_duty_and_sawtooth_rises() -> None:
    s = spec(duration=1.0, frequency={"start": 500.0, "stop": 500.0, "levels": 1})
    units = syntone.unit_waveforms(s, CORRECTED, np.array([500.0]))[0]
    square, sawtooth = units[s.waveforms.index("square")], units[s.waveforms.index("sawtooth")]
    assert (square > 0).mean() == 0.5
    period = 16_000 // 500
    assert (np.diff(sawtooth[:period]) > 0).all()


def dominant_frequency(signal: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
    return float(np.fft.rfftfreq(signal.size, 1 / sample_rate)[spectrum.argmax()])


def test_corrected_time_axis_plays_the_nominal_frequency_and_paper_scales_it() -> None:
    s = spec(duration=1.0, waveforms=["sine"])
    assert syntone.effective_frequency_scale(s, CORRECTED) == 1.0
    assert syntone.effective_frequency_scale(s, PAPER) == pytest.approx(16000 / 15999)
    t_paper = syntone.time_axis(s, PAPER)
    assert t_paper[-1] == 1.0 and t_paper[1] == pytest.approx(1 / 15999)
    tone = syntone.unit_waveforms(s, CORRECTED, np.array([1000.0]))[0, 0]
    assert dominant_frequency(tone, 16000) == 1000.0
    # 0.0625 Hz of shift is invisible to a 1 Hz FFT grid: check sample values instead
    paper = syntone.unit_waveforms(s, PAPER, np.array([1000.0]))[0, 0]
    assert np.allclose(paper, np.sin(2 * np.pi * 1000 * np.arange(16000) / 15999))


def test_near_nyquist_the_paper_axis_gives_a_modulated_alternation() -> None:
    s = spec(duration=1.0, waveforms=["sine"])
    paper = syntone.unit_waveforms(s, PAPER, np.array([8000.0]))[0, 0]
    corrected = syntone.unit_waveforms(s, CORRECTED, np.array([8000.0]))[0, 0]
    signs = np.sign(paper[1000:1010])
    assert (signs[1:] == -signs[:-1]).all()  # +-1 alternation ...
    assert np.abs(paper[7990:8010]).max() > 0.99 and np.abs(paper[:10]).max() < 0.01  # ... slowly modulated
    assert np.abs(corrected).max() < 1e-9  # a phase-0 sine at exactly Nyquist samples to zeros


def test_bandlimited_synthesis_keeps_timbre_below_sr_over_6_and_loses_it_above() -> None:
    s = spec(duration=1.0, synthesis="bandlimited")
    low, high = syntone.unit_waveforms(s, CORRECTED, np.array([500.0, 3000.0]))
    naive_low = syntone.unit_waveforms(spec(duration=1.0), CORRECTED, np.array([500.0]))[0]
    for j in range(4):
        assert np.abs(low[j]).max() == pytest.approx(1.0)
        # same shape up to the Gibbs ripple and the aliased partials the naive one adds
        assert np.corrcoef(low[j], naive_low[j])[0, 1] > 0.94
    for name in ("triangle", "square"):  # a single partial left: the fundamental
        power = np.abs(np.fft.rfft(high[s.waveforms.index(name)])) ** 2
        assert power[3000] / power.sum() > 0.999999
    # the naive square at 3 kHz aliases: energy at frequencies that are not harmonics of 3 kHz
    naive_square = syntone.unit_waveforms(spec(duration=1.0), CORRECTED, np.array([3000.0]))[0, 3]
    spectrum = np.abs(np.fft.rfft(naive_square))
    assert spectrum[1000] > 0.01 * spectrum[3000]  # 3*3000 = 9000 folds to 7000, 5*3000 -> 1000
    assert np.abs(np.fft.rfft(high[3]))[1000] < 1e-6 * spectrum[3000]


def test_same_params_give_byte_identical_datasets_whatever_the_chunking(tmp_path: Path) -> None:
    first = syntone.build(spec(chunk_mb=1), PAPER, tmp_path / "a")
    second = syntone.build(spec(chunk_mb=64), PAPER, tmp_path / "b")
    assert first["files"] == second["files"]
    for name in ("audio.npy", "factors.csv"):
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False)
    assert first["spec"]["chunk_mb"] != second["spec"]["chunk_mb"]


def test_int16_storage_is_the_rounded_float_signal(tmp_path: Path) -> None:
    s = spec(sample_format="int16")
    syntone.build(s, CORRECTED, tmp_path / "d")
    dataset = load_dataset(tmp_path / "d", verify=True)
    assert dataset.audio.dtype == np.int16
    expected = np.rint(all_clips(s, CORRECTED) * 32767)
    assert np.array_equal(dataset.audio, expected)
    assert np.abs(dataset.waveforms() - expected / 32767).max() < 1e-6


def test_stored_float32_audio_and_factors_round_trip(tmp_path: Path) -> None:
    s = spec()
    manifest = syntone.build(s, PAPER, tmp_path / "d")
    dataset = load_dataset(tmp_path / "d", verify=True)
    assert np.array_equal(dataset.audio, all_clips(s, PAPER).astype(np.float32))
    assert dataset.factors.equals(syntone.factor_table(s, PAPER))
    assert manifest["spec"]["protocol"] == "paper" and manifest["audio"]["sample_rate"] == 16000
