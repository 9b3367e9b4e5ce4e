"""Training with Lightning: seeded, deterministic on CPU, resumable, tracked in MLflow.

* Batches come from an epoch-seeded permutation of the training rows and the global
  RNG is re-seeded at every epoch start, so a run resumed from ``last.ckpt`` (saved at
  every epoch end) ends with exactly the weights of an uninterrupted one.
* The training features live in one tensor - on the GPU when training there, so there
  is no per-item DataLoader work; on the CPU it is a copy of the memory-mapped rows.
* A NaN or infinite loss stops the run with a message naming the model, epoch and step.
* A checkpoint carries the fingerprint of the configuration and data that wrote it; a
  run resumes only from its own, and starts afresh (saying so) from anyone else's.
* After every epoch the held-out clips give the ELBO and per-dimension KL
  (synaudio.heldout) - in MLflow and in training.json's history, so the report draws the
  curves from the stage's declared output rather than from a local MLflow database.
* The regulariser's weight warms up over the protocol's `kl_warmup` fraction of steps.
* Under DDP (TrainingConfig.devices x num_nodes processes, Lightning's "ddp" launcher: the
  command is started again for every further process of a node) every process draws the
  same global batches and takes its rank's contiguous share of each; the gradients are
  averaged across processes after every backward pass (by hand, not by DDP's hooks: the
  FactorVAE's discriminator takes a second backward pass through one forward, which DDP's
  reducer refuses), so every process holds the same weights - checked at the end. For a
  loss that is a mean over the batch the averaged gradient is the whole batch's, up to the
  sampling noise, which each process draws for its own clips.
  Only the first process writes the model and the checkpoints, and tracks the run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from synaudio.atomic import atomic_directory
from synaudio.errors import UserError
from synaudio.heldout import held_out_curves
from synaudio.inference import MODEL_FILE, SUMMARY_FILE
from synaudio.models.objectives import Objective, build_objective
from synaudio.models.specs import ObjectiveSpec
from synaudio.training_config import BackboneFactory, TrainingConfig

FINGERPRINT_KEY = "synaudio_fingerprint"


def main_process() -> bool:
    """False in a DDP worker: Lightning's launcher starts the command again with LOCAL_RANK
    >= 1 for a node's further processes, and a node other than the first runs with NODE_RANK
    (or a cluster's RANK / GROUP_RANK) >= 1. Decided from the environment, before any
    process group exists, so a worker never opens a tracked run or writes an output."""
    return all(os.environ.get(key, "0") == "0" for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK"))


def distributed() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) without a process group."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def average_gradients(module: nn.Module) -> None:
    """Every parameter's gradient averaged over the processes (a no-op in one process)."""
    _, world = distributed()
    if world == 1:
        return
    for parameter in module.parameters():
        if parameter.grad is not None:
            torch.distributed.all_reduce(parameter.grad)
            parameter.grad.div_(world)


def weight_divergence(module: nn.Module) -> float:
    """The largest absolute difference between any process's weights and the first's (0.0
    in one process): DDP's processes must end with the same weights."""
    _, world = distributed()
    if world == 1:
        return 0.0
    largest = torch.zeros((), dtype=torch.float64)
    for parameter in module.parameters():
        first = parameter.detach().clone()
        torch.distributed.broadcast(first, src=0)
        largest = torch.maximum(largest, (parameter.detach() - first).abs().max().double().cpu())
    torch.distributed.all_reduce(largest, op=torch.distributed.ReduceOp.MAX)
    return float(largest)


class EpochBatches(Sampler[list[int]]):
    """Full batches of a permutation drawn from (seed, epoch): reproducible after resume.
    With `shares` > 1 (DDP) each process yields its rank's contiguous share of every batch."""

    def __init__(self, n: int, batch_size: int, seed: int, shares: int = 1) -> None:
        if batch_size % shares:
            raise UserError(
                f"a batch of {batch_size} does not split evenly over {shares} DDP processes "
                "(training.devices x training.num_nodes): choose a batch size they divide"
            )
        self.n, self.batch_size, self.seed, self.epoch, self.shares = n, batch_size, seed, 0, shares

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this at every epoch start
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self):
        yield from self.batches(distributed()[0] if self.shares > 1 else 0)

    def batches(self, rank: int) -> Iterator[list[int]]:
        """The epoch's batches as process `rank` of `shares` takes them."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=generator)
        share = self.batch_size // self.shares
        for i in range(len(self)):
            start = i * self.batch_size + rank * share
            yield order[start : start + share].tolist()


class RowBatches(Dataset):
    """Index a whole batch at once from one in-memory (or on-device) tensor."""

    def __init__(self, rows: torch.Tensor) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return self.rows.shape[0]

    def __getitem__(self, indices: list[int]) -> torch.Tensor:
        return self.rows[torch.as_tensor(indices, device=self.rows.device)]


class NonFiniteLoss(UserError):
    pass


class FingerprintedModule(L.LightningModule):
    """A module whose checkpoints name the configuration that wrote them (`resumable`)
    and carry its per-epoch history (training.json's curves) across a resume."""

    def __init__(self, fingerprint: str) -> None:
        super().__init__()
        self.fingerprint = fingerprint
        self.history: list[dict[str, float]] = []
        self.divergence = 0.0  # under DDP, set by on_train_end

    def on_train_end(self) -> None:
        """Under DDP: every process must hold the first's weights (while the group is up)."""
        self.divergence = weight_divergence(self)
        if self.divergence > 0:
            raise UserError(f"DDP: the processes' weights differ by up to {self.divergence:g} after training")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[FINGERPRINT_KEY] = self.fingerprint
        checkpoint["synaudio_history"] = self.history

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("synaudio_history", []))


