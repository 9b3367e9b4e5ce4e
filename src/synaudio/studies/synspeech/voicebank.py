"""SynSpeech's voice bank (`data/`, pinned by data.dvc): who speaks and what they say.

* Speakers: espeak-ng *variant files* whose parameters are drawn from a seed - base
  pitch and pitch top (Hz), formant frequency scaling (a vocal-tract-length proxy, %),
  breathiness, roughness, flutter - alternating female / male, so every even-length
  prefix is gender-balanced. Each speaker also gets a whisper variant (voicing off,
  strong breath) for the whispering style. The values are ground truth: they go into
  `speakers.csv` and from there into every clip's factor table.
* Texts: every carrier phrase x keyword (10 x 50 = 500), so the text factor splits
  into a carrier and a keyword factor.
* A pruned private copy of espeak-ng's data (English only, passed with `--path`) per
  voice kind: espeak-ng lists at most 349 voices per data directory and cannot find
  the rest, so normal and whisper variants live in two directories.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synaudio.atomic import atomic_directory
from synaudio.hashing import sha256_file
from synaudio.params import VoiceBank
from synaudio.studies.synspeech.engine import espeak_info

ESPEAK_FILES = ("phondata", "phonindex", "phontab", "intonations", "en_dict", "lang/gmw/en")
VOICE_KINDS = ("normal", "whisper")
SPEAKERS, TEXTS, MANIFEST = "speakers.csv", "texts.csv", "manifest.json"

CARRIERS = (
    "please say the word {} again", "I heard {} today", "the next word is {}", "can you spell {} for me",
    "we wrote {} on the board", "she said {} twice", "now repeat {} slowly", "he found {} in the book",
    "my answer is {}", "try saying {} louder",
)  # fmt: skip
KEYWORDS = (
    "apple", "river", "garden", "pencil", "window", "rocket", "candle", "mirror", "button", "ladder",
    "jacket", "bottle", "basket", "blanket", "castle", "dragon", "engine", "forest", "guitar", "hammer",
    "island", "kitten", "lemon", "magnet", "needle", "orange", "parrot", "pepper", "planet", "pocket",
    "rabbit", "saddle", "silver", "spider", "summer", "ticket", "tiger", "tunnel", "velvet", "wagon",
    "winter", "yellow", "zebra", "anchor", "bubble", "cactus", "dinner", "falcon", "helmet", "marble",
)  # fmt: skip
# Per gender: base pitch (Hz) and formant scaling (%), drawn uniformly; pitch top = base x span.
RANGES = {
    "female": {"pitch_base_hz": (160, 240), "formant_scale_pct": (104, 120)},
    "male": {"pitch_base_hz": (80, 140), "formant_scale_pct": (90, 104)},
}
PITCH_SPAN = (1.25, 1.6)
BREATHINESS, ROUGHNESS, FLUTTER = (0, 4), (0, 4), (0, 10)  # integer ranges, ends included


def speaker_table(spec: VoiceBank) -> pd.DataFrame:
    rng = np.random.default_rng(spec.seed)
    rows = []
    for index in range(spec.speakers):
        gender = "female" if index % 2 == 0 else "male"
        ranges = RANGES[gender]
        base = int(rng.integers(*ranges["pitch_base_hz"], endpoint=True))
        rows.append({
            "speaker_id": f"spk{index:04d}",
            "gender": gender,
            "pitch_base_hz": base,
            "pitch_top_hz": round(base * rng.uniform(*PITCH_SPAN)),
            "formant_scale_pct": int(rng.integers(*ranges["formant_scale_pct"], endpoint=True)),
            "breathiness": int(rng.integers(*BREATHINESS, endpoint=True)),
            "roughness": int(rng.integers(*ROUGHNESS, endpoint=True)),
            "flutter": int(rng.integers(*FLUTTER, endpoint=True)),
        })  # fmt: skip
    return pd.DataFrame(rows)


def text_table() -> pd.DataFrame:
    rows = [
        {"text_id": c * len(KEYWORDS) + k, "carrier_id": c, "keyword_id": k, "keyword": keyword,
         "text": carrier.format(keyword)}
        for c, carrier in enumerate(CARRIERS) for k, keyword in enumerate(KEYWORDS)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def variant_file(speaker: dict[str, Any], kind: str) -> str:
    """An espeak-ng variant: the speaker's pitch, vocal tract and voice quality."""
    scale = speaker["formant_scale_pct"]
    breath = 10 if kind == "whisper" else speaker["breathiness"]
    lines = [
        "language variant",
        f"name {speaker['speaker_id']}{'-whisper' if kind == 'whisper' else ''}",
        f"gender {speaker['gender']}",
        f"pitch {speaker['pitch_base_hz']} {speaker['pitch_top_hz']}",
        *(f"formant {n} {scale} 100 100" for n in range(1, 6)),
        "breath 0 " + " ".join([str(breath)] * 7),
        f"roughness {speaker['roughness']}",
        f"flutter {speaker['flutter']}",
    ]
    if kind == "whisper":
        lines.append("voicing 0")
    return "\n".join(lines) + "\n"


def build(spec: VoiceBank, out_dir: Path) -> dict[str, Any]:
    """Write the voice bank to `out_dir` atomically; same spec and espeak-ng -> same bytes."""
    version, source = espeak_info()
    speakers, texts = speaker_table(spec), text_table()
    with atomic_directory(out_dir) as tmp:
        for kind in VOICE_KINDS:
            data = tmp / "voices" / kind / "espeak-ng-data"
            for name in ESPEAK_FILES:
                (data / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / name, data / name)
            variants = data / "voices" / "!v"
            variants.mkdir(parents=True)
            for speaker in speakers.to_dict("records"):
                (variants / speaker["speaker_id"]).write_text(variant_file(speaker, kind))
        speakers.to_csv(tmp / SPEAKERS, index=False, lineterminator="\n")
        texts.to_csv(tmp / TEXTS, index=False, lineterminator="\n")
        manifest = {
            "spec": spec.model_dump(),
            "espeak_ng": version,
            "speakers": len(speakers),
            "texts": len(texts),
            "voice_kinds": list(VOICE_KINDS),
            "sha256": {name: sha256_file(tmp / name) for name in (SPEAKERS, TEXTS)},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
