"""reports/rave.html + reports/rave/: what the RAVE-style model does with speech, heard.

Per version, its first seed's model: two held-out clips (the same ones reports/speech.html
shows) and their reconstructions - the decoder's own waveform, no phase estimation - and
latent traversals: each of the most active latents (highest held-out KL, from the codes
folder) set to one value over the whole clip, the others at the first clip's posterior
means, decoded. Its numbers are in the SynSpeech tables (reports/speech.html); the page
lists the training's provenance. Written staged and swapped in whole, the page last.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synaudio import rave_recipe as recipe
from synaudio.atomic import atomic_directory, atomic_write_text
from synaudio.codes import REPRESENTATION, training_provenance
from synaudio.features import mel_transform, to_db
from synaudio.inference import SUMMARY_FILE, load_backbone
from synaudio.params import RAVE, Params
from synaudio.report import figures
from synaudio.report.inversion import sweep, write_wav
from synaudio.report.output import Output, render
from synaudio.store import load_dataset
from synaudio.studies.rave import schema

SHOWN_CLIPS = 2  # as reports/speech.html, drawn the same way: the same held-out clips


def _label(factors: Any, row: int) -> str:
    clip = factors.iloc[row]
    return f'{clip["speaker_id"]} ({clip["gender"]}), {clip["style"]}, "{clip["text"]}"'


class _Spectrogram:
    """Waveforms -> the speech benchmark's log-mel in dB, to draw what is heard."""

    def __init__(self, params: Params, sample_rate: int) -> None:
        self.mel = mel_transform(params.speech.features, sample_rate)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return to_db(self.mel(torch.from_numpy(np.asarray(audio, dtype=np.float32)))).numpy()


@torch.inference_mode()
def _version(version: str, params: Params, datasets: Path, artifacts: Path, out: Output) -> dict[str, Any]:
    seed = schema.declared(params).seeds[0]
    dataset = load_dataset(datasets / version / "dataset")
    sample_rate = int(dataset.manifest["audio"]["sample_rate"])
    spectrogram = _Spectrogram(params, sample_rate)
    model_dir = artifacts / version / "models" / f"seed{seed}"
    network = load_backbone(model_dir, params.rave.latent_dim, recipe.backbone(params))
    _, test = schema.speech_split(params, len(dataset.audio))
    shown = np.sort(np.random.default_rng(params.report.seed).choice(test, size=SHOWN_CLIPS, replace=False))
    labels = [_label(dataset.factors, row) for row in shown]
    clips = dataset.waveforms(shown)
    means = network.encoder(torch.from_numpy(clips).unsqueeze(1))[0]
    rebuilt = network.decoder(means)[:, 0].numpy()
    originals = [clip[: rebuilt.shape[1]] for clip in clips]
    audio = []
    for k, (original, decoded) in enumerate(zip(originals, rebuilt, strict=True)):
        for kind, wave in (("original", original), ("reconstruction", decoded)):
            name = f"{version}/{kind}-{k}.wav"
            write_wav(out.path(name), wave, sample_rate)
            audio.append((out.link(name), f"{kind}: {labels[k]}"))
    figures.reconstructions(
        [spectrogram(c) for c in originals], [spectrogram(r) for r in rebuilt], originals, list(rebuilt),
        labels, sample_rate, out.path(f"{version}/reconstruction.png"), "reconstruction (decoded waveform)",
    )  # fmt: skip
    codes = artifacts / version / "codes" / f"seed{seed}"
    held_out = json.loads((codes / REPRESENTATION).read_text())["held_out"]
    kl = np.asarray(held_out["kl_per_dimension"])
    active = [int(d) for d in np.argsort(-kl, kind="stable")[: params.report.sweep_dimensions]]
    span, steps = params.report.traversal.span, params.report.traversal.steps
    values = np.linspace(-span, span, steps)
    grid, sweeps = [], []
    for dim in active:
        varied = means[:1].repeat(steps, 1, 1)
        varied[:, dim, :] = torch.from_numpy(values).float()[:, None]
        waves = network.decoder(varied)[:, 0].numpy()
        grid.append([spectrogram(w) for w in waves])
        name = f"{version}/traversal-z{dim}.wav"
        write_wav(out.path(name), sweep(list(waves), sample_rate), sample_rate)
        sweeps.append((out.link(name), f"z{dim} (held-out KL {kl[dim]:.2f}): {steps} values, 0.25 s of each"))
    figures.traversal(
        np.array(grid),
        [f"z{d} (KL {kl[d]:.2f})" for d in active],
        values,
        out.path(f"{version}/traversal.png"),
    )
    summary = json.loads((model_dir / SUMMARY_FILE).read_text())
    return {
        "version": version, "seed": seed, "reconstruction": out.link(f"{version}/reconstruction.png"),
        "audio": audio, "traversal": out.link(f"{version}/traversal.png"), "sweeps": sweeps,
        "base": labels[0], "held_out": held_out, "active": active, "stages": schema.stages(version, seed),
        "training": {**training_provenance(summary), "final": summary["final"]},
    }  # fmt: skip


def build(params: Params, datasets: Path, artifacts: Path, out: Path) -> dict[str, Any]:
    """Write out/rave/ and out/rave.html."""
    started = time.perf_counter()
    versions = schema.declared(params).versions
    with atomic_directory(out / "rave") as staging:
        output = Output(staging, "rave")
        sections = [_version(v, params, datasets, artifacts, output) for v in versions]
        (staging / "manifest.json").write_text(  # the folder's signature: ours to replace (synaudio.atomic)
            json.dumps({"page": "rave.html", "versions": versions}, indent=2) + "\n"
        )
        html = render(Path(__file__).parent / "rave.html.j2", sections=sections, rave=params.rave, name=RAVE,
                      traversal=params.report.traversal)  # fmt: skip
    atomic_write_text(out / "rave.html", html)
    files = [p for p in (out / "rave").rglob("*") if p.is_file()] + [out / "rave.html"]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "seconds": time.perf_counter() - started}  # fmt: skip