class EpochObserver(L.Callback):
    """Measures the network at initialisation and after every epoch (`measure`: backbone ->
    a JSON-able record) without touching the training: in inference mode, eval mode, on the
    first process, no draw from the training's random stream. Its records travel in the
    checkpoint (a resumed run keeps them) and end in training.json under `key`."""

    def __init__(self, key: str, measure: Callable[[nn.Module], Any]) -> None:
        self.key, self.measure = key, measure
        self.records: list[dict[str, Any]] = []

    @property
    def state_key(self) -> str:
        return f"EpochObserver[{self.key}]"

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.current_epoch == 0:
            self._record(trainer, module, 0)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._record(trainer, module, trainer.current_epoch + 1)

    def _record(self, trainer: L.Trainer, module: L.LightningModule, epoch: int) -> None:
        if not trainer.is_global_zero:
            return
        backbone = module.backbone
        training = backbone.training
        backbone.eval()
        with torch.inference_mode():
            self.records.append({"epoch": epoch, "measured": self.measure(backbone)})
        backbone.train(training)

    def state_dict(self) -> dict[str, Any]:
        return {"records": self.records}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.records = list(state_dict["records"])


class VAEModule(FingerprintedModule):
    def __init__(
        self,
        objective: Objective,
        backbone: nn.Module,
        lr: float,
        seed: int,
        channels_last: bool,
        fingerprint: str = "",
        held_out: torch.Tensor | None = None,
        grad_clip: float | None = None,
    ) -> None:
        super().__init__(fingerprint)
        self.grad_clip = grad_clip
        self.backbone = backbone
        self.objective = objective
        self.lr, self.seed, self.channels_last = lr, seed, channels_last
        self.held_out = held_out  # (N, mels, frames) rows for the per-epoch curves, or None
        self.automatic_optimization = False
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    def synced_backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """Lightning's manual backward, then the gradients averaged over DDP's processes - by
        hand: Lightning arms DDP's reducer for every manual backward, and the reducer fails
        at the next step when a backward (the FactorVAE discriminator's) leaves parameters out."""
        wrapped = self.trainer.strategy.model
        if isinstance(wrapped, torch.nn.parallel.DistributedDataParallel):
            wrapped.require_backward_grad_sync = False  # Lightning sets it again after the step
        self.manual_backward(loss, **kwargs)
        average_gradients(self)

    def on_train_epoch_end(self) -> None:
        epoch = {k.removeprefix("train/"): float(v) for k, v in self.trainer.callback_metrics.items()}
        if self.held_out is not None and self.trainer.is_global_zero:
            curves = held_out_curves(
                self.backbone, self.held_out, self.decoder_variance(epoch),
                seed=self.seed * 1_000_003 + self.current_epoch, channels_last=self.channels_last,
            )  # fmt: skip
            epoch |= curves
            if self.logger:
                self.logger.log_metrics(curves, step=self.current_epoch)
        self.history.append({"epoch": self.current_epoch + 1, **epoch})

    def decoder_variance(self, epoch: dict[str, float]) -> float:
        """p(x|z)'s variance: 1/2 for the fixed decoder (squared error as the loss), the
        epoch's mean batch variance for the calibrated one."""
        return epoch["decoder_variance"] if self.objective.settings.decoder == "calibrated" else 0.5

    def regulariser_weight(self, batch_idx: int) -> float:
        """0 -> 1 linearly over the first `kl_warmup` of all steps (a function of epoch and
        batch, so a resumed run continues the same schedule)."""
        warmup = self.objective.settings.kl_warmup
        if warmup <= 0:
            return 1.0
        per_epoch = self.trainer.num_training_batches
        step = self.current_epoch * per_epoch + batch_idx
        return min(1.0, step / (warmup * self.trainer.max_epochs * per_epoch))

    def configure_optimizers(self):
        main = torch.optim.Adam(self.backbone.parameters(), lr=self.lr, betas=(0.9, 0.999))
        aux = self.objective.aux_optimizer()
        return [main] if aux is None else [main, aux]

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        if batch_idx == 0:  # sampling noise and permutations: a function of (seed, epoch, rank) only.
            # Seeded here rather than in on_train_epoch_start: on resume Lightning draws
            # random numbers between that hook and the first step.
            rank, world = distributed()
            torch.manual_seed((self.seed * 1_000_003 + self.current_epoch) * world + rank)
        x = batch.unsqueeze(1)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        weight = self.regulariser_weight(batch_idx)
        losses = self.objective.losses(x, self.backbone, weight)
        check_finite(losses, self.current_epoch, batch_idx, self.objective.name)
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        # Both gradients before either step, as the reference does: where the auxiliary
        # loss reaches the backbone (FactorVAE, disc_input "attached") its gradient adds to
        # the backbone's; where it does not, the order changes nothing.
        optimizers[0].zero_grad()
        self.synced_backward(losses["loss"], retain_graph="aux_loss" in losses)
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.backbone.parameters(), self.grad_clip)
        if "aux_loss" in losses:
            optimizers[1].zero_grad()  # the discriminator learns from its own loss only
            self.synced_backward(losses["aux_loss"])
        for optimizer in optimizers:
            optimizer.step()
        logged = {f"train/{k}": v.detach() for k, v in losses.items()}
        if self.objective.settings.kl_warmup > 0:
            logged["train/regulariser_weight"] = torch.tensor(weight)
        self.log_dict(
            logged,
            on_step=False,
            on_epoch=True,
            batch_size=x.shape[0],
            sync_dist=distributed()[1] > 1,  # the epoch's means over every process's batches
        )


