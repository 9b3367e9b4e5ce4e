"""The SynSpeech results table: one row per (version, model, number), the mean over seeds
with its 95 % confidence interval (Student t, std with ddof=1).

Markdown: per version, a probe table (models x factors, chance in the first row, the
untrained baselines next) and a disentanglement table (models x metrics: the
chance-corrected information metrics first, their plug-in values after). Every number is
higher-is-better except the held-out reconstruction error (log-mel models) and spectral
distance (waveform models, RAVE's); active-latent counts are descriptive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from synaudio.declared import stage_id
from synaudio.params import Params
from synaudio.studies.synspeech.schema import (
    BASELINES,
    PLUGIN_SUFFIX,
    PROBED,
    arm_stage,
    baseline_file,
    row_label,
    score_stage,
)
from synaudio.summaries import cell, interval

PROBES = tuple(f"probe/{name}" for name, _, _ in PROBED)
INFORMATION = ("mig", "jemmig", "dcimig", "modularity")
SUITE = (*INFORMATION, "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness",
         "explicitness", "infom", "infoe", "infoc",
         *(f"{name}{PLUGIN_SUFFIX}" for name in INFORMATION))  # fmt: skip
HELD_OUT = ("reconstruction_error", "spectral_distance", "active_dimensions", "active_units")
MODEL_ORDER = (*BASELINES, "vae", "beta_vae", "factor_vae", "beta_tcvae")  # then the level arm's rows
VERSION_ORDER = ("small", "medium", "large")  # the original's; other versions follow by name


def evaluation_files(params: Params, artifacts: Path) -> list[tuple[Path, str]]:
    """(evaluation JSON, stage that writes it) for every version, model and seed params.yaml
    declares, the baselines of each version first, the representations scored from their
    codes (speech.scored) last."""
    declared = []
    for version in params.speech.versions:
        stage = stage_id("speech_baseline", version)
        declared += [(artifacts / "eval" / baseline_file(version, name), stage) for name in BASELINES]
        declared += [
            (
                artifacts / "eval" / f"{version}-{model}-seed{seed}.json",
                stage_id("speech_evaluate", version, model, seed),
            )
            for model in params.speech.models
            for seed in params.speech.seeds
        ]
    arm = params.speech.level_normalised
    declared += [
        (
            artifacts / "eval" / level_file(version, model, seed),
            stage_id("speech_evaluate_level", version, model, seed),
        )
        for version in arm.versions
        for model in arm.models
        for seed in params.speech.seeds
    ]
    declared += [
        (artifacts / "eval" / f"{version}-{name}-seed{seed}.json", stage_id(score_stage(name), version, seed))
        for name, scored in params.speech.scored.items()
        for version in scored.versions
        for seed in scored.seeds
    ]
    return declared


def level_file(version: str, model: str, seed: int) -> str:
    """The evaluation JSON of one model of the level-normalised arm (stage speech_evaluate_level)."""
    return f"{version}-{model}-level-seed{seed}.json"


def arm_models(params: Params, level: bool) -> list[str]:
    """The models trained in one front-end arm (the level-normalised one, or the benchmark's)."""
    return params.speech.level_normalised.models if level else params.speech.models


def infomec_file(model: str, seed: int) -> str:
    """One trained model's InfoMEC JSON in its arm's folder (stage speech_infomec[_level])."""
    return f"{model}-seed{seed}.json"


def infomec_files(params: Params, artifacts: Path) -> list[tuple[Path, str]]:
    """(InfoMEC JSON, stage) for every trained model and seed params.yaml declares: in
    <version>/infomec, the level-normalised arm's in <version>/level/infomec."""
    arms = [(False, params.speech.versions), (True, params.speech.level_normalised.versions)]
    return [
        (artifacts / version / ("level/infomec" if level else "infomec") / infomec_file(model, seed),
         stage_id(arm_stage("speech_infomec", level), version))
        for level, versions in arms
        for version in versions
        for model in arm_models(params, level)
        for seed in params.speech.seeds
    ]  # fmt: skip


def model_key(result: dict[str, Any]) -> tuple[str, str, str, int]:
    """(version, model, front-end arm, seed): what one evaluation is of."""
    return result["version"], result["model"], result.get("front_end", ""), int(result["seed"])


def _order(name: str, known: tuple[str, ...]) -> tuple[int, str]:
    return (known.index(name) if name in known else len(known), name)  # known first, then by name


def aggregate(evaluations: list[dict[str, Any]]) -> pd.DataFrame:
    """Long table: version, model, metric, group, mean, std, ci95, seeds, chance."""
    rows = []
    for evaluation in evaluations:
        numbers = {**evaluation["metrics"], **{k: evaluation.get("held_out", {}).get(k) for k in HELD_OUT}}
        for metric, value in numbers.items():
            if value is None or (metric not in PROBES and metric not in SUITE and metric not in HELD_OUT):
                continue
            group = "probe" if metric in PROBES else "held_out" if metric in HELD_OUT else "disentanglement"
            chance = evaluation["chance"].get(metric.replace("probe/", "chance/"))
            model = row_label(evaluation["model"], evaluation.get("front_end"))
            rows.append(
                {"version": evaluation["version"], "model": model, "metric": metric,
                 "group": group, "value": float(value), "chance": chance}
            )  # fmt: skip
    long = pd.DataFrame(rows)
    table = (
        long.groupby(["version", "model", "metric", "group"], sort=False)
        .agg(mean=("value", "mean"), std=("value", lambda v: v.std(ddof=1)), seeds=("value", "size"),
             chance=("chance", "first"))
        .reset_index()
    )  # fmt: skip
    table["ci95"] = [interval(std, seeds) for std, seeds in zip(table["std"], table["seeds"], strict=True)]
    metric_order = (*PROBES, *SUITE, *HELD_OUT)
    table["version_rank"] = table["version"].map(lambda v: _order(v, VERSION_ORDER)[0])
    table["model_rank"] = table["model"].map(lambda m: _order(m, MODEL_ORDER)[0])
    table["metric_rank"] = table["metric"].map(metric_order.index)
    ranks = ["version_rank", "version", "model_rank", "model", "metric_rank"]
    table = table.sort_values(ranks, kind="stable")
    return table.drop(columns=["version_rank", "model_rank", "metric_rank"]).reset_index(drop=True)


def _pivot(table: pd.DataFrame, metrics: tuple[str, ...]) -> tuple[list[str], list[str], dict]:
    present = [m for m in metrics if m in set(table["metric"])]
    models = list(dict.fromkeys(table["model"]))
    cells = {(r.model, r.metric): cell(r.mean, r.ci95, r.seeds) for r in table.itertuples()}
    return present, models, cells


def markdown(table: pd.DataFrame) -> str:
    """Per version: probes (accuracy or R^2; chance first) and the metrics suite."""
    out = []
    for version, part in table.groupby("version", sort=False):
        metrics, models, cells = _pivot(part, PROBES)
        chance = {r.metric: r.chance for r in part.itertuples() if pd.notna(r.chance)}
        seeds = {r.model: int(r.seeds) for r in part.itertuples()}
        out.append(f"**{version}: linear probes** (accuracy for classes, R² for voice parameters)\n")
        out.append("| model | " + " | ".join(m.removeprefix("probe/") for m in metrics) + " |")
        out.append("|---" * (len(metrics) + 1) + "|")
        chance_cells = (f"{chance[m]:.3f}" if m in chance else "0" for m in metrics)
        out.append("| *chance* | " + " | ".join(chance_cells) + " |")
        for model in models:
            label = f"{model} ({seeds[model]} seed{'s' if seeds[model] > 1 else ''})"
            out.append(f"| {label} | " + " | ".join(cells.get((model, m), "") for m in metrics) + " |")
        metrics, models, cells = _pivot(part, (*SUITE, *HELD_OUT))
        models = [m for m in models if any((m, metric) in cells for metric in metrics)]
        out.append(
            f"\n**{version}: disentanglement** (held-out clips; reconstruction error, spectral distance: "
            "lower is better)\n"
        )
        out.append("| model | " + " | ".join(metrics) + " |")
        out.append("|---" * (len(metrics) + 1) + "|")
        for model in models:
            out.append(f"| {model} | " + " | ".join(cells.get((model, m), "") for m in metrics) + " |")
        out.append("")
    return "\n".join(out)
