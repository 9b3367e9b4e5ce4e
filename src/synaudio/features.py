"""Model input front-ends (torchaudio), computed once per dataset and stored memory-mapped.
A protocol names its front-end (synaudio.protocol):

* ``frame_max_mel`` (paper protocol): librosa's default power mel spectrogram - n_fft 2048,
  hop 512, Hann,
  centred frames with zero padding, 128 Slaney mel bands with Slaney area norm,
  power 2 - then each time frame divided by its own maximum. This erases amplitude:
  clips differing only in amplitude give identical inputs (the archive shows it).
* ``log_mel`` (corrected protocol, SynSpeech): log-mel in dB, floored ``top_db`` below
  the training split's peak and scaled to [0, 1] with one global (training-split) minimum
  and maximum, so amplitude survives and the decoder's sigmoid can reach every target.
* ``peak_log_mel`` (SynSpeech's level-normalised arm): the same dB log-mel measured from
  each clip's own loudest bin, floored ``top_db`` below it and scaled to [0, 1]. A gain on
  the waveform shifts every dB value of a clip alike and cancels: the level is gone, the
  spectral shape and the timing (padding included) stay.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from synaudio.atomic import atomic_directory
from synaudio.errors import UserError
from synaudio.hashing import sha256_file
from synaudio.params import Features, Split
from synaudio.protocol import Protocol, SplitMethod
from synaudio.store import Dataset, dataset_digest, load_dataset

FEATURES, SPLIT, MANIFEST = "features.npy", "split.npz", "manifest.json"
DB_FLOOR = 1e-10
KINDS = {
    "frame_max_mel": "frame-max power mel",
    "log_mel": "log-mel",
    "peak_log_mel": "log-mel from each clip's peak",
}


def mel_transform(spec: Features, sample_rate: int) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate,
        n_fft=spec.n_fft,
        hop_length=spec.hop_length,
        n_mels=spec.n_mels,
        power=2.0,
        center=True,
        pad_mode="constant",
        norm="slaney",
        mel_scale="slaney",
    )


def frame_max_normalise(mel: torch.Tensor) -> torch.Tensor:
    """Divide each time frame by its maximum over the mel axis (silent frames stay 0)."""
    peak = mel.amax(dim=-2, keepdim=True)
    return torch.where(peak > 0, mel / torch.where(peak > 0, peak, 1.0), 0.0)


def to_db(mel: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(mel.clamp_min(DB_FLOOR))


def peak_relative(mel: torch.Tensor, top_db: float) -> torch.Tensor:
    """dB below each clip's loudest bin, floored at top_db and scaled to [0, 1] (1 = the peak)."""
    db = to_db(mel)
    below = db - db.amax(dim=(-2, -1), keepdim=True)
    return (below.clamp_min(-top_db) + top_db) / top_db


def in_scale(
    features: np.ndarray, own: dict[str, float], reference: dict[str, float], top_db: float
) -> np.ndarray:
    """Log-mels scaled to [0, 1] by one dB range (`own`: db_floor, db_peak) re-expressed on
    another (`reference`: pretraining's), so the encoder sees the dB values it learned on."""
    db = features * top_db + own["db_floor"]
    return (
        (np.clip(db, reference["db_floor"], reference["db_peak"]) - reference["db_floor"]) / top_db
    ).astype(np.float32)


def split_rows(n: int, split: Split, method: SplitMethod = "permutation") -> tuple[np.ndarray, np.ndarray]:
    """Train / held-out rows (sorted), random and not stratified: the archive's seeded
    numpy permutation, or sklearn's `train_test_split(random_state=seed)` as the SynTone
    reference calls it (the paper protocol: the same held-out clips as the reference)."""
    if method == "sklearn_shuffle":
        train, test = train_test_split(np.arange(n), test_size=split.test_fraction, random_state=split.seed)
        return np.sort(train), np.sort(test)
    order = np.random.default_rng(split.seed).permutation(n)
    n_test = round(n * split.test_fraction)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _batches(dataset: Dataset, rows: slice, batch: int, desc: str):
    first, n = rows.start, rows.stop - rows.start
    with tqdm(total=n, unit="clip", desc=desc, disable=None) as bar:
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            yield start, stop, torch.from_numpy(dataset.waveforms(slice(first + start, first + stop)))
            bar.update(stop - start)