def check_finite(losses: dict[str, torch.Tensor], epoch: int, step: int, model: str) -> None:
    """Stop a run at the first NaN or infinite loss term, naming it, the epoch and the step."""
    for name, value in losses.items():
        if not torch.isfinite(value):
            raise NonFiniteLoss(
                f"training stopped: the {name} became {value.item()} at epoch {epoch}, "
                f"step {step} ({model}); lower the learning rate or check the features"
            )


def fingerprint(configuration: dict[str, Any]) -> str:
    """SHA-256 of a JSON-able description of everything that shapes the weights."""
    return hashlib.sha256(json.dumps(configuration, sort_keys=True, default=str).encode()).hexdigest()


def resumable(checkpoint: Path, expected: str) -> tuple[int, str | None]:
    """(first epoch to run, why the checkpoint is not used or None).

    Only a checkpoint whose fingerprint equals `expected` is resumed; any other - another
    model setting, seed, epoch count or feature file, or one written before checkpoints
    carried fingerprints - is set aside, so a retrain never inherits stale weights."""
    if not checkpoint.exists():
        return 0, None
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated file raises anything from EOFError to RuntimeError
        return 0, f"unreadable ({type(exc).__name__})"
    if state.get(FINGERPRINT_KEY) != expected:
        return 0, "written by another configuration or other data"
    return int(state["epoch"]) + 1, None


