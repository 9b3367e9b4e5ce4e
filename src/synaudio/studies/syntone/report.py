"""Build reports/: tables, figures, audio, plot data and index.html from the study's outputs.

Reads only what earlier stages wrote and dvc.yaml declares - the evaluation JSONs of the
grid params.yaml names, the aggregate table, trained models (with their training.json:
losses per epoch, MLflow run id, git state) and datasets - so a clone rebuilds the same
page byte for byte on the same kind of CPU. The front-ends (for the examples' encodings,
reconstructions and inversions) are computed here from the datasets by the features
stage's code (features.computed), not read from features@<protocol>. Everything under
reports/syntone/ is written into a temporary directory and swapped in whole; index.html
is written last, so a failure leaves the previous report intact.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from synaudio import syntone_recipe as recipe
from synaudio.atomic import atomic_directory, atomic_write_text
from synaudio.command import cap_threads, cores, cpu_model
from synaudio.declared import read_results, stage_id
from synaudio.errors import UserError
from synaudio.features import computed, load_features
from synaudio.inference import ACTIVE_KL, SUMMARY_FILE, encode, load_backbone
from synaudio.params import Params
from synaudio.protocol import CORRECTED, DATA_PROTOCOLS, PROTOCOLS
from synaudio.report import figures
from synaudio.report.inversion import Inverter, sweep, write_wav
from synaudio.report.output import Output, decode
from synaudio.report.readme import patch_readme
from synaudio.store import load_dataset
from synaudio.studies.syntone import page, tables
from synaudio.studies.syntone.evaluation import FACTOR_NAMES

MACHINE = "machine.json"  # the CPU model that built the page (.ci/compare-reports reads it)
LABELS = {"mig": "MIG", "sap": "SAP", "dcimig": "DCIMIG", "jemmig": "JEMMIG", "modularity": "Modularity",
          "dci_disentanglement": "DCI disentanglement", "dci_completeness": "DCI completeness",
          "dci_informativeness": "DCI informativeness", "explicitness": "explicitness",
          "infom": "InfoM", "infoe": "InfoE", "infoc": "InfoC",
          "probe/waveform": "probe: waveform (accuracy)", "probe/frequency": "probe: frequency (R²)",
          "probe/amplitude": "probe: amplitude (R²)", "probe/log_frequency": "probe: log frequency (R²)",
          "probe/amplitude_db": "probe: amplitude in dB (R²)",
          "probe_forest/waveform": "forest probe: waveform (accuracy)",
          "probe_forest/log_frequency": "forest probe: log frequency (R²)",
          "probe_forest/amplitude_db": "forest probe: amplitude in dB (R²)"}  # fmt: skip


@dataclass
class Evaluated:
    """One evaluation JSON with the model behind it and the runs that made both."""

    protocol: str
    model: str
    seed: int
    result: dict[str, Any]
    model_dir: Path
    training: dict[str, Any]

    @property
    def stages(self) -> tuple[str, str]:
        keys = (self.model, self.seed)
        return stage_id(f"train_{self.protocol}", *keys), stage_id(f"evaluate_{self.protocol}", *keys)


@dataclass(frozen=True)
class Sources:
    """Where the study's outputs lie, and each data protocol's front-end as computed by this
    stage (what worker processes are handed: paths, never arrays)."""

    artifacts: Path
    features: dict[str, Path]


@dataclass
class ModelMedia:
    """Per (protocol, model): figure and audio links (relative to reports/)."""

    protocol: str
    model: str
    seed: int
    figures: dict[str, str] = field(default_factory=dict)
    audio: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _evaluations(params: Params, artifacts: Path) -> list[Evaluated]:
    """The evaluations params.yaml declares, each with the model beside it."""
    found = []
    for result in read_results(tables.evaluation_files(params, artifacts)):
        protocol, model, seed = result["protocol"], result["model"], int(result["seed"])
        model_dir = artifacts / protocol / "models" / model / f"seed{seed}"
        summary = model_dir / SUMMARY_FILE
        if not summary.exists():
            raise UserError(
                f"the evaluation of {model}/{protocol}/seed{seed} has no trained model beside it ({summary} "
                f"is missing); restore it with git checkout, or re-run dvc repro "
                f"{stage_id(f'train_{protocol}', model, seed)}"
            )
        found.append(Evaluated(protocol, model, seed, result, model_dir, json.loads(summary.read_text())))
    return found


def _examples(factors: pd.DataFrame, test_rows: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Held-out clips to show: cycle through the waveforms, random within each."""
    rng = np.random.default_rng(seed)
    waveforms = factors["waveform_idx"].to_numpy()[test_rows]
    kinds = np.unique(waveforms)
    return np.array([rng.choice(test_rows[waveforms == kinds[i % kinds.size]]) for i in range(count)])


