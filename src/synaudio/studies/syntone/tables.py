"""The SynTone study's tables: model x metric (published | paper protocol | corrected), and
the ablation ladder (model x rung).

Reads the evaluation JSON files that params.yaml declares (one per model, protocol and
seed of its grid; `evaluation_files`, `ladder_files`) and the corrected protocol's InfoMEC
files beside them (`infomec_files`), nothing else in their folders; the
corrected and paper columns are mean +- std (ddof=1) across seeds with their range and a
95 % percentile-bootstrap interval of the mean; the published value (mean +- std over 10
re-evaluations of one checkpoint) is placed inside, above or below the range of our
paper-protocol seeds. The report and the README show them with the scale and evaluation
settings stated under them (`report_markdown`, `ladder_markdown`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synaudio.declared import stage_id
from synaudio.params import Evaluation, Params
from synaudio.protocol import LADDER

MARKERS = ("<!-- results:syntone -->", "<!-- /results:syntone -->")  # the README's sections
LADDER_MARKERS = ("<!-- results:ladder -->", "<!-- /results:ladder -->")
# SYNTONE.md section 5: the published table (mean +- std over 10 re-evaluations).
PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {
    "vae": {"mig": (0.280, 0.0), "sap": (0.045, 0.0), "dcimig": (0.005, 0.0), "jemmig": (0.300, 0.0),
            "modularity": (0.651, 0.031)},
    "beta_vae": {"mig": (0.184, 0.0), "sap": (0.035, 0.0), "dcimig": (0.004, 0.0), "jemmig": (0.201, 0.0),
                 "modularity": (0.750, 0.022)},
    "factor_vae": {"mig": (0.118, 0.0), "sap": (0.035, 0.0), "dcimig": (0.003, 0.0), "jemmig": (0.126, 0.0),
                   "modularity": (0.762, 0.014)},
    "beta_tcvae": {"mig": (0.166, 0.0), "sap": (0.023, 0.0), "dcimig": (0.005, 0.0), "jemmig": (0.183, 0.0),
                   "modularity": (0.747, 0.016)},
}  # fmt: skip
PAPER_METRICS = ("mig", "sap", "dcimig", "jemmig", "modularity")
CORRECTED_EXTRA = ("dci_disentanglement", "dci_completeness", "dci_informativeness", "explicitness",
                   "infom", "infoe", "infoc",
                   "probe/waveform", "probe/frequency", "probe/log_frequency", "probe/amplitude",
                   "probe/amplitude_db", "probe_forest/waveform", "probe_forest/log_frequency",
                   "probe_forest/amplitude_db")  # fmt: skip
HELD_OUT = ("reconstruction_error", "active_dimensions", "active_units", "total_kl")
# Which way is better: every metric here is built so that higher is better (JEMMIG
# included - the reference README bolded its lowest, wrongly); reconstruction error is
# lower-is-better; the count of active latents is descriptive.
BETTER = {"reconstruction_error": "lower", "active_dimensions": "neither", "active_units": "neither",
          "total_kl": "neither"}  # fmt: skip


def fmt(mean: float | None, std: float | None) -> str:
    return "" if mean is None or pd.isna(mean) else f"{mean:.3f} +- {std:.3f}"


def aggregate(evaluations: list[dict[str, Any]], settings: Evaluation) -> pd.DataFrame:
    """Rows: (model, metric); columns: published, paper and corrected mean/std, range,
    bootstrap interval and seeds."""
    rows = []
    known = list(PUBLISHED)  # the paper's row order first, then any added model by name
    order = {m: (known.index(m) if m in known else len(known), m) for m in {e["model"] for e in evaluations}}
    models = sorted(order, key=order.__getitem__)
    for model in models:
        paper = [e for e in evaluations if e["model"] == model and e["protocol"] == "paper"]
        corrected = [e for e in evaluations if e["model"] == model and e["protocol"] == "corrected"]
        for metric in (*PAPER_METRICS, *CORRECTED_EXTRA, *HELD_OUT):
            row: dict[str, Any] = {"model": model, "metric": metric, "better": better(metric)}
            published = PUBLISHED.get(model, {}).get(metric)
            row["published_mean"], row["published_std"] = published if published else (None, None)
            row.update(_across_seeds("paper", [_value(e, metric) for e in paper], settings))
            if paper and metric in paper[0]["metrics"]:  # the published +- is this spread
                repeats = [e["metrics"][metric]["std"] for e in paper]
                row["paper_repeat_std"] = float(pd.Series(repeats).mean())
            row.update(_across_seeds("corrected", [_value(e, metric) for e in corrected], settings))
            if published and "paper_min" in row:
                row["published_vs_seeds"] = _position(published[0], row["paper_min"], row["paper_max"])
            rows.append(row)
    return pd.DataFrame(rows)


def _across_seeds(protocol: str, values: list[float | None], settings: Evaluation) -> dict[str, float]:
    """Mean, sample std (ddof=1; 0 for one seed), range, bootstrap interval and count of one
    metric's per-seed values."""
    present = pd.Series([v for v in values if v is not None], dtype=float)
    if present.empty:
        return {}
    low, high = bootstrap_interval(present.to_numpy(), settings)
    return {
        f"{protocol}_mean": float(present.mean()),
        f"{protocol}_std": float(present.std(ddof=1)) if len(present) > 1 else 0.0,
        f"{protocol}_min": float(present.min()),
        f"{protocol}_max": float(present.max()),
        f"{protocol}_ci_low": low,
        f"{protocol}_ci_high": high,
        f"{protocol}_seeds": len(present),
    }