def check_precision(precision: str, device: str) -> None:
    """16-bit float autocast needs CUDA; refuse it up front rather than deep inside Lightning."""
    if precision == "16-mixed" and device != "cuda":
        raise UserError(
            f"training.precision 16-mixed needs a CUDA device (this run is on {device}); "
            "use 32-true or bf16-mixed on a CPU"
        )


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("training.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return device


def quiet_lightning() -> None:
    """Keep Lightning's start-up banners and a known deprecation notice out of DVC's logs."""
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def train(
    config: TrainingConfig,
    objective: ObjectiveSpec,
    backbone: BackboneFactory,
    features: np.ndarray,
    train_rows: np.ndarray,
    held_out_rows: np.ndarray | None,
    out_dir: Path,
    checkpoint_dir: Path,
    *,
    seed: int,
    labels: dict[str, str],
    run: Any = None,
    data_digest: str = "",
    provenance: dict[str, Any] | None = None,
    observers: Sequence[EpochObserver] = (),
) -> dict[str, Any]:
    """Train one model; write model.pt + training.json atomically. `held_out_rows` (or
    None) are the clips of the per-epoch held-out curves; they never reach the optimiser.
    Each of `observers` adds its per-epoch records to training.json under its key.

    `backbone` builds the network from the latent size. It is built after the objective,
    so the random initialisation of both is a function of the seed alone. `labels` (model,
    protocol) name the run in training.json and its checkpoint's fingerprint; `data_digest`
    names the features trained on (also in the fingerprint); `provenance` (MLflow run, git
    state) is copied into training.json.
    """
    quiet_lightning()
    torch.set_num_threads(config.threads)
    L.seed_everything(seed, workers=True, verbose=False)
    device = resolve_device(config.device)
    rows = torch.from_numpy(np.ascontiguousarray(features[train_rows])).to(device)
    held_out = None
    if held_out_rows is not None and len(held_out_rows):
        held_out = torch.from_numpy(np.ascontiguousarray(features[held_out_rows])).to(device)
    batch_size, epochs = config.batch_size, config.epochs
    losses = build_objective(objective, config.latent_dim, len(train_rows), config.loss)
    channels_last = config.channels_last and device == "cpu"
    check_precision(config.precision, device)
    network = backbone(config.latent_dim)
    expected = fingerprint({
        **labels, "objective": objective.model_dump(), "config": asdict(config), "seed": seed,
        "device": device, "channels_last": channels_last, "data": data_digest,
        "train_rows": hashlib.sha256(np.ascontiguousarray(train_rows).tobytes()).hexdigest(),
        "backbone": [(name, tuple(p.shape)) for name, p in network.state_dict().items()],
    })  # fmt: skip
    module = VAEModule(losses, network, config.lr, seed, channels_last, expected, held_out, config.grad_clip)
    if config.compile:
        compile_backbone(network)
    sampler = EpochBatches(len(rows), batch_size, seed, shares=config.world_size)
    loader = DataLoader(RowBatches(rows), sampler=sampler, batch_size=None)
    trainer, first_epoch, seconds = fit(
        module, loader, epochs=epochs, device=device, precision=config.precision,
        checkpoint_dir=checkpoint_dir, run=run, devices=config.devices, num_nodes=config.num_nodes,
        callbacks=observers,
    )  # fmt: skip
    summary = run_summary(
        trainer, module, labels=labels, seed=seed, first_epoch=first_epoch, seconds=seconds,
        train_clips=len(train_rows), device=device, threads=config.threads, provenance=provenance,
    )  # fmt: skip
    if config.world_size > 1:
        summary["ddp"] = {"devices": config.devices, "num_nodes": config.num_nodes,
                          "weight_divergence": module.divergence}  # fmt: skip
    summary.update({observer.key: observer.records for observer in observers})
    if main_process():
        save_model(out_dir, module.backbone, summary)
    return summary


def fit(
    module: FingerprintedModule,
    loader: DataLoader,
    *,
    epochs: int,
    device: str,
    precision: str,
    checkpoint_dir: Path,
    run: Any = None,
    devices: int = 1,
    num_nodes: int = 1,
    callbacks: Sequence[L.Callback] = (),
) -> tuple[L.Trainer, int, float]:
    """Lightning's fit with the archive's conventions: `last.ckpt` in `checkpoint_dir` after
    every epoch, resumed only when its fingerprint is the module's (any other is set aside,
    saying so), metrics into the stage's MLflow run, a progress bar only on a terminal;
    DDP over `devices` x `num_nodes` processes when that is more than one (the module
    averages the gradients; the sampler shards the batches - see the module docstring);
    `callbacks` run before the checkpoint is written, so their state is in it. Returns
    (the trainer, the first epoch this call ran, its seconds)."""
    logger: Any = False
    if run is not None:
        from lightning.pytorch.loggers import MLFlowLogger

        from synaudio.tracking import tracking_uri

        logger = MLFlowLogger(tracking_uri=tracking_uri(), run_id=run.info.run_id, log_model=False)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=checkpoint_dir, filename="last", save_top_k=1, every_n_epochs=1, enable_version_counter=False
    )
    strategy: Any = "auto"
    if devices * num_nodes > 1:
        from lightning.pytorch.strategies import DDPStrategy

        strategy = DDPStrategy(process_group_backend="nccl" if device == "cuda" else "gloo")
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        use_distributed_sampler=False,  # EpochBatches shards each batch itself
        deterministic=True,
        precision=precision,
        logger=logger,
        callbacks=[*callbacks, checkpoint],
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
        # Losses are logged per epoch (on_step=False); an interval no longer than the epoch
        # keeps Lightning from warning about it on every short run.
        log_every_n_steps=max(1, min(50, len(loader))),
    )
    resume = checkpoint_dir / "last.ckpt"
    started = time.perf_counter()
    first_epoch, stale = resumable(resume, module.fingerprint)
    if stale:
        print(f"training: not resuming {resume} ({stale}); starting from epoch 1", file=sys.stderr)
        resume.unlink(missing_ok=True)
    trainer.fit(module, loader, ckpt_path=resume if first_epoch else None)
    return trainer, first_epoch, time.perf_counter() - started