def _label(factors: pd.DataFrame, row: int) -> str:
    clip = factors.iloc[row]
    return f"{clip['waveform']} {clip['frequency_hz']:.0f} Hz, amplitude {clip['amplitude']:.2f}"


class ProtocolInputs:
    """A protocol's dataset, features, inverter and the example clips shown for it."""

    def __init__(self, sources: Sources, protocol: str, params: Params) -> None:
        settings = params.report
        self.protocol = protocol
        self.dataset = load_dataset(sources.artifacts / protocol / "dataset")
        self.features, manifest, split = load_features(sources.features[protocol], "report")
        self.sample_rate = int(self.dataset.manifest["audio"]["sample_rate"])
        self.inverter = Inverter(manifest, self.sample_rate, settings.griffin_lim_iters, settings.seed)
        held_out = np.sort(split["test"])
        self.examples = _examples(self.dataset.factors, held_out, settings.examples, settings.seed)
        self.labels = [_label(self.dataset.factors, row) for row in self.examples]

    def clip(self, row: int) -> np.ndarray:
        return np.asarray(self.dataset.waveforms(slice(row, row + 1))[0], dtype=np.float32)


def _originals(inputs: ProtocolInputs, out: Output) -> list[tuple[str, str]]:
    """The example clips as stored, and inverted from their own features (the inversion's floor)."""
    audio = []
    for k, row in enumerate(inputs.examples):
        clip = inputs.clip(row)
        name = f"audio/{inputs.protocol}/original-{k}.wav"
        write_wav(out.path(name), clip, inputs.sample_rate)
        inverted = f"audio/{inputs.protocol}/original-{k}-griffin-lim.wav"
        write_wav(
            out.path(inverted), inputs.inverter.waveform(inputs.features[row], clip.size), inputs.sample_rate
        )
        audio += [(out.link(name), f"original: {inputs.labels[k]}"),
                  (out.link(inverted), "the same clip's features, inverted")]  # fmt: skip
    return audio


def _vary(base: np.ndarray, dim: int, values: np.ndarray) -> np.ndarray:
    """Copies of one base code with only `dim` set to each value. The reference kept earlier
    rows' edits in place; here every row starts again from the base code."""
    codes = np.repeat(base[None, :], len(values), axis=0)
    codes[:, dim] = values
    return codes


