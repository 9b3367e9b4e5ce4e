"""Downstream: full fine-tuning - the encoder (pretrained, or as initialised for the
from-scratch baseline) and a linear head trained together on a task's labelled clips.

The labelled clips are the linear probes' (probe.labelled_subset: stratified, nested,
seeded), so the two downstream protocols differ only in what they train. A learning curve
is held-out accuracy against optimisation steps: batches drawn with replacement from the
labelled clips by a generator seeded from the run, accuracy on one fixed, seeded sample of
the held-out clips (the same for every encoder) at the steps of ssl.finetune.evaluate_at
(step 0: before any update). Adam on encoder and head alike, no augmentation; BatchNorm
statistics update in training mode and are used frozen when evaluating. The head is drawn
from the run's seed alone, so a pretrained encoder and the from-scratch one start with
the same head.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from synaudio.params import Params, SslFinetune
from synaudio.studies.ssl.probe import Task, chance, downstream, labelled_subset

EVAL_BATCH = 500


class Classifier(nn.Module):
    """An encoder (log-mel -> representation) and a linear head on its representation."""

    def __init__(self, encoder: nn.Module, width: int, classes: int) -> None:
        super().__init__()
        self.encoder, self.head = encoder, nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x.unsqueeze(1)))


@dataclass(frozen=True)
class Clips:
    """Some clips of a task: their stored log-mels (`features[rows]`), their classes, and
    how a batch is put on the encoder's dB range."""

    features: np.ndarray
    rows: np.ndarray
    labels: np.ndarray  # one per entry of rows
    rescale: Callable[[np.ndarray], np.ndarray]

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, picks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.rescale(np.asarray(self.features[self.rows[picks]]))
        return torch.from_numpy(x), torch.from_numpy(self.labels[picks])


@torch.no_grad()
def accuracy(model: nn.Module, clips: Clips) -> float:
    """Share of `clips` classified right, in eval mode (the model is left in training mode)."""
    model.eval()
    right = 0
    for start in range(0, len(clips), EVAL_BATCH):
        x, y = clips.take(np.arange(start, min(start + EVAL_BATCH, len(clips))))
        right += int((model(x).argmax(1) == y).sum())
    model.train()
    return right / len(clips)


def learning_curve(
    model: Classifier, train: Clips, held_out: Clips, *, evaluate_at: list[int], batch_size: int,
    lr: float, seed: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Train `model` for evaluate_at[-1] steps; per listed step, the held-out accuracy and
    the mean training loss since the previous one (None at step 0)."""
    generator = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    curve, losses = [], []
    model.train()
    for step in range(evaluate_at[-1] + 1):
        if step in evaluate_at:
            loss = float(np.mean(losses)) if losses else None
            curve.append({"step": step, "accuracy": accuracy(model, held_out), "train_loss": loss})
            losses = []
        if step == evaluate_at[-1]:
            break
        x, y = train.take(generator.integers(0, len(train), batch_size))
        loss = F.cross_entropy(model(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"fine-tuning loss became {loss.item()} at step {step}; lower ssl.finetune.lr"
            )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return curve


def evaluation_rows(test: np.ndarray, clips: int, seed: int) -> np.ndarray:
    """A fixed, seeded sample of the held-out clips (all of them when fewer), sorted."""
    if len(test) <= clips:
        return test
    return np.sort(np.random.default_rng(seed).choice(test, size=clips, replace=False))


def _curves(task: Task, encoder: nn.Module, width: int, settings: SslFinetune, seed: int,
            subset_seed: int, bar: tqdm) -> dict[str, Any]:  # fmt: skip
    classes = int(task.labels.max()) + 1
    test = evaluation_rows(task.split["test"], settings.eval_clips, subset_seed)
    held_out = Clips(task.features, test, task.labels[test], task.rescale)
    points = []
    for index, fraction in enumerate(settings.fractions):
        rows = labelled_subset(task.labels, task.split["train"], fraction, subset_seed)
        train = Clips(task.features, rows, task.labels[rows], task.rescale)
        torch.manual_seed(seed)
        model = Classifier(copy.deepcopy(encoder), width, classes)
        curve = learning_curve(
            model, train, held_out, evaluate_at=settings.evaluate_at, batch_size=settings.batch_size,
            lr=settings.lr, seed=int(np.random.SeedSequence([seed, index]).generate_state(1)[0]),
        )  # fmt: skip
        points.append({"fraction": fraction, "labelled": len(rows), "curve": curve})
        bar.update()
    return {
        **task.spec.model_dump(), "classes": classes, "evaluated": len(test),
        "chance": chance(task.labels, {"train": task.split["train"], "test": test}), "points": points,
    }  # fmt: skip


def tasks(
    params: Params, encoder: nn.Module, seed: int, reference: dict[str, float], speech: Path,
    datasets: Path,
) -> dict[str, Any]:  # fmt: skip
    """Every task of ssl.finetune.tasks: per labelled fraction, the learning curve of a copy
    of `encoder` fine-tuned with a fresh head."""
    ssl, settings = params.ssl, params.ssl.finetune
    results = {}
    with tqdm(total=len(settings.tasks) * len(settings.fractions), unit="curve", desc="fine-tune",
              disable=None) as bar:  # fmt: skip
        for task in downstream(params, settings.tasks, reference, speech, datasets):
            width = ssl.channels[-1]
            results[task.name] = _curves(task, encoder, width, settings, seed, ssl.subset_seed, bar)
    return results
