"""Benchmark: the full paper SynTone grid, generated and written, against its targets.

Targets (issue 2): <= 10 s wall on 2 cores, peak memory <= 2x the stored size.
`--reference` also times, in the same run, the reference's way of synthesising
(one float64 clip at a time over the whole grid; no saving), for a side-by-side ratio.

    python bench/syntone_bench.py [--protocol paper] [--reference]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from synaudio.params import load_params
from synaudio.protocol import PAPER, PROTOCOLS
from synaudio.studies.syntone import dataset as syntone

REPO = Path(__file__).resolve().parents[1]


def generate(protocol: str, workdir: Path) -> tuple[float, int, int]:
    """Run the real CLI in a child; return (wall seconds, peak RSS bytes, stored bytes)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["tracking"] = {"enabled": False}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    out = workdir / "dataset"
    started = time.perf_counter()
    subprocess.run(
        [
            Path(sys.executable).parent / "synaudio",
            "--params",
            workdir / "params.yaml",
            "syntone",
            "--protocol",
            protocol,
            "--out",
            out,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    stored = sum(f.stat().st_size for f in out.iterdir())
    return seconds, peak, stored


def reference_synthesis_seconds() -> float:
    """Clip-by-clip float64 synthesis of the full grid, the way the reference does it."""
    spec = load_params(REPO / "params.yaml").syntone
    t = syntone.time_axis(spec, PAPER)
    started = time.perf_counter()
    for frequency in syntone.frequencies(spec):
        for amplitude in syntone.amplitudes(spec):
            for name in spec.waveforms:
                amplitude * syntone._naive(name, frequency * t)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="paper", choices=tuple(PROTOCOLS))
    parser.add_argument("--reference", action="store_true", help="also time reference-style synthesis")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=REPO, prefix=".bench-") as tmp:
        seconds, peak, stored = generate(args.protocol, Path(tmp))
    clips = load_params(REPO / "params.yaml").syntone.n_clips
    print(f"syntone/{args.protocol} full grid on {os.cpu_count()} cores:")
    print(
        f"  wall {seconds:.2f} s (target <= 10 s)  ->  {clips / seconds:,.0f} clips/s, "
        f"{stored / seconds / 1e9:.2f} GB/s written"
    )
    print(
        f"  peak RSS {peak / 1e6:,.0f} MB = {peak / stored:.2f}x the stored {stored / 1e9:.2f} GB "
        "(target <= 2x)"
    )
    if args.reference:
        reference = reference_synthesis_seconds()
        print(
            f"  reference-style clip-by-clip synthesis alone: {reference:.1f} s "
            f"({reference / seconds:.1f}x our generate+write+hash)"
        )


if __name__ == "__main__":
    main()
