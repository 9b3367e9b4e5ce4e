"""Dataset store: atomic writes under signals and full disks, clear errors on damage."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from synaudio import cli, store
from synaudio.protocol import PAPER
from synaudio.studies.syntone import dataset as syntone
from tests.conftest import BIN, TINY


def no_tracking(tree: dict) -> dict:
    return {**tree, "tracking": {"enabled": False}}


BIG = no_tracking(
    {
        "syntone": {
            "duration": 0.5,
            "chunk_mb": 1,
            "frequency": {"start": 440.0, "stop": 8000.0, "levels": 400},
        },
        "features": {"hop_length": 256},  # 0.5 s still gives the backbone's 32 frames
    }
)  # 32,000 clips of 0.5 s: 1 GB, a few seconds to write - long enough to interrupt


def generate_in_process(params: Path, out: Path, *extra: str) -> int:
    """`synaudio syntone --protocol paper` through the CLI's main(), in this process
    (so monkeypatches apply); returns the exit status."""
    return cli.main(["--params", str(params), "syntone", "--protocol", "paper", "--out", str(out), *extra])


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.exists() else []


def start_and_interrupt(params: Path, out: Path, sig: signal.Signals) -> subprocess.Popen:
    process = subprocess.Popen(
        [BIN / "synaudio", "--params", params, "syntone", "--protocol", "paper", "--out", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    partial = out.parent / f".{out.name}.tmp-{process.pid}" / "audio.npy"
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size > 1 << 20):
        assert process.poll() is None, f"finished before it could be interrupted: {process.stderr.read()}"
        assert time.monotonic() < deadline, "the temporary audio file never appeared"
        time.sleep(0.01)
    process.send_signal(sig)
    process.wait(timeout=60)
    return process


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_generation_leaves_nothing_behind(tmp_path: Path, write_params, sig) -> None:
    out = tmp_path / "out" / "dataset"
    process = start_and_interrupt(write_params(BIG), out, sig)
    assert process.returncode != 0
    assert leftovers(out.parent) == []


def test_killed_generation_keeps_the_previous_dataset_and_the_next_run_cleans_up(
    tmp_path: Path, write_params
) -> None:
    out = tmp_path / "out" / "dataset"
    small = write_params(no_tracking(TINY), tmp_path / "small.yaml")
    subprocess.run(
        [BIN / "synaudio", "--params", small, "syntone", "--protocol", "paper", "--out", out], check=True
    )
    before = store.load_dataset(out, verify=True).manifest

    process = start_and_interrupt(write_params(BIG), out, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert store.load_dataset(out, verify=True).manifest == before  # untouched, still whole
    assert any(name.startswith(".dataset.tmp-") for name in leftovers(out.parent))  # SIGKILL can't clean

    subprocess.run(
        [BIN / "synaudio", "--params", small, "syntone", "--protocol", "paper", "--out", out], check=True
    )
    assert leftovers(out.parent) == ["dataset"]


def test_disk_full_mid_write_gives_one_message_and_no_partial_output(
    tmp_path: Path, write_params, monkeypatch, capsys
) -> None:
    calls = {"n": 0}
    real = store._write_and_hash

    def fills_up(handle, digest, data) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # header and one chunk went through; the disk is now full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(handle, digest, data)

    monkeypatch.setattr(store, "_write_and_hash", fills_up)
    out = tmp_path / "out" / "dataset"
    status = generate_in_process(
        write_params(no_tracking(TINY)), out, "--summary", str(tmp_path / "out" / "s.json")
    )
    assert status == 2
    assert calls["n"] == 3
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1 and "No space left on device" in message[0] and str(out) in message[0]
    assert leftovers(out.parent) == []


def test_too_small_a_disk_is_refused_before_writing(tmp_path: Path, write_params, capsys) -> None:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        out = mount / "dataset"
        status = generate_in_process(write_params(no_tracking(TINY)), out)
        assert status == 2
        assert "not enough space" in capsys.readouterr().err
        assert leftovers(mount) == []
    finally:
        subprocess.run(["umount", mount], check=True)


def test_unwritable_output_location_is_named(tmp_path: Path, write_params, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    status = generate_in_process(write_params(no_tracking(TINY)), blocker / "dataset")
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write to {blocker}") and "writable output path" in err


@pytest.fixture
def dataset(tmp_path: Path, tiny) -> Path:
    syntone.build(tiny.syntone, PAPER, tmp_path / "d")
    return tmp_path / "d"


def test_truncated_audio_is_reported_with_the_fix(dataset: Path, cli) -> None:
    audio = dataset / "audio.npy"
    os.truncate(audio, audio.stat().st_size - 100)
    with pytest.raises(store.UserError, match=r"audio\.npy has \d+ bytes, the manifest says \d+"):
        store.load_dataset(dataset)
    result = cli("verify", dataset)
    assert result.returncode == 2
    assert "damaged" in result.stderr and "dvc repro --force" in result.stderr


def test_flipped_byte_is_caught_by_verification(dataset: Path) -> None:
    with open(dataset / "audio.npy", "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 0xFF]))
    store.load_dataset(dataset)  # sizes still agree: the fast structural check passes
    with pytest.raises(store.UserError, match="does not match its SHA-256"):
        store.load_dataset(dataset, verify=True)


@pytest.mark.parametrize("victim", ["manifest.json", "factors.csv"])
def test_missing_or_broken_pieces_are_named(dataset: Path, victim: str) -> None:
    (dataset / victim).write_text("{ truncated")
    with pytest.raises(store.UserError, match=victim.replace(".", r"\.")):
        store.load_dataset(dataset)
