"""reports/speech.html + reports/speech/: the SynSpeech benchmark's tables, figures and audio.

Per benchmarked version: the probe and disentanglement tables, probe bars against
chance and the untrained baselines, which latent carries which factor (the evaluation's
chance-corrected information matrix: nothing is re-encoded here), and per model two
held-out reconstructions to look at and listen to (Griffin-Lim). Plus the dataset
itself: one text spoken by a female and a male speaker in every style of the version
that has them. Provenance comes from the stages' outputs (training.json, the model's
SHA-256 in the evaluation), not from a local MLflow database. The log-mels shown, encoded
and inverted are computed here from the datasets (features.computed), not read from
speech_features@<version>, whose bytes depend on the CPU kind.
Written like the SynTone report: staged, swapped in whole, the page last.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synaudio import speech_recipe as recipe
from synaudio.atomic import atomic_directory, atomic_write_text
from synaudio.codes import training_provenance
from synaudio.declared import read_results, stage_id
from synaudio.errors import UserError
from synaudio.features import computed, load_features
from synaudio.inference import SUMMARY_FILE, encode, load_backbone
from synaudio.params import Params
from synaudio.report import figures
from synaudio.report.inversion import Inverter, write_wav
from synaudio.report.output import Output, decode, render
from synaudio.report.readme import patch_readme
from synaudio.store import load_dataset
from synaudio.studies.synspeech import evaluation, schema, tables
from synaudio.summaries import cell

MARKERS = ("<!-- results:synspeech -->", "<!-- /results:synspeech -->")
SHOWN_CLIPS = 2
BARS_BASELINES = ("logmel_stats", "level_duration_f0")  # the rest are in the table only
NOISE_CODES = "noise codes"  # Gaussian codes independent of every factor


def _stages(version: str, model: str, seed: int, level: bool = False) -> tuple[str, str]:
    """The dvc.yaml stages that trained and evaluated one model (of the level arm: `level`)."""
    return tuple(
        stage_id(schema.arm_stage(stage, level), version, model, seed)
        for stage in ("speech_train", "speech_evaluate")
    )


def _clip(dataset: Any, row: int) -> np.ndarray:
    return np.asarray(dataset.waveforms(slice(row, row + 1))[0], dtype=np.float32)


def _label(factors: pd.DataFrame, row: int) -> str:
    clip = factors.iloc[row]
    return f'{clip["speaker_id"]} ({clip["gender"]}), {clip["style"]}, "{clip["text"]}"'


def _showcase(datasets: Path, front_ends: dict[str, Path], params: Params, out: Output) -> dict[str, Any]:
    """One text, a female and a male speaker, every style of the version with the most styles."""
    version = max(front_ends, key=lambda v: len(params.synspeech.versions[v].styles))
    dataset = load_dataset(datasets / version / "dataset")
    features, manifest, _ = load_features(front_ends[version], "speech_report")
    factors = dataset.factors
    inverter = Inverter(manifest, int(dataset.manifest["audio"]["sample_rate"]), 1, 0)
    speakers = [factors.loc[factors["gender"] == g, "speaker_index"].min() for g in ("female", "male")]
    text = factors["text_id"].min()
    rows = factors.index[factors["speaker_index"].isin(speakers) & (factors["text_id"] == text)].to_numpy()
    audio = []
    for row in rows:
        name = f"dataset/{version}-clip{row}.wav"
        write_wav(out.path(name), _clip(dataset, row), int(dataset.manifest["audio"]["sample_rate"]))
        audio.append((out.link(name), _label(factors, row)))
    titles = [f"{factors.loc[r, 'speaker_id']}\n{factors.loc[r, 'style']}" for r in rows]
    figures.mel_strip([inverter.decibels(features[r]) for r in rows], titles, out.path("dataset/styles.png"))
    return {"version": version, "figure": out.link("dataset/styles.png"), "audio": audio}


def _version(
    version: str, table: pd.DataFrame, results: list[dict[str, Any]], datasets: Path, artifacts: Path,
    front_end: Path, params: Params, out: Output,
) -> dict[str, Any]:  # fmt: skip
    """Figures and audio for one benchmarked version (`front_end`: its computed log-mels)."""
    settings = params.report
    dataset = load_dataset(datasets / version / "dataset")
    features, manifest, split = load_features(front_end, "speech_report")
    sample_rate = int(dataset.manifest["audio"]["sample_rate"])
    inverter = Inverter(manifest, sample_rate, settings.griffin_lim_iters, settings.seed)
    test = np.sort(split["test"])
    rng = np.random.default_rng(settings.seed)
    shown = np.sort(rng.choice(test, size=min(SHOWN_CLIPS, test.size), replace=False))
    labels = [_label(dataset.factors, row) for row in shown]
    part = table[table["version"] == version]
    made: dict[str, Any] = {"version": version, "models": []}
    hidden = set(schema.BASELINES) - set(BARS_BASELINES)
    figures.probe_bars(part[~part["model"].isin(hidden)], out.path(f"{version}/probes.png"), BARS_BASELINES)
    made["probes"] = out.link(f"{version}/probes.png")
    matrices, names = {}, []
    factory = recipe.backbone(params, dataset.audio.shape[1])
    originals = [_clip(dataset, row) for row in shown]
    made["originals"] = []
    for k, clip in enumerate(originals):
        name = f"{version}/original-{k}.wav"
        write_wav(out.path(name), clip, sample_rate)
        made["originals"].append((out.link(name), f"original: {labels[k]}"))
    trained = sorted(
        (r for r in results if r["version"] == version and r["model"] not in schema.BASELINES
         and "front_end" not in r and "representation" not in r),  # figures and audio: the study's
        # own models (the level arm and the representations scored from codes are in the tables)
        key=lambda r: (tables.MODEL_ORDER.index(r["model"]) if r["model"] in tables.MODEL_ORDER
                       else len(tables.MODEL_ORDER), r["model"], r["seed"]),
    )  # fmt: skip
    seen = set()
    for result in trained:
        if result["model"] in seen:
            continue  # the lowest seed stands for the model
        seen.add(result["model"])
        model, seed = result["model"], result["seed"]
        model_dir = schema.model_dir(artifacts, version, model, seed)
        backbone = load_backbone(model_dir, params.speech.latent_dim, factory)
        matrices[model], names = np.array(result["information"]["matrix"]), result["information"]["factors"]
        rebuilt = decode(backbone, encode(backbone, features[shown])[0])
        inverted = [inverter.waveform(image, dataset.audio.shape[1]) for image in rebuilt]
        prefix = f"{version}/{model}"
        figures.reconstructions(
            [inverter.decibels(features[row]) for row in shown], [inverter.decibels(i) for i in rebuilt],
            originals, inverted, labels, sample_rate, out.path(f"{prefix}/reconstruction.png"),
        )  # fmt: skip
        audio = []
        for k, wave in enumerate(inverted):
            write_wav(out.path(f"{prefix}/reconstruction-{k}.wav"), wave, sample_rate)
            audio.append((out.link(f"{prefix}/reconstruction-{k}.wav"), f"reconstruction: {labels[k]}"))
        training = json.loads((model_dir / SUMMARY_FILE).read_text())
        made["models"].append({
            "model": model, "seed": seed, "figure": out.link(f"{prefix}/reconstruction.png"), "audio": audio,
            "training": training, "active": result["held_out"]["active_units"],
            "stages": _stages(version, model, seed),
        })  # fmt: skip
    if matrices:  # codes that carry nothing: the estimator's floor, ~0 once chance-corrected
        noise = np.random.default_rng(settings.seed).standard_normal((test.size, params.speech.latent_dim))
        floor = evaluation.information(noise, dataset.factors.iloc[test], params.speech.bins)
        matrices[NOISE_CODES] = np.array(floor["matrix"])
        figures.information_matrices(matrices, names, out.path(f"{version}/latent-factor-information.png"))
        made["information"] = out.link(f"{version}/latent-factor-information.png")
        made["carriers"] = [
            {"model": m, "factors": [f"z{k} ({info[j, k]:.2f})" for j, k in enumerate(info.argmax(axis=1))]}
            for m, info in matrices.items()
        ]
        made["factor_names"] = names
    return made


def _provenance(results: list[dict[str, Any]], artifacts: Path) -> list[dict[str, Any]]:
    """Per evaluation, from the stages' own outputs: its DVC stages, the model's SHA-256
    (the MLflow runs carry it as tag model.sha256), and what training.json recorded - the
    training run id, git state and cost."""
    rows = []
    for result in results:
        version, model, seed = result["version"], result["model"], result["seed"]
        scored = result.get("representation")  # scored from its codes: provenance came with them
        if scored is not None:
            stages = [*scored["stages"], stage_id(schema.score_stage(model), version, seed)]
            rows.append({"version": version, "model": model, "seed": seed, "stages": stages,
                         "sha256": result["model_sha256"], **scored["training"]})  # fmt: skip
            continue
        baseline, level = model in schema.BASELINES, "front_end" in result
        summary = {} if baseline else json.loads(
            (schema.model_dir(artifacts, version, model, seed, level) / SUMMARY_FILE).read_text()
        )  # fmt: skip
        rows.append({
            "version": version, "model": schema.row_label(model, result.get("front_end")), "seed": seed,
            "stages": [stage_id("speech_baseline", version)] if baseline
            else list(_stages(version, model, seed, level)),
            "sha256": result.get("model_sha256", ""), **training_provenance(summary),
        })  # fmt: skip
    return rows


def build(params: Params, artifacts: Path, datasets: Path, out: Path, readme: Path | None) -> dict[str, Any]:
    """Write out/speech/ and out/speech.html (and the README's SynSpeech section)."""
    started = time.perf_counter()
    try:
        table = pd.read_csv(artifacts / "results.csv")
    except OSError as exc:
        raise UserError(f"no SynSpeech results ({exc}); run dvc repro speech_aggregate") from None
    results = read_results(tables.evaluation_files(params, artifacts))
    versions = list(dict.fromkeys(table["version"]))
    bench = params.speech
    with ExitStack() as stack, atomic_directory(out / "speech") as staging:
        front_ends = {
            v: stack.enter_context(
                computed(datasets / v / "dataset", recipe.PROTOCOL, bench.features, bench.split)
            )
            for v in versions
        }
        output = Output(staging, "speech")
        showcase = _showcase(datasets, front_ends, params, output)
        sections = [
            _version(v, table, results, datasets, artifacts, front_ends[v], params, output) for v in versions
        ]
        markdown = tables.markdown(table)
        (staging / "results.md").write_text(markdown)
        table.to_csv(staging / "results.csv", index=False, lineterminator="\n")
        runs = _provenance(results, artifacts)
        html = _render(table, results, sections, showcase, runs, params)
    atomic_write_text(out / "speech.html", html)
    if readme is not None:
        patch_readme(readme, markdown, MARKERS)
    files = [p for p in (out / "speech").rglob("*") if p.is_file()] + [out / "speech.html"]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "seconds": time.perf_counter() - started, "evaluations": len(results)}  # fmt: skip


def _render(
    table: pd.DataFrame, results: list[dict[str, Any]], sections: list[dict[str, Any]],
    showcase: dict[str, Any], runs: list[dict[str, Any]], params: Params,
) -> str:  # fmt: skip
    per_version = {}
    for version, part in table.groupby("version", sort=False):
        rows = {}
        for record in part.itertuples():
            rows.setdefault(record.model, {})[record.metric] = cell(record.mean, record.ci95, record.seeds)
        chance = {r.metric: f"{r.chance:.3f}" for r in part.itertuples() if pd.notna(r.chance)}
        present = set(part["metric"])
        per_version[version] = {
            "rows": rows, "chance": chance,
            "probes": [m for m in tables.PROBES if m in present],
            "suite": [m for m in (*tables.SUITE, *tables.HELD_OUT) if m in present],
        }  # fmt: skip
    evaluated = [r for r in results if r["model"] not in schema.BASELINES]
    return render(
        Path(__file__).parent / "speech.html.j2",
        tables=per_version, sections=sections, showcase=showcase, provenance=runs,
        baselines=schema.BASELINES, settings=evaluated[0]["settings"] if evaluated else {},
        speech=params.speech, synspeech=params.synspeech,
    )  # fmt: skip
