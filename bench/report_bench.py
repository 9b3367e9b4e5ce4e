"""Benchmark: the report stage from existing results (target <= 30 s, issue 20) and the
page weight it produces (target <= 15 MB: HTML + figures + audio).

Builds into a temporary directory, so the committed reports/ is untouched.

    python bench/report_bench.py
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from record import record

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    if not (REPO / "artifacts" / "syntone" / "results.csv").exists():
        print("report: skipped, no results here yet (run `make all` first)")
        return
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(["synaudio", "report", "--out", out], cwd=REPO, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        files = [path for path in Path(out).rglob("*") if path.is_file()]
        weight = sum(path.stat().st_size for path in files)
        audio = sum(path.stat().st_size for path in files if path.suffix == ".wav")
        figures = sum(path.stat().st_size for path in files if path.suffix == ".png")
    print(
        f"report from existing results: {seconds:.0f} s wall including start-up (target <= 30 s); "
        f"page weight {weight / 1e6:.1f} MB in {len(files)} files (figures {figures / 1e6:.1f} MB, "
        f"audio {audio / 1e6:.1f} MB; target <= 15 MB)"
    )
    record("report", seconds, f"{weight / 1e6:.1f} MB page")


if __name__ == "__main__":
    main()