def _model_media(item: Evaluated, inputs: ProtocolInputs, params: Params, out: Output) -> ModelMedia:
    """Reconstruction, prior-sample and traversal figures plus audio for one trained model."""
    settings = params.report
    backbone = load_backbone(item.model_dir, params.training.latent_dim, recipe.backbone())
    media = ModelMedia(item.protocol, item.model, item.seed)
    prefix = f"{item.protocol}/{item.model}"
    inverter, samples = inputs.inverter, inputs.dataset.audio.shape[1]
    example_means, _ = encode(backbone, inputs.features[inputs.examples])
    rebuilt = decode(backbone, example_means)
    inverted = [inverter.waveform(image, samples) for image in rebuilt]
    figures.reconstructions(
        [inverter.decibels(inputs.features[row]) for row in inputs.examples],
        [inverter.decibels(image) for image in rebuilt],
        [inputs.clip(row) for row in inputs.examples], inverted, inputs.labels, inputs.sample_rate,
        out.path(f"{prefix}/reconstruction.png"),
    )  # fmt: skip
    media.figures["reconstruction"] = out.link(f"{prefix}/reconstruction.png")
    media.audio["reconstruction"] = []
    for k, audio in enumerate(inverted):
        name = f"{prefix}/reconstruction-{k}.wav"
        write_wav(out.path(name), audio, inputs.sample_rate)
        media.audio["reconstruction"].append((out.link(name), f"reconstruction: {inputs.labels[k]}"))

    generator = torch.Generator().manual_seed(settings.seed)
    prior = torch.randn(settings.prior_samples, params.training.latent_dim, generator=generator).numpy()
    figures.mel_strip(
        [inverter.decibels(image) for image in decode(backbone, prior)],
        [f"sample {k + 1}" for k in range(settings.prior_samples)], out.path(f"{prefix}/prior.png"),
    )  # fmt: skip
    media.figures["prior"] = out.link(f"{prefix}/prior.png")

    kl = np.asarray(item.result["held_out"]["kl_per_dimension"])
    order = np.argsort(-kl, kind="stable")
    values = np.linspace(-settings.traversal.span, settings.traversal.span, settings.traversal.steps)
    grid = np.stack([decode(backbone, _vary(example_means[0], dim, values)) for dim in order])
    figures.traversal(
        inverter.decibels(grid), [f"z{d} (KL {kl[d]:.2f})" for d in order], values,
        out.path(f"{prefix}/traversal.png"),
    )  # fmt: skip
    media.figures["traversal"] = out.link(f"{prefix}/traversal.png")
    media.audio["traversal"] = []
    for rank, dim in enumerate(order[: settings.sweep_dimensions]):
        if kl[dim] <= ACTIVE_KL:
            break  # inactive latents decode the same image at every value: nothing to hear
        name = f"{prefix}/traversal-z{dim}.wav"
        steps = [inverter.waveform(image, samples) for image in grid[rank]]
        write_wav(out.path(name), sweep(steps, inputs.sample_rate), inputs.sample_rate)
        media.audio["traversal"].append(
            (out.link(name), f"z{dim} from {values[0]:+.0f} to {values[-1]:+.0f}, {len(values)} steps")
        )
    return media


_WORKER_INPUTS: dict[str, ProtocolInputs] = {}  # per worker process: each protocol's inputs, loaded once


def _start_worker(threads: int) -> None:
    cap_threads(threads)  # as the stage itself: the bytes of every figure and clip do not depend on the pool


def _worker_inputs(sources: Sources, protocol: str, params: Params) -> ProtocolInputs:
    if protocol not in _WORKER_INPUTS:
        _WORKER_INPUTS[protocol] = ProtocolInputs(sources, protocol, params)
    return _WORKER_INPUTS[protocol]


def _media_in_worker(item: Evaluated, sources: Sources, params: Params, out: Output) -> ModelMedia:
    return _model_media(item, _worker_inputs(sources, item.protocol, params), params, out)


def _originals_in_worker(
    protocol: str, sources: Sources, params: Params, out: Output
) -> list[tuple[str, str]]:
    """Jobs name a protocol, never its inputs: pickling those would copy the features."""
    return _originals(_worker_inputs(sources, protocol, params), out)


def _information(item: Evaluated) -> np.ndarray:
    """I(z_k; factor_j) / H(factor_j), (factors, latents), as the evaluation stage wrote it."""
    written = item.result.get("information")
    if written is None:
        raise UserError(
            f"{item.stages[1]}'s result has no latent-factor information (written by an older version); "
            f"re-run: dvc repro {item.stages[1]}"
        )
    return np.array([written[name] for name in FACTOR_NAMES], dtype=np.float64)


def _amplitude_erasure(sources: Sources, out: Output) -> dict[str, Any]:
    """One tone at its grid's lowest, middle and highest amplitude through both front-ends."""
    images, changes, amplitudes, tone_name = {}, {}, [], ""
    for protocol in DATA_PROTOCOLS:
        dataset = load_dataset(sources.artifacts / protocol / "dataset")
        features, manifest, _ = load_features(sources.features[protocol], "report")
        factors = dataset.factors
        frequency = np.sort(factors["frequency_hz"].unique())[factors["frequency_hz"].nunique() // 4]
        tone = factors[(factors["waveform_idx"] == 0) & (factors["frequency_hz"] == frequency)]
        tone = tone.sort_values("amplitude")
        rows = tone.index.to_numpy()[[0, len(tone) // 2, len(tone) - 1]]
        inverter = Inverter(manifest, int(dataset.manifest["audio"]["sample_rate"]), 1, 0)
        images[protocol] = [inverter.decibels(features[row]) for row in rows]
        changes[protocol] = float(np.abs(features[rows[-1]] - features[rows[0]]).max())
        amplitudes = [float(a) for a in factors.loc[rows, "amplitude"]]
        tone_name = f"{tone['waveform'].iloc[0]} at {frequency:.0f} Hz"
    figures.amplitude_erasure(images["paper"], images["corrected"], amplitudes, changes["paper"],
                              changes["corrected"], out.path("amplitude-erasure.png"))  # fmt: skip
    return {"figure": out.link("amplitude-erasure.png"), "tone": tone_name, "amplitudes": amplitudes,
            "changes": changes}  # fmt: skip


def _curves(items: list[Evaluated]) -> dict[tuple[str, str, int], pd.DataFrame]:
    """Per-epoch losses from each training.json (the train stage's output, not MLflow's
    database, so a clone draws the same curves): columns epoch, then the losses."""
    curves = {}
    for item in items:
        history = pd.DataFrame(item.training.get("history", []))
        if not history.empty:
            losses = sorted(c for c in history.columns if c != "epoch")
            curves[(item.model, item.protocol, item.seed)] = history[["epoch", *losses]]
    return curves


def _plot_data(items: list[Evaluated], curves: dict[tuple[str, str, int], pd.DataFrame], out: Output) -> None:
    """CSV files declared as dvc plots: one training curve per run, probe scores per model."""
    for (model, protocol, seed), frame in curves.items():
        frame.to_csv(out.path(f"plots/training/{model}-{protocol}-seed{seed}.csv"), index=False,
                     lineterminator="\n")  # fmt: skip
    probes = pd.DataFrame(
        [{"probe": f"{item.model} / {key.removeprefix('probe/')}", "score": value["mean"]}
         for item in items if item.protocol == "corrected"
         for key, value in item.result["metrics"].items() if key.startswith("probe/")],
        columns=["probe", "score"],
    )  # fmt: skip
    probes = probes.groupby("probe", sort=False, as_index=False)["score"].mean()
    probes.to_csv(out.path("plots/probes.csv"), index=False, lineterminator="\n")


def _summary_figures(
    table: pd.DataFrame,
    items: list[Evaluated],
    information: dict[str, np.ndarray],
    curves: dict[tuple[str, str, int], pd.DataFrame],
    out: Output,
) -> dict[str, str]:
    made = {}
    figures.metric_bars(table, tables.PAPER_METRICS, LABELS, out.path("metrics-paper.png"))
    made["metrics_paper"] = out.link("metrics-paper.png")
    if table.get("corrected_mean") is not None and table["corrected_mean"].notna().any():
        extra = [m for m in tables.CORRECTED_EXTRA if m in set(table["metric"])]
        figures.metric_bars(table, extra, LABELS, out.path("metrics-corrected.png"))
        made["metrics_corrected"] = out.link("metrics-corrected.png")
    profiles: dict[str, dict[str, list[list[float]]]] = {}
    for item in items:
        profiles.setdefault(item.model, {}).setdefault(item.protocol, []).append(
            item.result["held_out"]["kl_per_dimension"]
        )
    figures.kl_profiles(profiles, ACTIVE_KL, out.path("kl-per-dimension.png"))
    made["kl"] = out.link("kl-per-dimension.png")
    if curves:
        figures.training_curves(curves, out.path("training-curves.png"))
        made["curves"] = out.link("training-curves.png")
    held_out = {
        key: frame for key, frame in curves.items() if key[1] == CORRECTED.name and "heldout/elbo" in frame
    }
    if held_out:
        figures.held_out_curves(held_out, out.path("held-out-curves.png"))
        made["held_out"] = out.link("held-out-curves.png")
    if information:
        figures.information_matrices(information, FACTOR_NAMES, out.path("latent-factor-information.png"))
        made["information"] = out.link("latent-factor-information.png")
    return made


def _table(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc}); run: dvc repro aggregate") from None


@contextmanager
def _pool(params: Params) -> Iterator[ProcessPoolExecutor]:
    """Worker processes for the per-model media: the report stage runs alone (synaudio
    schedule, dvc repro), so every core, at training.threads each. Spawned, not forked:
    torch's thread pools do not survive a fork."""
    threads = params.training.threads
    context = multiprocessing.get_context("spawn")
    workers = max(1, cores() // threads)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(threads,)
    ) as pool:
        yield pool


def build(params: Params, artifacts: Path, results: Path, out: Path, readme: Path | None) -> dict[str, Any]:
    """Write out/syntone/ and out/index.html, and the README's results sections. The ablation
    ladder's table is read from beside `results` (the aggregate stage writes both)."""
    started = time.perf_counter()
    items = _evaluations(params, artifacts)
    table, ladder = _table(results), _table(results.with_name("ladder.csv"))
    order = list(dict.fromkeys(table["model"]))
    items.sort(key=lambda i: (list(PROTOCOLS).index(i.protocol), order.index(i.model), i.seed))
    curves = _curves(items)
    with ExitStack() as front_ends, atomic_directory(out / "syntone") as staging, _pool(params) as pool:
        sources = Sources(artifacts, {
            name: front_ends.enter_context(computed(artifacts / name / "dataset", PROTOCOLS[name],
                                                    params.features, params.split))
            for name in DATA_PROTOCOLS
        })  # fmt: skip
        output = Output(staging, "syntone")
        # Every figure and clip is a job for the worker processes (decoding, Griffin-Lim and
        # matplotlib are the stage's time); this process only collects them.
        first = {}
        for item in items:
            first.setdefault((item.protocol, item.model), item)  # the lowest seed: items are sorted
        information = {
            item.model: _information(item)
            for item in first.values()
            if PROTOCOLS[item.protocol].latents == "posterior_means_held_out"
        }
        media_jobs = [pool.submit(_media_in_worker, item, sources, params, output) for item in first.values()]
        originals_jobs = {
            protocol: pool.submit(_originals_in_worker, protocol, sources, params, output)
            for protocol in DATA_PROTOCOLS
            if any(key[0] == protocol for key in first)
        }
        summary_job = pool.submit(_summary_figures, table, items, information, curves, output)
        erasure_job = pool.submit(_amplitude_erasure, sources, output)
        _plot_data(items, curves, output)
        media = [job.result() for job in media_jobs]
        originals = {protocol: job.result() for protocol, job in originals_jobs.items()}
        summary, erasure = summary_job.result(), erasure_job.result()
        markdown, ladder_markdown = tables.report_markdown(table, items), tables.ladder_markdown(ladder)
        (staging / "results.md").write_text(markdown)
        table.to_csv(staging / "results.csv", index=False, lineterminator="\n")
        (staging / "ladder.md").write_text(ladder_markdown)
        # the media's last bits depend on the CPU model: a rebuild elsewhere compares the tables
        (staging / MACHINE).write_text(json.dumps({"cpu": cpu_model()}, indent=2) + "\n")
        ladder.to_csv(staging / "ladder.csv", index=False, lineterminator="\n")
        html = page.render(table, ladder, items, media, originals, summary, erasure, information, LABELS)
    atomic_write_text(out / "index.html", html)
    if readme is not None:
        patch_readme(readme, markdown, tables.MARKERS)
        patch_readme(readme, ladder_markdown, tables.LADDER_MARKERS)
    files = [p for p in (out / "syntone").rglob("*") if p.is_file()] + [out / "index.html"]
    return {
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "seconds": time.perf_counter() - started,
        "runs_found": sum(bool(i.training.get("provenance", {}).get("mlflow_run_id")) for i in items),
        "evaluations": len(items),
    }
