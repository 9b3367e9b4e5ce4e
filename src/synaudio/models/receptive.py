"""Analytic receptive fields of a network's layers (issue 18: "unproductive layers").

For every convolution, pooling and dense layer, in the order one forward pass runs them:
how many input positions along each axis one of its outputs can see, the step in input
positions between neighbouring outputs, its output grid, and whether its field already
spans the whole input. Layers past that point are the candidates the receptive-field
papers call unproductive (whether they are is for saturation and layer probes to say).

The layers are folded as a chain, in call order: exact for plain stacks (the VAE family's
encoders) and for residual units x + f(x) whose branch f is a chain; a network with
parallel branches would get an upper bound. Element-wise layers (activations,
normalisation, dropout) do not move the field; a module that filters like a convolution
says how through receptive_geometry() (kernel, stride, dilation); any other layer type stops
the walk with its name, rather than a silently wrong table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
DENSE = (nn.Linear, nn.Flatten)
ELEMENT_WISE = (
    nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Identity, nn.Dropout,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d,
)  # fmt: skip


@dataclass(frozen=True)
class LayerField:
    """One layer's receptive field, per spatial axis of the input."""

    layer: str  # its name in the model (named_modules)
    kind: str  # its class name
    size: tuple[int, ...]  # input positions one output sees (a dense layer: all of them)
    jump: tuple[int, ...]  # input positions between neighbouring outputs
    output: tuple[int, ...]  # the output grid (a dense layer: ())
    covers: bool  # the field spans the input along every axis


def _per_axis(value: int | tuple[int, ...], axes: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * axes


def _geometry(module: nn.Module, axes: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Kernel, stride and dilation along each axis (pooling: stride defaults to the kernel); a
    module that filters like a convolution without being one (a PQMF bank) gives its own."""
    if hasattr(module, "receptive_geometry"):
        return tuple(_per_axis(value, axes) for value in module.receptive_geometry())  # type: ignore[return-value]
    kernel = _per_axis(module.kernel_size, axes)
    stride = _per_axis(module.stride if module.stride is not None else module.kernel_size, axes)
    dilation = _per_axis(getattr(module, "dilation", 1), axes)
    return kernel, stride, dilation


def _calls(model: nn.Module, example: torch.Tensor) -> list[tuple[str, nn.Module, torch.Size]]:
    """(name, module, output shape) of every leaf module, in the order forward runs them."""
    calls: list[tuple[str, nn.Module, torch.Size]] = []
    hooks = [
        module.register_forward_hook(
            lambda module, _, output, name=name: calls.append((name, module, output.shape))
        )
        for name, module in model.named_modules()
        if not list(module.children())
    ]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def receptive_fields(model: nn.Module, example: torch.Tensor) -> list[LayerField]:
    """The field of each convolution, pooling and dense layer for an input shaped like
    `example` ((batch, channels, *spatial)); see the module docstring for what is exact."""
    spatial = tuple(example.shape[2:])
    axes = len(spatial)
    size, jump = (1,) * axes, (1,) * axes
    fields = []
    for name, module, shape in _calls(model, example):
        kind = type(module).__name__
        if isinstance(module, CONVOLUTIONS) or hasattr(module, "receptive_geometry"):
            kernel, stride, dilation = _geometry(module, axes)
            grown = zip(size, kernel, dilation, jump, strict=True)
            size = tuple(r + d * (k - 1) * j for r, k, d, j in grown)
            jump = tuple(j * s for j, s in zip(jump, stride, strict=True))
            output = tuple(shape[2:])
        elif isinstance(module, DENSE):
            size, output = spatial, ()
        elif isinstance(module, ELEMENT_WISE):
            continue
        else:
            raise ValueError(f"{name} ({kind}): no receptive-field rule for this layer type")
        covers = all(r >= n for r, n in zip(size, spatial, strict=True))
        fields.append(LayerField(name, kind, size, jump, output, covers))
    return fields
