"""Downstream: linear probes of a frozen encoder at several labelled fractions.

Each task is one factor of a downstream SynSpeech version, whose speakers pretraining never
heard (params ssl.tasks). Its clips split as the speech benchmark splits them
(speech.split: the VAE family is scored on these held-out clips too). From the training
part, each labelled fraction takes a fixed, seeded subset, stratified so that every class
keeps at least one clip and nested (the 1 % clips are among the 5 % ones): per class, one
seeded permutation whose first round(fraction x count) clips are labelled. The probe is a
multinomial logistic regression (C = 1, synaudio.metrics.softmax) on representations
standardised over the labelled clips, scored on every held-out clip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn

from synaudio.errors import UserError
from synaudio.features import in_scale, load_features
from synaudio.metrics.softmax import fit_softmax
from synaudio.params import Params, SslTask
from synaudio.store import load_dataset

ENCODE_BATCH = 500


def labelled_subset(labels: np.ndarray, rows: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The labelled clips of `rows` at `fraction` (sorted): per class, the first
    max(1, round(fraction x count)) of a permutation drawn from `seed` and the class."""
    chosen = []
    for index, value in enumerate(np.unique(labels[rows])):
        members = rows[labels[rows] == value]
        order = np.random.default_rng([seed, index]).permutation(members)
        chosen.append(order[: max(1, round(fraction * len(members)))])
    return np.sort(np.concatenate(chosen))


@torch.no_grad()
def represent(encoder: nn.Module, features: np.ndarray, rescale: Any) -> np.ndarray:
    """The frozen encoder's representation of every clip (eval mode), float64."""
    encoder.eval()
    out = []
    for start in range(0, len(features), ENCODE_BATCH):
        x = torch.from_numpy(rescale(np.asarray(features[start : start + ENCODE_BATCH])))
        out.append(encoder(x.unsqueeze(1)).double().numpy())
    return np.concatenate(out)


def probe_accuracy(x: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Held-out accuracy of the linear probe fitted on the `train` rows."""
    scaler = StandardScaler().fit(x[train])
    model = fit_softmax(scaler.transform(x[train]), labels[train])
    return float(np.mean(model.predict(scaler.transform(x[test])) == labels[test]))


def chance(labels: np.ndarray, split: dict[str, np.ndarray]) -> float:
    """The held-out share of the training part's most common class."""
    values, counts = np.unique(labels[split["train"]], return_counts=True)
    return float(np.mean(labels[split["test"]] == values[np.argmax(counts)]))


def curves(
    x: np.ndarray, labels: np.ndarray, split: dict[str, np.ndarray], fractions: list[float], seed: int
) -> dict[str, Any]:
    """Accuracy per labelled fraction, the labelled clips' count, and chance."""
    train, test = split["train"], split["test"]
    points = []
    for fraction in fractions:
        rows = labelled_subset(labels, train, fraction, seed)
        points.append(
            {
                "fraction": fraction,
                "labelled": len(rows),
                "accuracy": probe_accuracy(x, labels, rows, test),
            }
        )
    return {"classes": len(np.unique(labels[train])), "chance": chance(labels, split), "points": points}


@dataclass(frozen=True)
class Task:
    """One downstream task's clips: log-mels (as stored), how to put them on the
    pretraining dB range, the class of every clip, and the speech split."""

    name: str
    spec: SslTask
    features: np.ndarray
    rescale: Callable[[np.ndarray], np.ndarray]
    labels: np.ndarray
    split: dict[str, np.ndarray]


def downstream(
    params: Params, names: list[str], reference: dict[str, float] | None, speech: Path, datasets: Path
) -> Iterator[Task]:
    """The tasks `names` (of params ssl.tasks), grouped by speech version so each version's
    features load once; `reference` is the pretraining dB range the encoder learned on
    (None: the stored scale, which the VAE family learned on)."""
    ssl, top_db = params.ssl, params.speech.features.top_db
    for version in ssl.downstream:
        wanted = [name for name in names if ssl.tasks[name].version == version]
        if not wanted:
            continue
        dataset = datasets / version / "dataset"
        stage = f"speech_features@{version}"
        rows, manifest, split = load_features(speech / version / "features", stage, dataset)
        rescale = (
            partial(in_scale, own=manifest["normalisation"], reference=reference, top_db=top_db)
            if reference is not None
            else partial(np.asarray, dtype=np.float32)
        )
        factors = load_dataset(dataset).factors
        for name in wanted:
            spec = ssl.tasks[name]
            if spec.factor not in factors.columns:
                raise UserError(
                    f"ssl.tasks.{name}.factor: {spec.factor!r} is not a factor of {version} "
                    f"({', '.join(factors.columns)})"
                )
            labels = pd.factorize(factors[spec.factor], sort=True)[0]
            yield Task(name, spec, rows, rescale, labels, split)


Representation = Callable[[Task], np.ndarray]


def frozen(encoder: nn.Module) -> Representation:
    """A pretrained (or untrained) encoder's representation of a task's clips."""
    return lambda task: represent(encoder, task.features, task.rescale)


def posterior_means(params: Params, speech: Path, model: str, seed: int) -> Representation:
    """The VAE-family baseline: the speech benchmark's `model` at `seed` trained on the task's
    own version (its training clips, without labels), posterior means of every clip."""
    from synaudio.inference import encode, load_backbone
    from synaudio.models.backbone import speech_vae

    def means(task: Task) -> np.ndarray:
        folder = speech / task.spec.version / "models" / model / f"seed{seed}"
        backbone = load_backbone(folder, params.speech.latent_dim, speech_vae(params.speech_input))
        return encode(backbone, task.features)[0]

    return means


def tasks(
    params: Params,
    representation: Representation,
    reference: dict[str, float] | None,
    speech: Path,
    datasets: Path,
) -> dict[str, Any]:
    """Every task of params ssl.tasks: the labelled-fraction curve of a linear probe on the
    `representation` of its version's clips."""
    ssl = params.ssl
    results, represented = {}, {}
    for task in downstream(params, list(ssl.tasks), reference, speech, datasets):
        version = task.spec.version
        if version not in represented:  # one version at a time: keep only its representation
            represented = {version: representation(task)}
        x = represented[version]
        curve = curves(x, task.labels, task.split, ssl.fractions, ssl.subset_seed)
        results[task.name] = {**task.spec.model_dump(), **curve}
    return results
