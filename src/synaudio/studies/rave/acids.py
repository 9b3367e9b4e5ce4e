"""The real RAVE as the RAVE-style model's cross-check (stage acids_rave): acids-rave 2.3.1
trained on the same training clips in its own venv (`make acids-venv`), its codes written
for `synaudio speech-score` like the RAVE-style model's.

The archive's side: which clips (speech.split), the venv and its version, the scratch
folder, timing, MLflow and the output folders; acids_driver.py, run by the venv's Python,
does what needs acids-rave. The scratch folder (LMDB, RAVE's own checkpoints and logs)
stays in build/ for inspection; the LMDB, a copy of the training audio, is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from synaudio.errors import UserError

RELEASE = "2.3.1"
VENV_VARIABLE = "ACIDS_RAVE_VENV"  # its venv, when not .venv-acids beside the checkout
DRIVER = Path(__file__).with_name("acids_driver.py")
SCRATCH_MARK = ".synaudio-acids-scratch"  # what lets a rerun empty the scratch folder
LATENTS = (
    "posterior means averaged over each clip's latent frames (the whole clip, zero-padded to "
    "whole 512-sample frames); metrics suite on the held-out clips"
)


def venv_python() -> Path:
    """The acids venv's Python, checked to hold acids-rave RELEASE."""
    venv = Path(os.environ.get(VENV_VARIABLE, ".venv-acids"))
    python = venv / "bin" / "python"
    if not python.is_file():
        raise UserError(
            f"no acids-rave venv at {venv} ({VENV_VARIABLE}); create it with `make acids-venv` "
            "(its own lock: src/synaudio/studies/rave/acids-rave.lock)"
        )
    found = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('acids-rave'))"],
        capture_output=True, text=True, env=_clean_env(), check=False,
    ).stdout.strip()  # fmt: skip
    if found != RELEASE:
        raise UserError(f"{venv} holds acids-rave {found or 'nothing'}, not {RELEASE}; run `make acids-venv`")
    return python


def _clean_env() -> dict[str, str]:
    """This process's environment without what points Python at the archive's venv."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def _drive(python: Path, step: str, **options: Any) -> None:
    """One acids_driver.py step; its output passes through, a failure names the step."""
    command = [str(python), str(DRIVER), step]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    sys.stdout.flush()
    status = subprocess.run(command, env=_clean_env(), check=False).returncode
    if status:
        raise UserError(f"acids-rave step `{step}` failed (exit {status}); its output is above")


def scratch_folder(path: Path) -> Path:
    """An empty scratch folder: a previous run's (marked) is emptied, anything else refused."""
    if path.exists():
        if not (path / SCRATCH_MARK).is_file():
            raise UserError(f"{path} exists and is not an acids_rave scratch folder; choose another --work")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / SCRATCH_MARK).write_text("written by synaudio rave-acids; emptied by its next run\n")
    return path


def train_and_encode(
    python: Path, settings: Any, audio: Path, rows: tuple[np.ndarray, np.ndarray], work: Path,
    *, seed: int, threads: int, sample_rate: int,
) -> dict[str, Any]:  # fmt: skip
    """LMDB, training and encoding in `work`; what they measured (seconds, curves, codes)."""
    train_rows, test_rows = rows
    np.save(work / "train_rows.npy", train_rows)
    np.save(work / "held_out_rows.npy", test_rows)
    _drive(python, "lmdb", audio=audio, rows=work / "train_rows.npy", chunk=settings.chunk_samples,
           sample_rate=sample_rate, out=work / "lmdb")  # fmt: skip
    started = time.perf_counter()
    _drive(python, "train", db=work / "lmdb", out=work / "run", config=settings.config, steps=settings.steps,
           n_signal=settings.n_signal, batch=settings.batch_size, sample_rate=sample_rate, seed=seed,
           threads=threads)  # fmt: skip
    seconds = time.perf_counter() - started
    shutil.rmtree(work / "lmdb")
    _drive(python, "encode", run=work / "run", audio=audio, held_out=work / "held_out_rows.npy",
           threads=threads, out=work / "encoded")  # fmt: skip
    encoded = work / "encoded"
    return {
        "seconds": seconds,
        "curves": json.loads((work / "run" / "curves.json").read_text()),
        "codes": np.load(encoded / "codes.npy"),
        "kl": np.load(encoded / "kl.npy"),
        "encoded": encoded,
        **json.loads((encoded / "encode.json").read_text()),
    }
