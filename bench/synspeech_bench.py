"""Benchmark: SynSpeech synthesis throughput (target >= 70 clips/s on 2 cores; the engine's
ceiling here is ~79) and what it means for the three versions (Small <= 7 min, Medium
<= 13 min, Large <= 28 min). Speaks 400 clips of the voice bank in data/ into a
temporary directory with `synspeech.workers` processes.

    python bench/synspeech_bench.py [--clips-per-style 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from synaudio.params import STYLE_NAMES, SpeechVersion, load_params
from synaudio.studies.synspeech import dataset as generate

REPO = Path(__file__).resolve().parents[1]
TARGET_MINUTES = {"small": 7, "medium": 13, "large": 28}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-per-style", type=int, default=100)
    args = parser.parse_args()
    if not (REPO / "data" / "speakers.csv").exists():
        print("synspeech: skipped, no voice bank in data/ (run `make data` first)")
        return
    spec = load_params(REPO / "params.yaml").synspeech
    texts = args.clips_per_style // 4
    bench = SpeechVersion(speakers=4, texts=texts, styles=list(STYLE_NAMES))
    spec = spec.model_copy(update={"versions": {"bench": bench}})
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        generate.build(REPO / "data", spec, "bench", Path(out) / "bench")
        seconds = time.perf_counter() - started
    rate = bench.n_clips / seconds
    versions = load_params(REPO / "params.yaml").synspeech.versions
    estimates = ", ".join(
        f"{name} {versions[name].n_clips / rate / 60:.1f} min (target <= {limit})"
        for name, limit in TARGET_MINUTES.items()
    )
    print(
        f"synspeech: {bench.n_clips} clips in {seconds:.1f} s with {spec.workers} workers = "
        f"{rate:.1f} clips/s (target >= 70); at that rate {estimates}"
    )


if __name__ == "__main__":
    main()
