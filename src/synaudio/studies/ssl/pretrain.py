"""Self-supervised pretraining with Lightning, on the archive's training conventions
(synaudio.training: epoch-seeded batches, the global RNG re-seeded at every epoch's first
step so a resumed run draws the same views, fingerprinted checkpoints, NaN stops).

After every epoch the held-out pretraining clips give the loss terms on views drawn from
a fixed seed (the training RNG untouched) and the spread of the encoder's
representations - a collapsed encoder (every clip alike) shows as a spread near 0.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from synaudio.params import SelfSupervised, SslObjective
from synaudio.studies.ssl.networks import TwinNetwork, network
from synaudio.studies.ssl.objectives import barlow_twins_loss
from synaudio.studies.ssl.views import two_views
from synaudio.training import (
    EpochBatches,
    FingerprintedModule,
    RowBatches,
    check_finite,
    fingerprint,
    fit,
    quiet_lightning,
    run_summary,
    save_model,
)

HELD_OUT_BATCH = 512
# The ssl settings that shape every pretraining's weights (with its objective, seed and
# data): its checkpoint's fingerprint names these, so adding a seed, a method or a
# downstream setting does not set finished checkpoints aside.
SHAPING = {"channels", "projector", "batch_size", "epochs", "lr", "weight_decay", "warmup_epochs", "views"}


def schedule(step: int, total: int, warmup: int) -> float:
    """The learning rate's factor: linear warm-up over `warmup` steps, then cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


class TwinsModule(FingerprintedModule):
    def __init__(
        self,
        network: TwinNetwork,
        name: str,
        objective: SslObjective,
        settings: SelfSupervised,
        *,
        seed: int,
        top_db: float,
        steps_per_epoch: int,
        fingerprint: str,
        held_out: torch.Tensor,
    ) -> None:
        super().__init__(fingerprint)
        self.network, self.name, self.objective, self.settings = network, name, objective, settings
        self.seed, self.top_db, self.steps_per_epoch = seed, top_db, steps_per_epoch
        self.held_out = held_out

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        a, b = two_views(x, self.settings.views, self.top_db)
        za, zb = self.network(a.unsqueeze(1)), self.network(b.unsqueeze(1))
        objective = self.objective
        return barlow_twins_loss(
            za, zb, lambda_=objective.redundancy_weight(za.shape[1]),
            normalisation=objective.normalisation, invariance_weight=objective.invariance_weight,
        )  # fmt: skip

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        if batch_idx == 0:  # the views: a function of (seed, epoch) only, as synaudio.training
            torch.manual_seed(self.seed * 1_000_003 + self.current_epoch)
        losses = self.losses(batch)
        check_finite(losses, self.current_epoch, batch_idx, self.name)
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()}, on_step=False, on_epoch=True)
        return losses["loss"]

    def configure_optimizers(self):
        settings = self.settings
        optimiser = torch.optim.AdamW(
            self.network.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
        total = settings.epochs * self.steps_per_epoch
        warmup = round(settings.warmup_epochs * self.steps_per_epoch)
        factor = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: schedule(step, total, warmup))
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": factor, "interval": "step"}}

    def on_train_epoch_end(self) -> None:
        epoch = {k.removeprefix("train/"): float(v) for k, v in self.trainer.callback_metrics.items()}
        held_out = self.held_out_numbers()
        if self.logger:
            self.logger.log_metrics(held_out, step=self.current_epoch)
        self.history.append({"epoch": self.current_epoch + 1, **epoch, **held_out})

    @torch.no_grad()
    def held_out_numbers(self) -> dict[str, float]:
        """Loss terms on the held-out clips (batches of HELD_OUT_BATCH, views from the seed)
        and the representations' mean per-dimension standard deviation (0: collapsed)."""
        self.network.eval()
        terms: dict[str, list[float]] = {}
        representations = []
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            for start in range(0, len(self.held_out), HELD_OUT_BATCH):
                batch = self.held_out[start : start + HELD_OUT_BATCH]
                for k, v in self.losses(batch).items():
                    terms.setdefault(f"held_out/{k}", []).append(float(v))
                representations.append(self.network.encoder(batch.unsqueeze(1)))
        self.network.train()
        numbers = {k: float(np.mean(v)) for k, v in terms.items()}
        spread = torch.cat(representations).std(0).mean()
        return numbers | {"held_out/representation_std": float(spread)}


def pretrain(
    settings: SelfSupervised,
    name: str,
    features: np.ndarray,
    rows: dict[str, np.ndarray],
    out_dir: Path,
    checkpoint_dir: Path,
    *,
    seed: int,
    top_db: float,
    threads: int,
    precision: str,
    data_digest: str,
    run: Any = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Pretrain `name` (a method or arm of params ssl) on the training rows of `features`;
    write model.pt (the encoder; the projector lives on in the checkpoint only) and
    training.json atomically."""
    import lightning as L

    quiet_lightning()
    torch.set_num_threads(threads)
    L.seed_everything(seed, workers=True, verbose=False)
    train = torch.from_numpy(np.ascontiguousarray(features[rows["train"]]))
    held_out = torch.from_numpy(np.ascontiguousarray(features[rows["test"]]))
    objective = settings.objective(name)
    twins = network(settings)
    shaping = settings.model_dump(include=SHAPING)
    expected = fingerprint({
        "study": "ssl", "method": name, "objective": objective.model_dump(), "settings": shaping,
        "seed": seed, "precision": precision, "data": data_digest,
        "train_rows": hashlib.sha256(np.ascontiguousarray(rows["train"]).tobytes()).hexdigest(),
    })  # fmt: skip
    sampler = EpochBatches(len(train), settings.batch_size, seed)
    module = TwinsModule(
        twins, name, objective, settings, seed=seed, top_db=top_db, steps_per_epoch=len(sampler),
        fingerprint=expected, held_out=held_out,
    )  # fmt: skip
    loader = DataLoader(RowBatches(train), sampler=sampler, batch_size=None)
    trainer, first_epoch, seconds = fit(
        module, loader, epochs=settings.epochs, device="cpu", precision=precision,
        checkpoint_dir=checkpoint_dir, run=run,
    )  # fmt: skip
    summary = run_summary(
        trainer, module, labels={"model": name, "study": "ssl"}, seed=seed, first_epoch=first_epoch,
        seconds=seconds, train_clips=len(train), device="cpu", threads=threads, provenance=provenance,
    )  # fmt: skip
    save_model(out_dir, twins.encoder, summary)
    return summary