def build(
    dataset_dir: Path,
    protocol: Protocol,
    spec: Features,
    split: Split,
    out_dir: Path,
    rows: slice | None = None,
) -> dict[str, Any]:
    """Compute the protocol's front-end for every clip (or the contiguous `rows` of the
    dataset, named in the manifest) and write it atomically; the manifest names the
    protocol it was made under."""
    dataset = load_dataset(dataset_dir)
    sample_rate = dataset.manifest["audio"]["sample_rate"]
    subset = rows is not None
    rows = slice(0, dataset.audio.shape[0]) if rows is None else rows
    n = rows.stop - rows.start
    train, test = split_rows(n, split, protocol.split)
    mel = mel_transform(spec, sample_rate)
    frames = dataset.audio.shape[1] // spec.hop_length + 1
    with torch.inference_mode(), atomic_directory(out_dir) as tmp:
        out = np.lib.format.open_memmap(
            tmp / FEATURES, mode="w+", dtype=np.float32, shape=(n, spec.n_mels, frames)
        )
        for start, stop, clips in _batches(dataset, rows, spec.batch_clips, f"features/{protocol.name}"):
            power = mel(clips)
            if protocol.front_end == "frame_max_mel":
                out[start:stop] = frame_max_normalise(power).numpy()
            elif protocol.front_end == "peak_log_mel":
                out[start:stop] = peak_relative(power, spec.top_db).numpy()
            else:
                out[start:stop] = to_db(power).numpy()
        normalisation: dict[str, float] = {}
        if protocol.front_end == "log_mel":  # one global scale from the training split only
            peak = float(out[train].max())
            floor = peak - spec.top_db
            for start in range(0, n, spec.batch_clips):
                block = out[start : start + spec.batch_clips]
                out[start : start + spec.batch_clips] = (np.clip(block, floor, peak) - floor) / spec.top_db
            normalisation = {"db_floor": floor, "db_peak": peak}
        out.flush()
        del out
        np.savez(tmp / SPLIT, train=train, test=test)
        digest = sha256_file(tmp / FEATURES)
        manifest = {
            "protocol": protocol.name,
            "dataset": str(dataset_dir),
            "dataset_digest": dataset_digest(dataset.manifest),
            "front_end": {
                **spec.model_dump(),
                "kind": KINDS[protocol.front_end],
            },
            "normalisation": normalisation,
            "split": {**split.model_dump(), "train": int(train.size), "test": int(test.size)},
            "shape": [n, spec.n_mels, frames],
            "sha256": digest,
            "torchaudio": torchaudio.__version__,
        }
        if subset:
            manifest["dataset_rows"] = [rows.start, rows.stop]
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


@contextmanager
def computed(dataset_dir: Path, protocol: Protocol, spec: Features, split: Split) -> Iterator[Path]:
    """The front-end of a dataset built into a temporary folder (what `build` writes, as
    `load_features` reads it), removed on exit.

    For stages that read a model's inputs but must not depend on a features stage's bytes:
    those bytes differ between CPU kinds (README, "What is guaranteed"), so declaring them
    would make every committed training stale on a machine of another kind. The values
    differ there only in the last bits of the log-mel's logarithm."""
    with tempfile.TemporaryDirectory(prefix=f"synaudio-{protocol.name}-features-") as tmp:
        folder = Path(tmp) / "features"
        build(dataset_dir, protocol, spec, split, folder)
        yield folder


def held_out_inputs(
    dataset_dir: Path, protocol: Protocol, spec: Features, split: Split
) -> tuple[np.ndarray, np.ndarray]:
    """The held-out clips' front-end, computed here (`computed`: why), and their rows."""
    with computed(dataset_dir, protocol, spec, split) as folder:
        rows, _, parts = load_features(folder, f"the {protocol.name} front-end computed in this stage")
        return np.asarray(rows[parts["test"]]), parts["test"]


def load_features(
    features_dir: Path, stage: str, dataset_dir: Path | None = None
) -> tuple[np.ndarray, dict[str, Any], dict]:
    """Features (memmap), their manifest and the split; refuse stale or damaged ones.

    `stage`: the dvc.yaml stage that writes them, named in every error. With
    `dataset_dir`, the features must have been computed from that dataset's exact content
    (its digest).
    """
    try:
        manifest = json.loads((features_dir / MANIFEST).read_text())
        features = np.load(features_dir / FEATURES, mmap_mode="r")
        with np.load(features_dir / SPLIT) as split:
            rows = {"train": split["train"], "test": split["test"]}
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(
            f"features in {features_dir} are missing or damaged ({exc}); re-run: dvc repro {stage}"
        ) from None
    if list(features.shape) != manifest["shape"]:
        raise UserError(
            f"{features_dir}/{FEATURES} has shape {features.shape}, manifest says {manifest['shape']}"
        )
    if dataset_dir is not None:
        current = dataset_digest(load_dataset(dataset_dir).manifest)
        if current != manifest["dataset_digest"]:
            raise UserError(
                f"features in {features_dir} are stale: computed from dataset "
                f"{manifest['dataset_digest'][:16]}, but {dataset_dir} is now {current[:16]}; "
                f"re-run: dvc repro {stage}"
            )
    return features, manifest, rows
