"""SynSpeech versions: a speaker x text x style grid spoken by the voice bank.

* One espeak-ng process and one `sox -R` process per clip, in a process pool: each clip
  depends only on its own inputs, so the bytes do not depend on the worker count.
* Clips are 16 kHz, 16-bit, cut or zero-padded at the end to `clip_seconds`; the
  factor table keeps each utterance's own length (`speech_samples`).
* Styles use espeak-ng's prosody controls - rate (-s, words per minute), pitch (-p,
  0-99), amplitude (-a) and word gap (-g, 10 ms units) - and `whispering` speaks
  with the speaker's whisper variant. Channel effects are not part of style.
* Finished chunks are kept beside the output (`.<name>.parts/`) until the dataset is
  complete, so an interrupted run resumes without re-synthesising them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from synaudio.errors import UserError
from synaudio.params import SPEECH_SAMPLE_RATE, SynSpeech
from synaudio.store import INT16_SCALE, write_dataset
from synaudio.studies.synspeech.engine import espeak_info
from synaudio.studies.synspeech.voicebank import SPEAKERS, TEXTS

STYLES: dict[str, dict[str, Any]] = {
    "default": {"voice": "normal", "rate": 165, "pitch": 50, "amplitude": 60, "gap": 1},
    "friendly": {"voice": "normal", "rate": 185, "pitch": 68, "amplitude": 66, "gap": 0},
    "sad": {"voice": "normal", "rate": 135, "pitch": 32, "amplitude": 45, "gap": 3},
    "whispering": {"voice": "whisper", "rate": 150, "pitch": 50, "amplitude": 150, "gap": 2},
}


def grid(bank: Path, spec: SynSpeech, version: str) -> pd.DataFrame:
    """One row per clip, in clip order (speaker outermost, style innermost)."""
    chosen = spec.versions[version]
    try:
        speakers = pd.read_csv(bank / SPEAKERS).head(chosen.speakers)
        texts = pd.read_csv(bank / TEXTS)
    except OSError as exc:
        raise UserError(
            f"the voice bank in {bank} is missing or incomplete ({exc}); run: make data"
        ) from None
    if len(speakers) < chosen.speakers:
        raise UserError(f"{bank} holds {len(speakers)} speakers, version {version} needs {chosen.speakers}")
    order = np.sort(np.random.default_rng(spec.text_seed).permutation(len(texts))[: chosen.texts])
    texts = texts.iloc[order]
    rows = [
        {**speaker, "speaker_index": s, **text, "style": style, "style_index": list(STYLES).index(style)}
        for s, speaker in enumerate(speakers.to_dict("records"))
        for text in texts.to_dict("records")
        for style in chosen.styles
    ]  # fmt: skip
    return pd.DataFrame(rows)


def speak(bank: Path, speaker_id: str, text: str, style: str) -> np.ndarray:
    """One utterance as int16 samples at 16 kHz (its own length)."""
    settings = STYLES[style]
    voices = bank / "voices" / settings["voice"]
    command = [
        "espeak-ng", f"--path={voices}", "-v", f"en+{speaker_id}", "-s", str(settings["rate"]),
        "-p", str(settings["pitch"]), "-a", str(settings["amplitude"]), "-g", str(settings["gap"]),
        "--stdout", text,
    ]  # fmt: skip
    wav = subprocess.run(command, capture_output=True, check=True).stdout
    raw = subprocess.run(
        ["sox", "-R", "-t", "wav", "-", "-t", "raw", "-r", str(SPEECH_SAMPLE_RATE), "-b", "16",
         "-e", "signed-integer", "-c", "1", "-"],
        input=wav, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<i2")


def _job(args: tuple[str, str, str, str]) -> np.ndarray:
    bank, speaker_id, text, style = args
    return speak(Path(bank), speaker_id, text, style)


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
    clip = np.zeros(length, dtype=np.int16)
    clip[: min(length, samples.size)] = samples[:length]
    return clip


def _chunks(
    clips: pd.DataFrame, bank: Path, length: int, parts: Path, chunk: int, workers: int, lengths: list[int]
) -> Iterator[np.ndarray]:
    """float64 blocks for the store; each block's int16 clips are kept in `parts` until done."""
    parts.mkdir(parents=True, exist_ok=True)
    with Pool(workers) as pool, tqdm(total=len(clips), unit="clip", desc="synspeech", disable=None) as bar:
        for index, start in enumerate(range(0, len(clips), chunk)):
            block = clips.iloc[start : start + chunk]
            saved = parts / f"chunk-{index:05d}.npz"
            if saved.exists():
                with np.load(saved) as archive:
                    audio, own = archive["audio"], archive["lengths"]
            else:
                jobs = [(str(bank), r.speaker_id, r.text, r.style) for r in block.itertuples()]
                spoken = pool.map(_job, jobs, chunksize=max(1, len(jobs) // (4 * workers)))
                audio = np.stack([_fit(samples, length) for samples in spoken])
                own = np.array([samples.size for samples in spoken])
                partial = parts / f".chunk-{index:05d}.tmp-{os.getpid()}.npz"
                np.savez(partial, audio=audio, lengths=own)
                os.replace(partial, saved)
            lengths.extend(int(n) for n in own)
            bar.update(len(block))
            yield audio.astype(np.float64) / INT16_SCALE


def build(bank: Path, spec: SynSpeech, version: str, out_dir: Path) -> dict[str, Any]:
    """Synthesise one version into a dataset directory (store format, int16)."""
    espeak, _ = espeak_info()  # also names the Debian packages when a tool is missing
    sox = subprocess.run(["sox", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    clips = grid(bank, spec, version)
    length = round(spec.clip_seconds * SPEECH_SAMPLE_RATE)
    parts = out_dir.parent / f".{out_dir.name}.parts"
    lengths: list[int] = []
    chunks = _chunks(clips, bank, length, parts, spec.chunk_clips, spec.workers, lengths)
    factors = clips.copy()

    def with_lengths() -> Iterator[np.ndarray]:
        # The store writes the factor table after the last chunk: the utterance lengths,
        # known only once synthesised, are in it by then.
        yield from chunks
        factors["speech_samples"] = lengths

    manifest = write_dataset(
        out_dir, chunks=with_lengths(), n_clips=len(clips), clip_samples=length,
        sample_rate=SPEECH_SAMPLE_RATE,
        sample_format="int16", factors=factors, spec={
            "version": version, **spec.versions[version].model_dump(), "clip_seconds": spec.clip_seconds,
            "text_seed": spec.text_seed, "styles": {s: STYLES[s] for s in spec.versions[version].styles},
            "espeak_ng": espeak, "sox": sox,
        },
    )  # fmt: skip
    shutil.rmtree(parts, ignore_errors=True)
    return manifest
