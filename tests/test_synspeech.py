"""SynSpeech generation: the grid, byte-identical output for any worker count, resumable chunks,
the checks, and pool workers that stop when told."""

from __future__ import annotations

import json
import multiprocessing
import signal
from pathlib import Path

import numpy as np
import pytest

from synaudio import cli
from synaudio.errors import UserError
from synaudio.params import SynSpeech, VoiceBank
from synaudio.store import load_dataset
from synaudio.studies.synspeech import checks
from synaudio.studies.synspeech import dataset as generate
from synaudio.studies.synspeech.voicebank import build as build_bank

STYLES = ["default", "friendly", "sad", "whispering"]


def _spec(**overrides: object) -> SynSpeech:
    tree = {
        "voicebank": VoiceBank(seed=0, speakers=4),
        "versions": {"tiny": {"speakers": 2, "texts": 3, "styles": STYLES}},
        "chunk_clips": 8,
        "workers": 1,
        **overrides,
    }
    return SynSpeech.model_validate(tree, strict=False)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bank") / "data"
    build_bank(VoiceBank(seed=0, speakers=4), path)
    return path


def test_the_grid_and_its_factor_table(bank: Path, tmp_path: Path) -> None:
    generate.build(bank, _spec(), "tiny", tmp_path / "tiny")
    dataset = load_dataset(tmp_path / "tiny", verify=True)
    assert dataset.audio.shape == (2 * 3 * 4, round(3.5 * 16000)) and dataset.audio.dtype == np.int16
    factors = dataset.factors
    assert factors["style"].tolist() == STYLES * 6  # style innermost, speaker outermost
    assert factors["gender"].tolist()[:12:4] == ["female"] * 3 and factors["gender"].iloc[12] == "male"
    assert factors["keyword"].nunique() <= 3 and factors["text"].nunique() == 3
    assert (factors["speech_samples"] > 0.8 * 16000).all()
    for row, clip in zip(factors.itertuples(), dataset.audio, strict=True):  # padded with silence only
        assert not clip[row.speech_samples :].any() and clip[: row.speech_samples].any()
    seconds = factors.groupby("style")["speech_samples"].mean() / 16000
    assert seconds["sad"] > seconds["default"] > seconds["friendly"]  # style changes the timing


def test_same_bytes_whatever_the_worker_count(bank: Path, tmp_path: Path) -> None:
    one = generate.build(bank, _spec(workers=1), "tiny", tmp_path / "one")
    two = generate.build(bank, _spec(workers=2, chunk_clips=5), "tiny", tmp_path / "two")
    assert one["files"] == two["files"]  # SHA-256 of audio and factors


def test_an_interrupted_generation_resumes_at_the_first_unfinished_chunk(
    bank: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = generate.build(bank, _spec(), "tiny", tmp_path / "clean")
    out, parts = tmp_path / "run" / "tiny", tmp_path / "run" / ".tiny.parts"
    real_fit, calls = generate._fit, []

    def failing_after(limit: int):
        def fit(samples: np.ndarray, length: int) -> np.ndarray:
            calls.append(1)
            if len(calls) > limit:
                raise KeyboardInterrupt  # as if the run were stopped here
            return real_fit(samples, length)

        return fit

    monkeypatch.setattr(generate, "_fit", failing_after(12))  # dies inside the second chunk
    with pytest.raises(KeyboardInterrupt):
        generate.build(bank, _spec(), "tiny", out)
    assert not out.exists() and sorted(p.name for p in parts.iterdir()) == ["chunk-00000.npz"]
    first = (parts / "chunk-00000.npz").stat().st_mtime_ns
    calls.clear()
    monkeypatch.setattr(generate, "_fit", failing_after(8))  # the second chunk again, then stop
    with pytest.raises(KeyboardInterrupt):
        generate.build(bank, _spec(), "tiny", out)
    assert (parts / "chunk-00000.npz").stat().st_mtime_ns == first  # not synthesised again
    assert sorted(p.name for p in parts.iterdir()) == ["chunk-00000.npz", "chunk-00001.npz"]
    monkeypatch.setattr(generate, "_fit", real_fit)
    resumed = generate.build(bank, _spec(), "tiny", out)
    assert resumed["files"] == clean["files"] and not parts.exists()


def test_checks_pass_on_good_audio_and_name_a_silent_clip(bank: Path, tmp_path: Path) -> None:
    generate.build(bank, _spec(), "tiny", tmp_path / "tiny")
    report = checks.check(tmp_path / "tiny", tmp_path / "checks.json")
    assert set(report["violations"].values()) == {0}
    assert report["whisper_voiced_fraction_max"] <= checks.WHISPER_VOICED
    assert 0.9 <= report["f0_over_base_pitch"]["median"] <= 1.6
    audio = np.load(tmp_path / "tiny" / "audio.npy", mmap_mode="r+")
    audio[5] = 0  # a speaker variant that produced silence
    audio.flush()
    with pytest.raises(UserError, match="silent"):
        checks.check(tmp_path / "tiny", tmp_path / "checks.json")
    assert json.loads((tmp_path / "checks.json").read_text())["examples"]["silent"] == [5]


def test_pitch_is_measured_at_the_fundamental_when_a_harmonic_dominates() -> None:
    # A low voice (80 Hz) whose third harmonic (a formant near 240 Hz) carries most energy:
    # the raw autocorrelation, shrinking with the lag, peaked at the harmonic's period
    # (Large's checks measured 22 sad low male clips at 218-432 Hz this way).
    t = np.arange(checks.RATE) / checks.RATE
    voice = 0.3 * np.sin(2 * np.pi * 80 * t) + np.sin(2 * np.pi * 240 * t)
    clip = np.round(voice / np.abs(voice).max() * 0.5 * 32767).astype(np.int16)
    f0, voiced = checks.pitch_track(clip, clip.size)
    assert f0 == pytest.approx(80, rel=0.02)
    assert voiced == 1.0


def _sigterm_disposition(_: int) -> bool:
    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_pool_workers_die_on_sigterm_while_the_cli_unwinds_on_it() -> None:
    # Pool.terminate() stops idle workers with SIGTERM; the CLI's Python-level handler,
    # inherited through fork, could miss one landing just before a worker blocked (a hang).
    previous = signal.getsignal(signal.SIGTERM)
    try:
        cli.install_signal_handlers()
        assert signal.getsignal(signal.SIGTERM) is cli._terminate
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert pool.map(_sigterm_disposition, range(2)) == [True, True]
    finally:
        signal.signal(signal.SIGTERM, previous)
