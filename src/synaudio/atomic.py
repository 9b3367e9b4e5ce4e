"""Atomic outputs: a stage's result appears whole or not at all.

Everything is written under a hidden temporary name next to the target and renamed
into place only when complete, so a killed process, a full disk or an exception never
leaves a half-written artifact for DVC to cache. Temporaries left by a SIGKILLed run
are removed by the next run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synaudio.errors import UserError


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(target: Path) -> None:
    """Delete temporaries of `target` whose writing process no longer exists."""
    for leftover in target.parent.glob(f".{target.name}.*-*"):
        kind_pid = leftover.name.rsplit(".", 1)[-1]  # "tmp-<pid>" or "old-<pid>"
        kind, _, pid = kind_pid.partition("-")
        if kind in ("tmp", "old") and pid.isdigit() and not pid_alive(int(pid)):
            _remove(leftover)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _prepare_parent(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe = target.parent / f".{target.name}.probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UserError(
            f"cannot write to {target.parent}: {exc.strerror or exc}; "
            "choose a writable output path or fix its permissions"
        ) from None


# What every directory the archive writes holds (dataset, features, voice bank: a manifest;
# model: training.json; report: results.csv; codes: representation.json): a folder with none
# of them is not ours.
SIGNATURES = ("manifest.json", "training.json", "results.csv", "representation.json")


def _refuse_foreign(target: Path) -> None:
    """Replace only what we wrote: an existing file, or a non-empty folder without one of
    our signature files, stops the command before anything is written."""
    if target.is_symlink() or not target.exists():
        return
    if not target.is_dir():
        raise UserError(f"{target} exists and is a file, not an output folder; choose another output path")
    if any(target.iterdir()) and not any((target / name).is_file() for name in SIGNATURES):
        raise UserError(
            f"{target} exists and holds files this archive did not write (no {' / '.join(SIGNATURES)}); "
            "refusing to replace it: choose another output path, or move it away yourself"
        )


@contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces `target` when the block succeeds."""
    target = Path(target)
    _refuse_foreign(target)
    _prepare_parent(target)
    _remove_stale_temporaries(target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    _remove(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if target.exists() or target.is_symlink():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.rename(target, old)
            os.rename(tmp, target)
            _remove(old)
        else:
            os.rename(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a small text file so that readers see the old or the new content, never half."""
    path = Path(path)
    _prepare_parent(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
