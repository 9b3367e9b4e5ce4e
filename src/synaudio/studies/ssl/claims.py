"""The paper's abstract claims, each tested by paired differences between encoders.

A test compares encoder `a` with encoder `b` on one number (a probe's accuracy at a
labelled fraction, fine-tuning's accuracy after some steps, a transfer read-out or a
metric of the suite): per seed the difference a - b (the untrained encoder and the
from-scratch one share their seed's initialisation, so seeds pair), then its mean with a
95 % t interval over seeds (synaudio.summaries.interval). A claim that predicts a > b is
`supported` when the interval lies above 0, `contradicted` when it lies below, and `not
resolved` when it spans 0; a claim that predicts a <= b (no gain) is `supported` unless the
interval lies above 0. One seed gives no interval: `not testable (one seed)`. The log-mel
and trivial-feature baselines have no seed (no weights): their one value pairs with every
seed of the other encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synaudio.params import LOG_MEL, RANDOM_ENCODER, SCRATCH, SelfSupervised
from synaudio.studies.ssl.schema import SEEDLESS
from synaudio.summaries import interval

BT, MBT = "bt", ("mbt_l2", "mbt_width")
TRIVIAL = "level_duration_f0"  # level, speaking time and f0 together (synaudio.trivial)


@dataclass(frozen=True)
class Test:
    claim: str
    test: str
    table: str  # probes | finetune | transfer
    where: dict[str, object]  # the column values selecting the number
    a: str
    b: str
    gain: bool = True  # the claim predicts a > b (False: a does not exceed b)


def tests(settings: SelfSupervised) -> list[Test]:
    """The tests at the probes' smallest labelled fraction (MBT against BT: at every one),
    fine-tuning's smallest, and its first evaluated step after 0 and its last."""
    low = min(settings.fractions)
    tuned, tasks = min(settings.finetune.fractions), settings.finetune.tasks
    early, last = settings.finetune.evaluate_at[1], settings.finetune.steps
    out = []
    for task in ("speaker", "keyword"):
        out.append(Test("accelerated learning", f"probe, {task}, {low:.0%} of the labels", "probes",
                        {"task": task, "fraction": low}, BT, RANDOM_ENCODER))  # fmt: skip
    for task in ("speaker", "keyword"):
        out.append(Test("above hand-made features (a check, not a paper claim)",
                        f"probe, {task}, {low:.0%} of the labels", "probes",
                        {"task": task, "fraction": low}, BT, LOG_MEL))  # fmt: skip
    for task in settings.tasks:
        out.append(Test("above trivial features (a check, not a paper claim)",
                        f"probe, {task}, {low:.0%} of the labels", "probes",
                        {"task": task, "fraction": low}, BT, TRIVIAL))  # fmt: skip
    for task in tasks:
        for step in (early, last):
            where = {"task": task, "fraction": tuned, "step": step}
            test = f"fine-tuned, {task}, {tuned:.0%}, after {step} steps"
            out.append(Test("accelerated learning", test, "finetune", where, BT, SCRATCH))
    for factor in ("waveform", "frequency_hz", "amplitude"):
        out.append(Test("transfer to SynTone", f"read-out of {factor}", "transfer",
                        {"group": "read_out", "name": factor}, BT, RANDOM_ENCODER))  # fmt: skip
    for metric in ("mig", "modularity", "dci_disentanglement", "dci_completeness"):
        out.append(Test("not modular or compact", f"{metric} on SynTone", "transfer",
                        {"group": "suite", "name": metric}, BT, RANDOM_ENCODER, gain=False))  # fmt: skip
    for mbt in MBT:
        for task in ("speaker", "gender", "keyword"):
            for fraction in settings.fractions:
                out.append(Test("MBT helps most with little data", f"probe, {task}, {fraction:.0%}", "probes",
                                {"task": task, "fraction": fraction}, mbt, BT))  # fmt: skip
    return out


def verdict(mean: float, half: float, gain: bool) -> str:
    if not np.isfinite(half):
        return "not testable (one seed)"
    low, high = mean - half, mean + half
    if gain:
        return "supported" if low > 0 else "contradicted" if high < 0 else "not resolved"
    return "contradicted" if low > 0 else "supported"


def evaluate(long: dict[str, pd.DataFrame], settings: SelfSupervised) -> pd.DataFrame:
    """One row per test: both encoders' means, the paired difference, its interval and
    the verdict. `long`: per-seed rows (encoder, seed, <selecting columns>, score) by table."""
    rows = []
    for test in tests(settings):
        frame = long[test.table]
        chosen = frame.loc[np.logical_and.reduce([frame[k] == v for k, v in test.where.items()])]
        a, b = (chosen[chosen["encoder"] == name].set_index("seed")["score"] for name in (test.a, test.b))
        if test.b in SEEDLESS and len(b):
            b = pd.Series(b.iloc[0], index=a.index)  # seedless: the same value for every seed
        seeds = sorted(set(a.index) & set(b.index))
        if not seeds:
            continue
        difference = a[seeds] - b[seeds]
        half = interval(float(difference.std(ddof=1)), len(seeds)) if len(seeds) > 1 else float("nan")
        rows.append({
            "claim": test.claim, "test": test.test, "a": test.a, "b": test.b, "seeds": len(seeds),
            "a_mean": float(a[seeds].mean()), "b_mean": float(b[seeds].mean()),
            "difference": float(difference.mean()), "ci95": half,
            "predicts": f"{test.a} > {test.b}" if test.gain else f"{test.a} not above {test.b}",
            "verdict": verdict(float(difference.mean()), half, test.gain),
        })  # fmt: skip
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    out = [
        "| claim | test | predicts | a | b | a - b (seeds) | verdict |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in table.itertuples():
        half = f" +- {r.ci95:.3f}" if np.isfinite(r.ci95) else ""
        out.append(f"| {r.claim} | {r.test} | {r.predicts} | {r.a_mean:.3f} | {r.b_mean:.3f} | "
                   f"{r.difference:+.3f}{half} ({r.seeds}) | {r.verdict} |")  # fmt: skip
    return "\n".join(out) + "\n"
