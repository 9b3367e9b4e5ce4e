"""What a study's recipe hands to `synaudio.training.train`: the settings of one training
and the network factory. Kept apart from training.py (Lightning) so that evaluation and
report code that only builds a network never loads - or depends on - the training loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from synaudio.protocol import LossSettings

BackboneFactory = Callable[[int], nn.Module]  # latent_dim -> a module with .encoder / .decoder


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that shapes one training besides the objective, the network and the data:
    a study's recipe builds it from its own params section."""

    latent_dim: int
    lr: float  # Adam, betas (0.9, 0.999), no scheduler
    batch_size: int
    epochs: int
    loss: LossSettings  # the protocol's loss settings (reduction and the reference's quirks)
    device: str  # auto | cpu | cuda
    threads: int
    channels_last: bool
    precision: str = "32-true"  # Lightning's: 32-true | bf16-mixed | 16-mixed (CUDA only)
    compile: bool = False  # torch.compile the encoder and decoder (another float order)
    grad_clip: float | None = None  # the backbone's gradient norm capped at this (None: no cap)
    devices: int = 1  # DDP processes per node (synaudio.training; 1: no process group)
    num_nodes: int = 1

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes
