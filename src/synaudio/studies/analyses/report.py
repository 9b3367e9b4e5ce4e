"""reports/analyses.html + reports/analyses/: the representation analyses on one page.

Reads what the analyses stages wrote (artifacts/analyses/: the receptive-field table, the
SynSpeech and SynTone layer analyses, the observed trainings' curves and the input-size
sweeps), copies their figures next to the page and renders their Markdown tables; each
section's paragraph takes its numbers from the same files, so the page stays true when a
stage is re-run at another scale. Written staged and swapped in whole, the page last.
"""

from __future__ import annotations

import html
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from synaudio.atomic import atomic_directory, atomic_write_text
from synaudio.codes import training_provenance
from synaudio.params import Params
from synaudio.report.output import Output, render
from synaudio.studies.analyses.runs import RUNS

OVER_TRAINING = ("saturation", "probe_waveform_idx", "probe_amplitude_idx", "probe_frequency_idx")
SPEECH_OVER_TRAINING = ("saturation", "probe_speaker_id", "probe_gender", "probe_keyword")
# section -> (the folder under artifacts/analyses, its stage, its figures); runs.RUNS: its MLflow run
SECTIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "fields": ("fields", "receptive_fields", ()),
    "speech": ("layers", "layer_analysis", ("layers", "across", "within", "latent")),
    "syntone": ("syntone_layers", "syntone_layer_analysis", ("layers", "across", "within", "latent")),
    "dynamics": ("dynamics/curves", "training_dynamics", OVER_TRAINING),
    "paper_dynamics": ("paper_dynamics/curves", "paper_training_dynamics", OVER_TRAINING),
    "speech_dynamics": ("speech_dynamics/curves", "speech_training_dynamics", SPEECH_OVER_TRAINING),
    "input_size": ("input_size/sweep", "input_size_sweep", ("input_size",)),
    "paper_input_size": ("paper_input_size/sweep", "paper_input_size_sweep", ("input_size",)),
    "speech_input_size": ("speech_input_size/sweep", "speech_input_size_sweep", ("input_size",)),
}
OBSERVED = tuple(key for key, (folder, _, _) in SECTIONS.items() if folder.endswith("/curves"))
INPUT_SIZE = tuple(key for key, (folder, _, _) in SECTIONS.items() if folder.endswith("/sweep"))
TRAININGS = {key: f"{key}/models" for key in (*OBSERVED, *INPUT_SIZE)}  # the observed trainings


def markdown_html(text: str) -> Markup:
    """The analyses' Markdown (pipe tables and plain lines) as HTML tables and paragraphs."""
    out, table = [], []

    def close() -> None:
        if table:
            head, body = table[0], [r for r in table[1:] if not set("".join(r)) <= set("-:")]
            out.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
                       + "</tbody></table>")  # fmt: skip
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append([html.escape(c.strip().strip("`")) for c in line.strip().strip("|").split("|")])
            continue
        close()
        if line.strip():
            out.append(f"<p>{html.escape(line.strip())}</p>")
    close()
    return Markup("\n".join(out))


def span(values: Any) -> str:
    """A range of values as the README writes them: 0.62-0.65 (or one value)."""
    low, high = float(np.min(values)), float(np.max(values))
    return f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}-{high:.2f}"


def layer_facts(table: pd.DataFrame) -> dict[str, Any]:
    """What a layers table (model, seed, layer, saturation, probe_*) says, over its models
    (means over seeds): saturation at the first and the last layer, and per probed factor
    the layer that gives it best and what is left at the last layer."""
    means = table.groupby(["model", "layer"], sort=False).mean(numeric_only=True).reset_index()
    layers = list(dict.fromkeys(table.sort_values("depth")["layer"]))
    at = {layer: means[means["layer"] == layer] for layer in layers}
    probes = {}
    for column in (c for c in table.columns if c.startswith("probe_")):
        best = max(layers, key=lambda layer: at[layer][column].mean())
        probes[column.removeprefix("probe_")] = {"best": best, "at_best": span(at[best][column]),
                                                 "at_last": span(at[layers[-1]][column])}  # fmt: skip
    return {"first": layers[0], "last": layers[-1], "saturation_first": span(at[layers[0]]["saturation"]),
            "saturation_last": span(at[layers[-1]]["saturation"]), "probes": probes}  # fmt: skip