def bootstrap_interval(values: np.ndarray, settings: Evaluation) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the mean over seeds (resampled with
    replacement). With a handful of seeds it is coarse - n seeds give C(2n-1, n) distinct
    resamples, 35 for 4 - and narrower than a t-interval; it says how far the seeds alone
    move the mean, no more."""
    rng = np.random.default_rng(settings.bootstrap_seed)
    picks = rng.integers(0, len(values), size=(settings.bootstrap_resamples, len(values)))
    means = values[picks].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def _position(published: float, low: float, high: float) -> str:
    """Where a published value falls against our seeds' values (rounded as published, 3 d.p.)."""
    if round(low, 3) <= published <= round(high, 3):
        return "inside"
    return "above" if published > high else "below"


def better(metric: str) -> str:
    return BETTER.get(metric, "higher")


def _value(evaluation: dict[str, Any], metric: str) -> float | None:
    if metric in evaluation["metrics"]:
        return evaluation["metrics"][metric]["mean"]
    if metric == "total_kl":
        return float(sum(evaluation["held_out"]["kl_per_dimension"]))
    return evaluation["held_out"].get(metric)


ARROWS = {"higher": "↑", "lower": "↓", "neither": "-"}


def across_seeds(row: Any, protocol: str, interval: bool = False) -> str:
    """ "mean +- std [min, max] (n seeds)", or with `interval` the bootstrap interval
    "mean +- std, 95 % CI [low, high] (n seeds)"; the value alone for one seed."""
    mean = getattr(row, f"{protocol}_mean", None)
    if mean is None or pd.isna(mean):
        return ""
    seeds = int(getattr(row, f"{protocol}_seeds"))
    if seeds == 1:
        return f"{mean:.3f} (1 seed)"
    spread = fmt(mean, getattr(row, f"{protocol}_std"))
    if interval:
        low, high = getattr(row, f"{protocol}_ci_low"), getattr(row, f"{protocol}_ci_high")
        return f"{spread}, 95 % CI [{low:.3f}, {high:.3f}] ({seeds} seeds)"
    low, high = getattr(row, f"{protocol}_min"), getattr(row, f"{protocol}_max")
    return f"{spread} [{low:.3f}, {high:.3f}] ({seeds} seeds)"