def run_summary(
    trainer: L.Trainer,
    module: FingerprintedModule,
    *,
    labels: dict[str, str],
    seed: int,
    first_epoch: int,
    seconds: float,
    train_clips: int,
    device: str,
    threads: int,
    provenance: dict[str, Any] | None,
) -> dict[str, Any]:
    """training.json: what was trained, how fast, the final metrics and per-epoch history."""
    epochs, loader = trainer.max_epochs, trainer.train_dataloader
    batch_size = loader.sampler.batch_size
    trained_samples = (epochs - first_epoch) * len(loader) * batch_size
    return {
        **labels,
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "resumed_from_epoch": first_epoch,
        "train_clips": train_clips,
        "device": device,
        "threads": threads,
        "seconds": round(seconds, 2),
        "samples_per_second": round(trained_samples / seconds, 1) if trained_samples else None,
        "final": {k: float(v) for k, v in trainer.callback_metrics.items()},
        "history": module.history,
        "provenance": provenance or {},
    }


def save_model(out_dir: Path, network: nn.Module, summary: dict[str, Any]) -> None:
    """model.pt (the state dict) and training.json, written together atomically."""
    with atomic_directory(out_dir) as tmp:
        (tmp / MODEL_FILE).write_bytes(model_bytes(network))
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")


def compile_backbone(network: nn.Module) -> None:
    """torch.compile the encoder and decoder in place: the objectives call them apart (not
    the network's forward), and compiling in place keeps the state dict's names, so the
    saved weights load into an eager network."""
    network.encoder.compile()
    network.decoder.compile()


def model_bytes(network: nn.Module) -> bytes:
    """The state dict as torch.save writes it to a buffer. Saved to a path instead, torch
    names the archive's folder after the file (and falls back to a stream for a non-ASCII
    path), so the bytes - and their SHA-256 - would depend on where they are written."""
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    return buffer.getvalue()
