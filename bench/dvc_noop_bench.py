"""Benchmark: `dvc repro` when nothing changed (target <= 5 s), on this checkout.

Runs only when the checkout's pipeline is up to date (after `make all`); otherwise it
says which stages would run instead of timing a real reproduction.

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
    status = subprocess.run(["dvc", "status", "-q"], cwd=REPO)
    if status.returncode != 0:
        print("dvc repro no-op: skipped, the pipeline is not up to date here (run `make all` first)")
        return
    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        subprocess.run(["dvc", "repro"], cwd=REPO, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    print(
        f"dvc repro with nothing changed: median {statistics.median(timings):.2f} s over "
        f"{args.repeats} runs (min {min(timings):.2f}, max {max(timings):.2f}; target <= 5 s)"
    )


if __name__ == "__main__":
    main()
