"""SynSpeech's voice bank: reproducible, balanced, and its voices speak as their parameters say."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from pydantic import ValidationError

from synaudio.params import VoiceBank, load_params
from synaudio.studies.synspeech.checks import pitch_track
from synaudio.studies.synspeech.voicebank import RANGES, build
from tests.conftest import BIN, REPO, dvc, git


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_speakers_alternate_gender(tmp_path: Path) -> None:
    spec = VoiceBank(seed=3, speakers=6)
    build(spec, tmp_path / "a")
    build(spec, tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    speakers = pd.read_csv(tmp_path / "a" / "speakers.csv")
    assert speakers["gender"].tolist() == ["female", "male"] * 3
    for row in speakers.itertuples():
        low, high = RANGES[row.gender]["pitch_base_hz"]
        assert low <= row.pitch_base_hz <= high and row.pitch_base_hz < row.pitch_top_hz
    for kind in ("normal", "whisper"):
        variants = tmp_path / "a" / "voices" / kind / "espeak-ng-data" / "voices" / "!v"
        assert sorted(p.name for p in variants.iterdir()) == speakers["speaker_id"].tolist()
    build(VoiceBank(seed=4, speakers=6), tmp_path / "c")
    assert _tree(tmp_path / "c") != _tree(tmp_path / "a")


def _speak(bank: Path, kind: str, speaker: str) -> np.ndarray:
    command = ["espeak-ng", f"--path={bank / 'voices' / kind}", "-v", f"en+{speaker}", "--stdout"]
    wav = subprocess.run([*command, "my answer is apple"], capture_output=True, check=True).stdout
    resampled = subprocess.run(
        ["sox", "-R", "-t", "wav", "-", "-r", "16000", "-b", "16", "-t", "wav", "-"],
        input=wav, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return soundfile.read(io.BytesIO(resampled))[0]


def test_bank_voices_speak_at_their_pitch_and_whisper_unvoiced(tmp_path: Path) -> None:
    build(VoiceBank(seed=0, speakers=2), tmp_path / "bank")
    speakers = pd.read_csv(tmp_path / "bank" / "speakers.csv").set_index("speaker_id")
    for speaker, row in speakers.iterrows():
        audio = _speak(tmp_path / "bank", "normal", speaker)
        f0, voiced = pitch_track(np.round(audio * 32767).astype(np.int16), audio.size)
        assert voiced > 0.3  # share of loud frames that are periodic (whisper: 0)
        assert row.pitch_base_hz * 0.9 <= f0 <= row.pitch_top_hz * 1.1
        whisper = _speak(tmp_path / "bank", "whisper", speaker)
        assert pitch_track(np.round(whisper * 32767).astype(np.int16), whisper.size) == (0.0, 0.0)


def test_speaker_counts_espeak_cannot_hold_are_refused() -> None:
    with pytest.raises(ValidationError, match="odd"):
        VoiceBank(speakers=249)
    with pytest.raises(ValidationError):
        VoiceBank(speakers=350)  # espeak-ng lists 349 voices per data directory, then fails


def test_missing_engine_names_the_debian_packages(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(BIN)}  # the venv only: no espeak-ng, no sox
    result = subprocess.run(
        [BIN / "synaudio", "voicebank", "--out", tmp_path / "data"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "apt-get install espeak-ng sox" in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_rebuild_matches_the_hash_pinned_in_data_dvc(tmp_path: Path, tracking_uri: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("data.dvc", "params.yaml", ".dvcignore"):
        shutil.copy2(REPO / name, project / name)
    shutil.copytree(
        REPO / ".dvc", project / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp", "config.local")
    )
    git(project, "init", "-q")
    build(load_params(REPO / "params.yaml").synspeech.voicebank, project / "data")
    dvc(project, "add", "-q", "data", tracking_uri=tracking_uri)
    assert (project / "data.dvc").read_text() == (REPO / "data.dvc").read_text()
