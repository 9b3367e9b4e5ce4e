"""Shared fixtures: tiny parameters, the real CLI in a subprocess, a real MLflow backend."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from synaudio import features
from synaudio.params import Params, validate
from synaudio.protocol import PROTOCOLS
from synaudio.studies.syntone import dataset as syntone

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

TINY: dict[str, Any] = {
    "syntone": {
        "amplitude": {"start": 0.1, "stop": 1.0, "levels": 3},
        "frequency": {"start": 440.0, "stop": 8000.0, "levels": 5},
        "chunk_mb": 1,
    },  # 60 one-second clips: 48 to train on, 12 held out
    "features": {"batch_clips": 16},
    "models": {
        "vae": {"objective": "vae", "beta": 1.0},
        "factor_vae": {"objective": "factor_vae", "disc_hidden": 32, "disc_layers": 2, "batch_size": 16},
    },
    "training": {
        "models": ["vae", "factor_vae"],
        "batch_size": 8,
        "epochs": 2,
        "paper_seeds": [0, 1],
        "corrected_seeds": [0, 1],
        "corrected_epochs": None,
    },  # as the paper protocol: 2 epochs
    "evaluation": {"paper_repeats": 2},
    "tracking": {"experiment": "tests"},
    "synspeech": {
        "voicebank": {"seed": 0, "speakers": 6},
        "versions": {
            "small": {"speakers": 4, "texts": 10, "styles": ["default"]},
            "medium": {"speakers": 4, "texts": 5, "styles": ["default", "whispering"]},
            "large": {"speakers": 6, "texts": 4, "styles": ["sad"]},
        },
        "chunk_clips": 8,
    },  # 104 clips in all; a voice bank of 6 speakers built into each project copy
    "speech": {
        "models": ["vae", "factor_vae"],
        "seeds": [0],  # the default is full scale (three seeds)
        "split": {"test_fraction": 0.5, "seed": 0},  # 20 held-out clips for the metrics suite
        "latent_dim": 4,
        "batch_size": 8,
        "epochs": {"small": 1, "medium": 1},
        "bins": 4,
        "level_normalised": {"models": ["vae"]},
        "scored": {  # acids_rave declared, not run: it needs its own venv (make acids-venv)
            "rave_style": {"versions": ["small"], "seeds": [0], "page": "rave.html"},
            "acids_rave": {"versions": [], "seeds": [0]},
        },
    },
    "ssl": {  # pretraining on Large's speakers 4-5 (8 clips: 6 to train on), a network of ~100 weights
        "pretraining": {"version": "large", "first_speaker": 4, "held_out": 0.25, "seed": 0},
        "channels": [2, 4],
        "projector": [8, 8],
        "methods": {"bt": {"normalisation": "bt"}, "mbt_width": {"normalisation": "width"}},
        "arms": {"invariance_only": {"lambda_d": 0.0}},
        "seeds": [0],
        "arm_seeds": [0],
        "batch_size": 3,
        "epochs": 2,
        "finetune": {
            "methods": ["mbt_width"],
            "seeds": [0],
            "tasks": ["speaker", "style"],
            "fractions": [0.5, 1.0],
            "evaluate_at": [0, 2, 4],
            "batch_size": 4,
            "eval_clips": 8,
        },
        "vae_family": {"models": ["vae"], "seeds": [0]},
    },
    "analyses": {
        "layers": {
            "models": ["vae", "factor_vae"],
            "ssl_methods": ["bt", "mbt_width"],
            "seeds": [0],
            "clips": 20,
        },  # Small's held out
        "syntone_layers": {"models": ["vae", "factor_vae"], "seeds": [0, 1], "clips": 12},  # all held out
        "dynamics": {"models": ["vae", "factor_vae"], "clips": 12},
        "paper_dynamics": {"clips": 12},
        "input_size": {"n_mels": [32], "hop_lengths": [1024, 2048], "clips": 12},  # 32 x 16, 32 x 8
        "paper_input_size": {"n_mels": [32], "hop_lengths": [2048], "clips": 12},  # 32 x 8
        "speech_dynamics": {"models": ["vae"], "epochs": 1, "clips": 20},  # speech.epochs: its model's bytes
        "speech_input_size": {"n_mels": [32], "hop_lengths": [876], "epochs": 1, "clips": 20},  # 32 x 64
    },
    "rave": {  # a few hundred parameters: the stages and their files, not the model's quality
        "latent_dim": 4,
        "capacity": 2,
        "crop_samples": 4096,
        "batch_size": 4,
        "epochs": {"small": 1},
        "scales": [1024, 256],
    },
}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the marks into group names
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `make test` (pytest-xdist, one worker per core, --dist loadgroup) every test of
    the tiny pipeline runs on one worker, so its session fixture - a whole `dvc repro` -
    is built once while the other worker takes the rest of the tier. (Measured: without
    `tryfirst` both workers built it, 314 s each, four stages on two cores.)"""
    for item in items:
        if "reproduced" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("tiny_pipeline"))


