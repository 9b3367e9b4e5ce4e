"""Benchmark: the paper-protocol evaluation of one committed model (target <= 30 s, issue 20).

Times the real stage command, `synaudio evaluate --protocol paper` on the VAE seed 0 with
the 32,000 paper features (start-up, encoding, 10 metric repeats, JSON, MLflow run into a
temporary database), and, in the same run, its parts: one encoder pass over every clip
and one repeat's metrics - so the old path (an encoder pass per repeat) is priced beside
the one the stage takes (one pass, ten samplings of it).
Needs the paper features and weights (`make report` regenerates the features).

    python bench/evaluation_bench.py
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from record import record
from synaudio import metrics
from synaudio.features import load_features
from synaudio.inference import encode, load_backbone
from synaudio.params import Params
from synaudio.store import load_dataset
from synaudio.studies.syntone import recipe
from synaudio.studies.syntone.evaluation import FACTOR_COLUMNS

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "artifacts" / "syntone" / "paper"
MODEL = PAPER / "models" / "vae" / "seed0"


def main() -> None:
    if not (PAPER / "features" / "features.npy").exists():
        print("paper evaluation: skipped, no paper features here (run `make report` first)")
        return
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            "synaudio", "evaluate", "--protocol", "paper", "--model", "vae", "--seed", "0",
            "--dataset", str(PAPER / "dataset"), "--features", str(PAPER / "features"),
            "--model-dir", str(MODEL), "--out", f"{scratch}/vae-seed0.json",
        ]  # fmt: skip
        environment = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{scratch}/mlflow.db"}
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO, env=environment, check=True, capture_output=True)
        stage_seconds = time.perf_counter() - started
    params = Params()
    rows, _, _ = load_features(PAPER / "features", "features@paper", PAPER / "dataset")
    truth = load_dataset(PAPER / "dataset").factors.loc[:, list(FACTOR_COLUMNS)].to_numpy(dtype=np.float64)
    backbone = load_backbone(MODEL, params.training.latent_dim, recipe.backbone())
    started = time.perf_counter()
    mean, log_var = encode(backbone, rows)
    encode_seconds = time.perf_counter() - started
    sampled = mean + np.exp(0.5 * log_var) * np.random.default_rng(0).standard_normal(mean.shape)
    started = time.perf_counter()
    metrics.evaluate(truth, sampled, paper_compat=True)
    repeat_seconds = time.perf_counter() - started
    repeats = params.evaluation.paper_repeats
    old, new = repeats * (encode_seconds + repeat_seconds), encode_seconds + repeats * repeat_seconds
    print(f"paper-protocol evaluation, VAE seed 0, {len(rows):,} clips, {repeats} repeats, one core:")
    print(f"  the stage command end to end:                {stage_seconds:6.1f} s (target <= 30 s)")
    print(f"  one encoder pass {encode_seconds:5.1f} s, one repeat's metrics {repeat_seconds:4.1f} s")
    print(f"  encode once, sample {repeats} times (now):          {new:6.1f} s")
    print(f"  an encoder pass per repeat (old):             {old:6.1f} s ({old / new:.1f}x)")
    record("paper_evaluation", stage_seconds, f"old path (a pass per repeat) ~{old:.0f} s")


if __name__ == "__main__":
    main()
