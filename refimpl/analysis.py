r"""Structural analysis of a model on PyTorch's ``meta`` device.

Parameters, multiply-adds and output shapes need only the shapes of tensors, never their values,
so every function here runs the model on the ``meta`` device: no memory is allocated for
activations and no arithmetic is done. A 3D U-Net at 132×132×116 is analysed in well under a
second, where a real CPU forward pass takes about 20 s.

Multiply-adds come from `torch.utils.flop_counter.FlopCounterMode`,
which counts two FLOPs per multiply-add of a convolution or matrix product. Like the papers, it
counts convolutions and fully connected layers only (batch norm, activations, additions and
pooling are free).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence, TypeVar

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

M = TypeVar("M", bound=nn.Module)

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def on_meta(factory: Callable[..., M], *args, **kwargs) -> M:
    """Build ``factory(*args, **kwargs)`` with every parameter on the ``meta`` device (no memory, no init cost)."""
    with torch.device("meta"):
        return factory(*args, **kwargs)


def to_meta(model: nn.Module) -> nn.Module:
    """``model`` itself when it already lives on ``meta``, else a ``meta`` copy of it (the original is untouched)."""
    if all(p.device.type == "meta" for p in model.parameters()):
        return model
    return copy.deepcopy(model).to("meta")


def layer_type(module: nn.Module) -> str:
    r"""The layer-type label the MobileNet paper uses in Table 2.

    ``"Conv DW 3×3"`` for a depthwise convolution, ``"Conv 1×1"``/``"Conv 3×3"``/``"Conv 3×3×3"``
    for a full one, ``"Up-conv 2×2"`` for a transposed one, ``"FC"`` for a linear layer, and the
    class name for anything else.
    """
    if isinstance(module, _CONVS + _CONV_TS):
        k = "×".join(str(s) for s in module.kernel_size)
        if isinstance(module, _CONV_TS):
            return f"Up-conv {k}"
        depthwise = module.groups > 1 and module.groups == module.in_channels
        return f"Conv DW {k}" if depthwise else f"Conv {k}"
    if isinstance(module, nn.Linear):
        return "FC"
    return type(module).__name__


@dataclass(frozen=True)
class LayerCost:
    """Cost of one leaf module during one forward pass."""

    name: str
    type: str
    madds: int
    params: int
    """All of the module's own parameters (weights and biases)."""
    weights: int
    """Its ``weight`` tensor alone: what the papers' tables list, e.g. "FC 1024 × 1000"."""
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelCost:
    """What [`analyse`][refimpl.analysis.analyse] measured."""

    params: int
    """Every parameter, batch-norm scales and shifts included."""
    madds: int
    """Multiply-adds of the convolutions and linear layers for the given input."""
    output_shape: tuple[int, ...]
    layers: list[LayerCost] = field(repr=False)
    """Leaf modules in the order they first ran."""

    @property
    def weight_params(self) -> int:
        """Weights of the convolutions and linear layers only: no biases, no batch norm.

        This is how MobileNets counts (Table 1 lists "FC 1024 × 1000"; Table 2's shares add up this way).
        """
        return sum(layer.weights for layer in self.layers)

    def by_type(self, biases: bool = False) -> "OrderedDict[str, tuple[int, int]]":
        """``{layer type: (multiply-adds, parameters)}`` over convolutions and linear layers, most multiply-adds first.

        Parameters are weights only unless ``biases`` (MobileNets Table 2 counts "FC 1024 × 1000").
        """
        totals: dict[str, list[int]] = {}
        for layer in self.layers:
            if layer.type.startswith(("Conv", "Up-conv", "FC")):
                t = totals.setdefault(layer.type, [0, 0])
                t[0] += layer.madds
                t[1] += layer.params if biases else layer.weights
        return OrderedDict(sorted(((k, (v[0], v[1])) for k, v in totals.items()), key=lambda kv: -kv[1][0]))


def analyse(model: nn.Module, input_shape: Sequence[int]) -> ModelCost:
    """Parameters, multiply-adds, output shape and per-layer costs of ``model`` for an input of ``input_shape``.

    Runs on the ``meta`` device (see [`to_meta`][refimpl.analysis.to_meta]); ``input_shape``
    includes the batch dimension, e.g. ``(1, 3, 224, 224)``.
    """
    meta_model = to_meta(model)
    was_training = meta_model.training
    meta_model.eval()
    root = type(meta_model).__name__
    leaves = {name: m for name, m in meta_model.named_modules() if not any(True for _ in m.children())}
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    order: list[str] = []

    def remember(name: str) -> Callable:
        def hook(_module: nn.Module, inputs, output) -> None:
            if name not in shapes:
                order.append(name)
                first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
                shapes[name] = (
                    tuple(first.shape) if first is not None else (),
                    tuple(output.shape) if isinstance(output, torch.Tensor) else (),
                )

        return hook

    handles = [m.register_forward_hook(remember(name)) for name, m in leaves.items()]
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            out = meta_model(torch.empty(*input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
        meta_model.train(was_training)
    counts = counter.get_flop_counts()

    def flops_of(name: str) -> int:
        key = f"{root}.{name}" if name else root
        return int(sum(counts.get(key, {}).values()))

    layers = [
        LayerCost(
            name=name,
            type=layer_type(leaves[name]),
            madds=flops_of(name) // 2,
            params=sum(p.numel() for p in leaves[name].parameters(recurse=False)),
            weights=_weight_count(leaves[name]),
            input_shape=shapes[name][0],
            output_shape=shapes[name][1],
        )
        for name in order
    ]
    return ModelCost(
        params=sum(p.numel() for p in meta_model.parameters()),
        madds=counter.get_total_flops() // 2,
        output_shape=tuple(out.shape) if isinstance(out, torch.Tensor) else (),
        layers=layers,
    )


def _weight_count(module: nn.Module) -> int:
    """Size of the ``weight`` of a convolution or linear layer; 0 for any other module (batch norm, PReLU, …)."""
    if not isinstance(module, _CONVS + _CONV_TS + (nn.Linear,)):
        return 0
    return module.weight.numel()


def count_params(model: nn.Module, modules: Iterable[type[nn.Module]] | None = None) -> int:
    """Number of parameters of ``model``, or of its sub-modules of the given types only."""
    if modules is None:
        return sum(p.numel() for p in model.parameters())
    kinds = tuple(modules)
    return sum(p.numel() for m in model.modules() if isinstance(m, kinds) for p in m.parameters(recurse=False))
