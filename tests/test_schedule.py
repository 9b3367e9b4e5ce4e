"""`synaudio schedule`: DVC stages side by side on real `dvc repro`, in DAG order, failures named.

The tiny pipeline itself is built by the scheduler (tests/conftest.py `reproduced`), and its
pinned outputs and `dvc repro`'s "up to date" prove it records what `dvc repro` would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from tests.conftest import BIN, git

# Each stage writes "<start> <end>" (epoch seconds, around a pause) to <name>.txt.
STEP = "python -c \"import sys, time; t = time.time(); time.sleep({pause}); open('{name}.txt', 'w').write(f'{{t}} {{time.time()}}')\""  # noqa: E501


def project(root: Path, fail: str | None = None) -> Path:
    """A git + DVC project: `first` alone, then `a` and `b` (parallel), then `last` after both."""
    stages = {
        "first": {"cmd": STEP.format(name="first", pause=0), "outs": ["first.txt"]},
        **{
            name: {
                "cmd": STEP.format(name=name, pause=2) if name != fail else "exit 3",
                "deps": ["first.txt"],
                "outs": [f"{name}.txt"],
                "meta": {"parallel": True},
            }
            for name in ("a", "b")
        },
        "last": {"cmd": STEP.format(name="last", pause=0), "deps": ["a.txt", "b.txt"], "outs": ["last.txt"]},
    }
    root.mkdir()
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (root / "params.yaml").write_text("training: {threads: 1}\n")
    git(root, "init", "-q")
    subprocess.run([BIN / "dvc", "init", "-q"], cwd=root, check=True)
    return root


def schedule(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.run(
        [BIN / "synaudio", "schedule", "--jobs", "2"], cwd=root, env=env, capture_output=True, text=True
    )


def times(root: Path, name: str) -> tuple[float, float]:
    start, end = (root / f"{name}.txt").read_text().split()
    return float(start), float(end)


def test_parallel_stages_overlap_and_the_rest_wait_for_them(tmp_path: Path) -> None:
    root = project(tmp_path / "project")
    result = schedule(root)
    assert result.returncode == 0, result.stdout + result.stderr
    (a_start, a_end), (b_start, b_end) = times(root, "a"), times(root, "b")
    assert a_start < b_end and b_start < a_end  # side by side
    assert times(root, "first")[1] <= min(a_start, b_start) and times(root, "last")[0] >= max(a_end, b_end)
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert sorted(lock) == ["a", "b", "first", "last"]  # recorded as dvc repro would
    again = schedule(root)
    assert "every stage is up to date" in again.stdout


def test_a_failing_stage_is_named_and_nothing_downstream_runs(tmp_path: Path) -> None:
    root = project(tmp_path / "project", fail="b")
    result = schedule(root)
    assert result.returncode == 2
    assert "error: stage(s) b failed" in result.stderr
    assert (root / "a.txt").exists() and not (root / "last.txt").exists()
