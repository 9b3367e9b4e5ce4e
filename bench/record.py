"""The performance table of issue 20: every bench and timed `make` target records its row
here (build/bench/<row>.json: value, detail, when, commit), and `make bench` prints the
table from those records - measured on this checkout, never typed in.

    python bench/record.py                      # print the table
    python bench/record.py --readme             # ... and write it into README.md's markers
    python bench/record.py ROW VALUE [DETAIL]   # record one row (used by the Makefile)
"""

from __future__ import annotations

import json
import operator
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "build" / "bench"
README_START, README_END = "<!-- bench:table -->", "<!-- /bench:table -->"


class Row(NamedTuple):
    work: str
    unit: str  # how the value prints: "s" (seconds) or "%" (a fraction)
    target: float
    at_most: bool  # True: the value must not exceed the target; False: must reach it
    source: str  # what measures it


ROWS = {
    "training_step": Row(
        "training step (paper backbone, 1 thread, pinned kernels) vs the measured 1-thread peak",
        "%", 0.70, False, "bench/training_bench.py",
    ),
    "two_trainings": Row(
        "two 1-thread trainings at once, the slower vs a quiet run", "%", 0.90, False,
        "bench/training_bench.py",
    ),
    "paper_evaluation": Row(
        "paper-protocol evaluation of one model (32,000 clips, 10 repeats)", "s", 30, True,
        "bench/evaluation_bench.py",
    ),
    "speech_evaluation": Row(
        "SynSpeech evaluation of one Medium model (50,000 clips encoded, probes, metrics), 1 thread",
        "s", 60, True, "bench/speech_eval_bench.py",
    ),
    "speech_evaluation_two_threads": Row(
        "the same on 2 threads (one model alone on this machine)", "s", 60, True,
        "bench/speech_eval_bench.py --threads 2",
    ),
    "quick": Row("`make quick` from a clone, venv install excluded", "s", 300, True, "make clone-check"),
    "report": Row("report stage from existing results", "s", 30, True, "bench/report_bench.py"),
    "fast_tier": Row("fast test tier (`make test`)", "s", 480, True, "make test"),
}  # fmt: skip


def record(row: str, value: float, detail: str = "") -> None:
    """Write one row's measurement (atomically: a table never reads half a record)."""
    if row not in ROWS:
        raise SystemExit(f"error: unknown bench row {row!r}; known: {', '.join(ROWS)}")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    entry = {"value": value, "detail": detail, "measured": time.strftime("%Y-%m-%d %H:%M"), "commit": commit}
    RECORDS.mkdir(parents=True, exist_ok=True)
    temporary = RECORDS / f".{row}.json.tmp"
    temporary.write_text(json.dumps(entry, indent=1) + "\n")
    temporary.replace(RECORDS / f"{row}.json")


def _shown(value: float, unit: str) -> str:
    return f"{value:.0%}" if unit == "%" else f"{value:.0f} s"


def table() -> str:
    """The markdown table: every row with its target, met or not, and where it came from."""
    lines = ["| work | measured | target | met | how, when |", "|---|---|---|---|---|"]
    for key, row in ROWS.items():
        path = RECORDS / f"{key}.json"
        bound = ("<= " if row.at_most else ">= ") + _shown(row.target, row.unit)
        if not path.exists():
            lines.append(f"| {row.work} | not measured here | {bound} | - | run {row.source} |")
            continue
        entry = json.loads(path.read_text())
        met = (operator.le if row.at_most else operator.ge)(entry["value"], row.target)
        detail = f"{entry['detail']}; " if entry["detail"] else ""
        lines.append(
            f"| {row.work} | {_shown(entry['value'], row.unit)} | {bound} | {'yes' if met else '**no**'} "
            f"| {detail}{row.source}, {entry['measured']} at {entry['commit']} |"
        )
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = REPO / "README.md"
    content = readme.read_text()
    if README_START not in content or README_END not in content:
        raise SystemExit(f"error: README.md has no {README_START} ... {README_END} markers")
    head, rest = content.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    readme.write_text(f"{head}{README_START}\n{text}\n{README_END}{tail}")


def main(argv: list[str]) -> None:
    if argv and argv[0] != "--readme":
        record(argv[0], float(argv[1]), " ".join(argv[2:]))
        return
    text = table()
    print(text)
    if argv == ["--readme"]:
        write_readme(text)
        print("bench: README.md's performance table rewritten from build/bench/")


if __name__ == "__main__":
    main(sys.argv[1:])
