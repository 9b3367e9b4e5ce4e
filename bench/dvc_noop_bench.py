"""Benchmark: `dvc repro` when nothing changed (target <= 5 s), on this checkout.

Times the whole pipeline when this checkout's is up to date (after `make all`). When it
is not - the committed corrected-protocol stages ran with a CPU-budget
`training.corrected_epochs` that params.yaml does not carry - it times the dataset and
features stages (2 x 2 GB + 2 x 0.5 GB of outputs to check) and says so.

    python bench/dvc_noop_bench.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    targets: list[str] = []
    if subprocess.run(["dvc", "status", "-q"], cwd=REPO).returncode != 0:
        targets = ["features@paper", "features@corrected"]
        if subprocess.run(["dvc", "status", "-q", *targets], cwd=REPO).returncode != 0:
            print("dvc repro no-op: skipped, the datasets and features are not up to date here")
            return
    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        subprocess.run(["dvc", "repro", *targets], cwd=REPO, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    scope = " ".join(targets) or "(whole pipeline)"
    print(
        f"dvc repro {scope} with nothing changed: median {statistics.median(timings):.2f} s over "
        f"{args.repeats} runs (min {min(timings):.2f}, max {max(timings):.2f}; target <= 5 s)"
    )


if __name__ == "__main__":
    main()