@pytest.fixture
def tiny() -> Params:
    return validate(TINY)


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One real SQLite MLflow backend for the whole session, schema created up front."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    subprocess.run([BIN / "synaudio", "tracking-init"], env=env, check=True, capture_output=True, cwd=REPO)
    return uri


@pytest.fixture
def write_params(tmp_path: Path) -> Callable[..., Path]:
    """Write a params.yaml (TINY merged with overrides) into tmp_path and return its path."""

    def write(tree: dict[str, Any] | None = None, path: Path | None = None) -> Path:
        target = path or tmp_path / "params.yaml"
        target.write_text(yaml.safe_dump(tree if tree is not None else TINY))
        return target

    return write


@pytest.fixture
def cli(tracking_uri: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed `synaudio` command for real, with the session's MLflow backend."""

    def run(*args: str | Path, cwd: Path = REPO, check: bool = False, **kwargs: Any):
        env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, **kwargs.pop("env", {})}
        result = subprocess.run(
            [str(BIN / "synaudio"), *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            **kwargs,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"synaudio {args} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


def full_params_yaml(tree: dict[str, Any]) -> str:
    """Every key spelled out, as in the repository's params.yaml (DVC reads it literally)."""
    return yaml.safe_dump(validate(tree).model_dump(), sort_keys=False)


def copy_project(dest: Path, params: dict[str, Any]) -> Path:
    """A fresh git + DVC project holding this checkout's pipeline, with `params`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", ".dvcignore", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / ".dvc").mkdir()
    shutil.copy2(REPO / ".dvc" / "config", dest / ".dvc" / "config")
    (dest / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    (dest / "params.yaml").write_text(full_params_yaml(params))
    git(dest, "init", "-q", "-b", "main")
    for command in (["synaudio", "voicebank", "--out", "data"], ["dvc", "add", "-q", "data"]):
        subprocess.run([BIN / command[0], *command[1:]], cwd=dest, check=True, capture_output=True)
    # as in the repository: data/ lives in git, data.dvc pins its hash without a cache copy
    pinned = (dest / "data.dvc").read_text().replace("  path: data\n", "  path: data\n  cache: false\n")
    (dest / "data.dvc").write_text(pinned)
    shutil.copy2(REPO / ".gitignore", dest / ".gitignore")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "project")
    return dest


def kill_after_first_checkpoint(
    command: list[str], checkpoint: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> None:
    """Start a training `command`, SIGKILL it a moment after it wrote `checkpoint` (into a
    later epoch), and check it died by the signal, not by finishing first. The signal goes to
    its whole process group: a DDP run's other processes die with it, as on a lost node."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    while not checkpoint.exists():
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.02)
    time.sleep(0.5)  # let it get into a later epoch
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def git(cwd: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    return subprocess.run(
        ["git", *identity, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def mlflow_rest(base: str, endpoint: str, payload: dict | None = None) -> dict:
    """One call of an MLflow server's REST API: POST `payload` as JSON, or GET without one."""
    request = urllib.request.Request(
        f"{base}/api/2.0/mlflow/{endpoint}",
        data=json.dumps(payload).encode() if payload is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def dvc(
    cwd: Path, *args: str, tracking_uri: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        **(env or {}),
    }
    result = subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory: pytest.TempPathFactory, tracking_uri: str) -> Path:
    """A project copy on TINY params, reproduced once for the whole session by `synaudio
    schedule` (what `make all` runs), committed;
    modules.jsonl beside it records the synaudio modules each stage's command loaded."""
    project = copy_project(tmp_path_factory.mktemp("pipeline") / "project", TINY)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "SYNAUDIO_MODULES_LOG": str(project.parent / "modules.jsonl"),
    }
    # Beside another pytest-xdist worker one stage at a time: two would make three busy
    # processes on two cores (measured slower); alone, two side by side as `make all` runs.
    jobs = "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2"
    result = subprocess.run(
        [BIN / "synaudio", "schedule", "--jobs", jobs], cwd=project, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"synaudio schedule failed:\n{result.stdout}\n{result.stderr}"
    git(project, "add", "-A")
    git(project, "commit", "-qm", "reproduced")
    return project


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """TINY datasets and features for both protocols."""
    root = tmp_path_factory.mktemp("study")
    params = validate(TINY)
    paths = {}
    for name, protocol in PROTOCOLS.items():
        syntone.build(params.syntone, protocol, root / name / "dataset")
        features.build(
            root / name / "dataset", protocol, params.features, params.split, root / name / "features"
        )
        paths[name] = root / name
    return paths


def train_command(study: Path, out: Path, checkpoints: Path, params: Path) -> list[str]:
    return [str(BIN / "synaudio"), "--params", str(params), "train", "--protocol", "corrected", "--model",
            "factor_vae", "--seed", "3", "--dataset", str(study / "dataset"), "--features",
            str(study / "features"), "--out", str(out), "--checkpoints", str(checkpoints)]  # fmt: skip