def similarity_facts(tables: dict[str, Any]) -> dict[str, Any]:
    """Linear CKA at the first analysed layer and at the representations (each model's last
    layer): each model against itself at another seed (the diagonal), and between models -
    for `<group>/<model>` names (SynTone's protocols, the SSL encoders), within one group and
    across groups."""
    models, first = tables["models"], tables["layers"][0]
    latent = tables["latent"]["linear_cka"]
    group = [m.rpartition("/")[0] for m in models]
    pairs = [(i, j) for i in range(len(models)) for j in range(i + 1, len(models))]
    within = [latent[i][j] for i, j in pairs if group[i] == group[j]]
    across = [latent[i][j] for i, j in pairs if group[i] != group[j]]
    return {
        "first": first, "pairs": tables["pairs"],
        "self_first": span(np.diag(np.asarray(tables["across"][first], dtype=float))),
        "self_last": span(np.diag(np.asarray(latent))),
        "within": span(within) if within else None, "across": span(across) if across else None,
    }  # fmt: skip


def _observed(analyses: Path, key: str) -> list[dict[str, Any]]:
    """Provenance of every observed training under TRAININGS[key] (its training.json)."""
    rows = []
    for summary in sorted((analyses / TRAININGS[key]).rglob("training.json")):
        name = summary.parent.relative_to(analyses / TRAININGS[key]).as_posix()
        rows.append({"name": name, **training_provenance(json.loads(summary.read_text()))})
    return rows


def _add_facts(analyses: Path, sections: dict[str, dict[str, Any]]) -> None:
    """The numbers each section's paragraph quotes, and the observed trainings' provenance."""
    for key in ("speech", "syntone"):
        source = analyses / SECTIONS[key][0]
        layers = pd.read_csv(source / "layers.csv")
        sections[key]["similarity"] = similarity_facts(json.loads((source / "similarity.json").read_text()))
        groups = layers["model"].str.rpartition("/")[0]  # SynTone's protocol; "" for SynSpeech
        sections[key]["facts"] = {g: layer_facts(layers[groups == g]) for g in dict.fromkeys(groups)}
    for key in OBSERVED:
        curves = pd.read_csv(analyses / SECTIONS[key][0] / "dynamics.csv")
        epochs = (0, 1, int(curves["epoch"].max()))  # untrained, after the first epoch, at the end
        sections[key]["facts"] = [layer_facts(curves[curves["epoch"] == epoch]) for epoch in epochs]
    for key in INPUT_SIZE:
        sweep = pd.read_csv(analyses / SECTIONS[key][0] / "input_size.csv")
        last = sweep[sweep["epoch"] == sweep.groupby("input")["epoch"].transform("max")]
        sections[key]["facts"] = {size: layer_facts(last[last["input"] == size])
                                  for size in dict.fromkeys(last["input"])}  # fmt: skip
    for key in TRAININGS:
        sections[key]["trainings"] = _observed(analyses, key)


def build(params: Params, analyses: Path, out: Path) -> dict[str, Any]:
    """Write out/analyses/ and out/analyses.html."""
    started = time.perf_counter()
    sections: dict[str, dict[str, Any]] = {}
    with atomic_directory(out / "analyses") as staging:
        output = Output(staging, "analyses")
        for key, (folder, stage, figures) in SECTIONS.items():
            source = analyses / folder
            table = next(source.glob("*.md"))
            links = {}
            for figure in figures:
                shutil.copyfile(source / f"{figure}.png", output.path(f"{key}/{figure}.png"))
                links[figure] = output.link(f"{key}/{figure}.png")
            sections[key] = {
                "stage": stage, "run": RUNS[key], "figures": links,
                "source": f"{folder}/{table.name}", "table": markdown_html(table.read_text()),
            }  # fmt: skip
        _add_facts(analyses, sections)
        (staging / "manifest.json").write_text(  # the folder's signature: ours to replace (synaudio.atomic)
            json.dumps({"page": "analyses.html", "sections": list(SECTIONS)}, indent=2) + "\n"
        )
        page = render(Path(__file__).parent / "analyses.html.j2", s=sections, settings=params.analyses,
                      speech_epochs=params.speech.epochs)  # fmt: skip
    atomic_write_text(out / "analyses.html", page)
    files = [p for p in (out / "analyses").rglob("*") if p.is_file()] + [out / "analyses.html"]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "seconds": time.perf_counter() - started}  # fmt: skip