def markdown(table: pd.DataFrame) -> str:
    lines = [
        "| model | metric | better | published | paper protocol (reproduced) | published vs our seeds "
        "| corrected protocol |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        published = fmt(row.published_mean, row.published_std)
        position = getattr(row, "published_vs_seeds", None)
        position = "" if position is None or pd.isna(position) else position
        paper, corrected = across_seeds(row, "paper"), across_seeds(row, "corrected", interval=True)
        cells = (row.model, row.metric, ARROWS[row.better], published, paper, position, corrected)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def evaluation_files(params: Params, artifacts: Path) -> list[tuple[Path, str]]:
    """(evaluation JSON, stage that writes it) for every model and seed params.yaml declares."""
    seeds = {"paper": params.training.paper_seeds, "corrected": params.training.corrected_seeds}
    return [
        (
            artifacts / protocol / "eval" / f"{model}-seed{seed}.json",
            stage_id(f"evaluate_{protocol}", model, seed),
        )
        for protocol, protocol_seeds in seeds.items()
        for model in params.training.models
        for seed in protocol_seeds
    ]


def infomec_file(model: str, seed: int) -> str:
    """One corrected-protocol model's InfoMEC JSON (stage infomec_corrected)."""
    return f"{model}-seed{seed}.json"


def model_key(result: dict[str, Any]) -> tuple[str, str, int]:
    """(protocol, model, seed): what one evaluation is of."""
    return result["protocol"], result["model"], int(result["seed"])


def infomec_files(params: Params, artifacts: Path) -> list[tuple[Path, str]]:
    """(InfoMEC JSON, stage) for every corrected-protocol model and seed params.yaml declares."""
    folder = artifacts / "corrected" / "infomec"
    return [
        (folder / infomec_file(model, seed), "infomec_corrected")
        for model in params.training.models
        for seed in params.training.corrected_seeds
    ]


def scale(items: list[Any], protocol: str) -> str:
    """What was trained: models with their epochs and batch, seeds, training clips."""
    chosen = [i for i in items if i.protocol == protocol]
    if not chosen:
        return "not run"
    runs = {}
    for item in chosen:
        runs.setdefault(item.model, []).append(item)
    parts = []
    for model, group in runs.items():
        summary = group[0].training
        seeds = ", ".join(str(i.seed) for i in group)
        parts.append(f"{model} {summary['epochs']} epochs x batch {summary['batch_size']} (seed {seeds})")
    clips = chosen[0].training["train_clips"]
    return f"{clips:,} training clips; " + "; ".join(parts)


def settings(items: list[Any], protocol: str) -> str:
    chosen = [i for i in items if i.protocol == protocol]
    if not chosen:
        return "not run"
    used = chosen[0].result["settings"]
    skip = {"metrics", "factor_kinds"}
    return ", ".join(f"{k}: {v}" for k, v in used.items() if k not in skip)


def report_markdown(table: pd.DataFrame, items: list[Any]) -> str:
    """The table plus one line per protocol saying at what scale and how it was evaluated."""
    return (
        markdown(table)
        + "\n"
        + "↑ higher is better, ↓ lower is better. Published: the paper's table (mean +- std of 10 "
        + "re-evaluations of one checkpoint). Our columns: mean +- std (ddof=1) across seeds [lowest, "
        + "highest seed]; each seed's value is the mean of its own re-evaluations under the paper "
        + "protocol. Reconstruction error: summed squared error per held-out "
        + "clip in each protocol's own feature scale (not comparable across protocols).\n\n"
        + f"- **Paper protocol**: {scale(items, 'paper')}. Evaluation: {settings(items, 'paper')}.\n"
        + f"- **Corrected protocol**: {scale(items, 'corrected')}. "
        + f"Evaluation: {settings(items, 'corrected')}.\n"
    )


# The ablation ladder: what each rung changes, and the numbers that show collapse or its cure.
RUNG_CHANGES = {
    "rescored": "paper protocol's checkpoints, scored by the corrected evaluation",
    "front_end_only": "paper training on the corrected data side (log-mel, time axis, split)",
    "loss_only": "corrected training (calibrated decoder, warm-up, clean switches, epochs) on paper data",
    "corrected": "both sides changed: the corrected protocol",
}
LADDER_METRICS = ("active_units", "total_kl", "mig", "dci_disentanglement", "probe/waveform",
                  "probe_forest/log_frequency", "probe_forest/amplitude_db")  # fmt: skip


def ladder_files(params: Params, artifacts: Path) -> list[tuple[Path, str]]:
    """(evaluation JSON, stage) of every rung for the models and seeds `ladder` names; rung 4
    is the corrected protocol's own evaluation."""
    declared = []
    for rung in LADDER:
        folder = artifacts / rung.name if rung.name == "corrected" else artifacts / "ladder" / rung.name
        for model in params.ladder.models:
            for seed in params.ladder.seeds:
                path = folder / "eval" / f"{model}-seed{seed}.json"
                declared.append((path, stage_id(f"evaluate_{rung.name}", model, seed)))
    return declared


def ladder(evaluations: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows: (model, rung); columns: the ladder's metrics, mean over the ladder's seeds."""
    rows = []
    names = [rung.name for rung in LADDER]
    for model in dict.fromkeys(e["model"] for e in evaluations):
        for index, name in enumerate(names, start=1):
            chosen = [e for e in evaluations if e["model"] == model and e["protocol"] == name]
            row: dict[str, Any] = {"model": model, "rung": index, "protocol": name, "seeds": len(chosen)}
            for metric in LADDER_METRICS:
                values = [v for v in (_value(e, metric) for e in chosen) if v is not None]
                row[metric] = float(np.mean(values)) if values else None
            rows.append(row)
    return pd.DataFrame(rows)


def ladder_markdown(table: pd.DataFrame) -> str:
    header = " | ".join(LADDER_METRICS)
    lines = [f"| model | rung | what changes | seeds | {header} |",
             "|---|---|---|---|" + "---|" * len(LADDER_METRICS)]  # fmt: skip
    for row in table.to_dict("records"):
        values = " | ".join("" if pd.isna(row[m]) else f"{row[m]:.3f}" for m in LADDER_METRICS)
        change = RUNG_CHANGES[row["protocol"]]
        lines.append(
            f"| {row['model']} | {row['rung']} {row['protocol']} | {change} | {row['seeds']} | {values} |"
        )
    note = (
        "\nEvery rung is scored by the corrected evaluation (posterior means of the held-out clips; "
        "active units as Burda et al. count them, variance of the posterior mean > 0.01; total KL in "
        "nats per held-out clip, ~10.4 needed for the three factors). Mean over the seeds shown.\n"
    )
    return "\n".join(lines) + "\n" + note
