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

from refimpl import _checks

M = TypeVar("M", bound=nn.Module)

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def on_meta(factory: Callable[..., M], *args, **kwargs) -> M:
    """Build ``factory(*args, **kwargs)`` with every parameter on the ``meta`` device (no memory, no init cost).

    Args:
        factory: a model class or a function that returns a model, e.g. ``MobileNetV1``.
        *args (Any): positional arguments of ``factory``.
        **kwargs (Any): keyword arguments of ``factory``.
    """
    if not callable(factory):
        raise _checks.ArgumentTypeError(f"on_meta needs a model class or factory such as MobileNetV1; got {_checks.describe(factory)}")
    with torch.device("meta"):
        return factory(*args, **kwargs)


def to_meta(model: nn.Module) -> nn.Module:
    """``model`` itself when it already lives on ``meta``, else a ``meta`` copy of it (the original is untouched).

    Args:
        model: any module.
    """
    _check_model(model)
    if all(p.device.type == "meta" for p in model.parameters()):
        return model
    return copy.deepcopy(model).to("meta")


def layer_type(module: nn.Module) -> str:
    r"""The layer-type label the MobileNet paper uses in Table 2.

    ``"Conv DW 3×3"`` for a depthwise convolution, ``"Conv 1×1"``/``"Conv 3×3"``/``"Conv 3×3×3"``
    for a full one, ``"Up-conv 2×2"`` for a transposed one, ``"FC"`` for a linear layer, and the
    class name for anything else.

    Args:
        module: one layer.
    """
    _check_model(module, "module")
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
    """The module's qualified name in the model, e.g. ``"stem.conv"``."""
    type: str
    """Its layer type, as [`layer_type`][refimpl.analysis.layer_type] names it."""
    madds: int
    """Its multiply-adds for the given input (half of PyTorch's FLOP count: one multiply and one add)."""
    params: int
    """All of the module's own parameters (weights and biases)."""
    weights: int
    """Its ``weight`` tensor alone: what the papers' tables list, e.g. "FC 1024 × 1000"."""
    input_shape: tuple[int, ...]
    """Shape of its first input, batch included (``()`` when that is no tensor)."""
    output_shape: tuple[int, ...]
    """Shape of its output, batch included (``()`` when that is no tensor)."""


@dataclass(frozen=True)
class ModelCost:
    """What [`analyse`][refimpl.analysis.analyse] measured."""

    params: int
    """Every parameter, batch-norm scales and shifts included."""
    madds: int
    """Multiply-adds of the convolutions and linear layers for the given input."""
    output_shape: tuple[int, ...]
    """Shape of the model's output, batch included."""
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

        Args:
            biases: count the biases of the convolutions and linear layers too.
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

    Args:
        model: any module; it is copied to ``meta`` (see [`to_meta`][refimpl.analysis.to_meta]).
        input_shape: ``(N, C, *spatial)`` of positive sizes, e.g. ``(1, 3, 224, 224)``.
    """
    input_shape = _check_shape(input_shape, 1)
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
    norms = [m for m in leaves.values() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    try:
        for norm in norms:  # see _shape_only_batch_norm: same shapes, same count, 3× faster
            norm.forward = _shape_only_batch_norm(norm)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            out = meta_model(torch.empty(*input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
        for norm in norms:
            del norm.forward
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


def _shape_only_batch_norm(norm: nn.modules.batchnorm._BatchNorm) -> Callable[[torch.Tensor], torch.Tensor]:
    """A stand-in for an eval-mode batch norm during [`analyse`][refimpl.analysis.analyse].

    On ``meta``, FlopCounterMode decomposes every batch norm into primitive element-wise ops
    (about 10 ms each: 12 s for ResNet-1202) and counts none of them, since it counts only matrix
    products and convolutions. Batch norm keeps its input's shape, so returning the input after the
    same channel check gives the same shapes and the same count without the decomposition.
    """

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1] != norm.num_features:
            raise RuntimeError(f"{type(norm).__name__}({norm.num_features}) got an input of shape {tuple(x.shape)}")
        return x

    return forward


def _check_model(model: object, name: str = "model") -> None:
    if not isinstance(model, nn.Module):
        raise _checks.ArgumentTypeError(f"{name} must be a torch.nn.Module (e.g. on_meta(MobileNetV1)); got {_checks.describe(model)}")


def _check_shape(input_shape: Sequence[int], min_length: int) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints: (N, C, *spatial) with at least ``min_length`` sizes."""
    rule = "a shape (N, C, *spatial) of positive sizes, e.g. (1, 3, 224, 224)"
    shape = _checks.sequence("input_shape", input_shape, rule)
    if len(shape) < min_length:
        raise ValueError(f"input_shape must be (N, C, *spatial) with at least one spatial axis; got {tuple(shape)}")
    return tuple(_checks.positive(f"input_shape[{i}]", n, rule) for i, n in enumerate(shape))


def _weight_count(module: nn.Module) -> int:
    """Size of the ``weight`` of a convolution or linear layer; 0 for any other module (batch norm, PReLU, …)."""
    if not isinstance(module, _CONVS + _CONV_TS + (nn.Linear,)):
        return 0
    return module.weight.numel()


def count_params(model: nn.Module, modules: Iterable[type[nn.Module]] | None = None) -> int:
    """Number of parameters of ``model``, or of its sub-modules of the given types only.

    Args:
        model: any module.
        modules: module classes, e.g. ``[nn.BatchNorm2d]``, or one class; ``None`` counts every parameter.
    """
    _check_model(model)
    if modules is None:
        return sum(p.numel() for p in model.parameters())
    kinds = tuple(modules) if not isinstance(modules, type) else (modules,)
    if not all(isinstance(k, type) and issubclass(k, nn.Module) for k in kinds):
        raise _checks.ArgumentTypeError(f"modules must be module classes such as [nn.BatchNorm2d]; got {_checks.describe(modules)}")
    return sum(p.numel() for m in model.modules() if isinstance(m, kinds) for p in m.parameters(recurse=False))



# --------------------------------------------------------------------------- receptive fields

# Imported here rather than at the top so that the receptive-field code stays one self-contained section.
from fractions import Fraction  # noqa: E402

import numpy as np  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402


@dataclass(frozen=True)
class ReceptiveField:
    r"""Receptive field of one module's output, in input voxels along each spatial axis.

    ``size`` is exact: every output voxel carries the interval of input voxels it depends on, layer
    by layer, and ``size`` is the widest interval. ``theoretical`` is the usual recurrence (Araujo
    et al., *Computing Receptive Fields of Convolutional Neural Networks*, Distill 2019): after a
    layer of kernel $k$, dilation $d$ and stride $s$, $r \leftarrow r + (k-1)\,d\,j$ and
    $j \leftarrow j\,s$. The two agree through convolutions and pooling; they part after an
    up-convolution (see [`receptive_field`][refimpl.analysis.receptive_field]).
    """

    name: str
    """The module's qualified name (``""`` for the whole model)."""
    type: str
    """Its layer type, as [`layer_type`][refimpl.analysis.layer_type] names it."""
    size: tuple[int, ...]
    """Exact: the most input voxels one output voxel depends on, per spatial axis (clipped at the input's border)."""
    theoretical: tuple[int | float, ...]
    """The recurrence $r$, transposed convolutions counted as convolutions on the finer grid."""
    jump: tuple[int | float, ...]
    """Input voxels per output voxel, $j$ (the cumulative stride; below 1 after up-sampling)."""
    output_shape: tuple[int, ...]
    """Shape of the module's output, batch included."""


def receptive_field(model: nn.Module, input_shape: Sequence[int]) -> "OrderedDict[str, ReceptiveField]":
    r"""Receptive field of every module's output, computed from the layers the model actually runs.

    The model runs once on the ``meta`` device (no arithmetic) while every tensor computed from the
    input carries, per spatial axis, the interval of input voxels each of its voxels depends on, and
    the recurrence pair $(r, j)$. Residual additions, concatenated skip connections and any branching
    are followed as the model's own ``forward`` wires them: an element-wise operation or a
    concatenation takes the union of its inputs' intervals (and the largest $r$).

    * Convolution and pooling (kernel $k$, stride $s$, padding, dilation $d$): output voxel $o$ reads
      input voxels $o s - p + t d$, $0 \le t < k$; $r \mathrel{+}= (k-1)\,d\,j$, $j \mathrel{*}= s$.
    * Transposed convolution (up-convolution): input voxel $i$ writes output voxels $i s - p + t d$.
      A 2×2×2 stride-2 up-convolution therefore gives each output voxel exactly one input voxel, and
      two neighbours share it. The recurrence counts it as a $k$-wide convolution on the finer grid,
      $j \mathrel{/}= s$ then $r \mathrel{+}= (k-1)\,d\,j$ (how V-Net's Table 1 counts); it overcounts the
      up-convolution and cannot see that, after several up-samplings, the field depends on where the
      voxel sits: ``size`` is the largest over positions.
    * Adaptive pooling reads PyTorch's windows; an operation that folds spatial positions into
      features (``flatten``, a mean over the spatial axes) sees its whole input.
    * Anything else that changes the spatial size (interpolation, cropping to another size, a
      permutation of axes) is not supported and raises `ValueError`.

    Exact sizes are clipped at the border of the given input: to see a field larger than the input
    the model takes, pass a larger ``input_shape`` (on ``meta`` it costs nothing).

    Args:
        model: any module; it is copied to ``meta`` (see [`to_meta`][refimpl.analysis.to_meta]).
        input_shape: ``(N, C, *spatial)``, e.g. ``(1, 1, 128, 128, 64)``.

    Returns:
        ``{module name: ReceptiveField}`` in the order the modules finished, the whole model last
            under ``""``. A module that runs twice keeps its first call.
    """
    input_shape = _check_shape(input_shape, 3)
    meta_model = to_meta(model)
    was_training = meta_model.training
    meta_model.eval()
    dtype = next((p.dtype for p in meta_model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    x = torch.empty(*input_shape, device="meta", dtype=dtype)
    tracker = _FieldTracker(len(input_shape) - 2)
    tracker.set(x, _Field.of_input(tuple(input_shape[2:])))
    found: "OrderedDict[str, ReceptiveField]" = OrderedDict()

    def remember(name: str) -> Callable:
        def hook(module: nn.Module, _inputs, output) -> None:
            out = next(iter(_tensors(output)), None)
            field = tracker.get(out) if out is not None else None
            if field is not None and name not in found:
                found[name] = ReceptiveField(name, layer_type(module), field.size(), _plain(field.r), _plain(field.j),
                                             tuple(out.shape))

        return hook

    handles = [m.register_forward_hook(remember(name)) for name, m in meta_model.named_modules()]
    try:
        with tracker, torch.no_grad():
            meta_model(x)
    finally:
        for h in handles:
            h.remove()
        meta_model.train(was_training)
    if "" in found:
        found.move_to_end("")
    return found


@dataclass
class _Field:
    """Per spatial axis: the input interval [lo, hi] of every position, and the recurrence (r, j)."""

    lo: list[np.ndarray]
    hi: list[np.ndarray]
    r: tuple[Fraction, ...]
    j: tuple[Fraction, ...]

    @classmethod
    def of_input(cls, spatial: tuple[int, ...]) -> "_Field":
        one = (Fraction(1),) * len(spatial)
        return cls([np.arange(n) for n in spatial], [np.arange(n) for n in spatial], one, one)

    def size(self) -> tuple[int, ...]:
        return tuple(int((hi - lo).max()) + 1 for lo, hi in zip(self.lo, self.hi))

    def whole(self) -> "_Field":
        """The field of an output that mixes every position: the union of all intervals."""
        r = tuple(r + (len(lo) - 1) * j for r, j, lo in zip(self.r, self.j, self.lo))
        return _Field([np.array([lo.min()]) for lo in self.lo], [np.array([hi.max()]) for hi in self.hi], r, self.j)


_BIG = np.iinfo(np.int64).max // 4  # an empty interval (a voxel that reads only padding) is [_BIG, -_BIG]


def _plain(values: tuple[Fraction, ...]) -> tuple[int | float, ...]:
    return tuple(int(v) if v.denominator == 1 else float(v) for v in values)


def _tuple(value, dims: int) -> tuple:
    if value is None or isinstance(value, (int, str)):
        return (value,) * dims
    value = tuple(value)
    return value * dims if len(value) == 1 else value


# Positional parameters of the functions whose field is not the union of their inputs' fields.
_ARGS = {
    "conv": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv_transpose": ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"),
    "max_pool": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "avg_pool": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "adaptive_avg_pool": ("input", "output_size"),
    "adaptive_max_pool": ("input", "output_size", "return_indices"),
}


class _FieldTracker(TorchFunctionMode):
    """Carries a [`_Field`] along every tensor computed from the input."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.dims = dims
        self._fields: dict[int, tuple[torch.Tensor, _Field]] = {}  # id → (the tensor, kept alive; its field)

    def set(self, t: torch.Tensor, field: _Field) -> None:
        self._fields[id(t)] = (t, field)

    def get(self, t: torch.Tensor) -> _Field | None:
        entry = self._fields.get(id(t))
        return entry[1] if entry is not None and entry[0] is t else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        sources = [t for t in _tensors((args, kwargs)) if self.get(t) is not None]
        outputs = _tensors(out)
        if not sources or not outputs:
            return out
        name = getattr(func, "__name__", "").removesuffix("_with_indices")
        kind = name[:-2] if name[-2:] == f"{self.dims}d" else ""
        field = self._layer(kind, args, kwargs, outputs[0]) if kind in _ARGS else self._union(name or str(func), sources, outputs[0])
        for t in outputs:
            self.set(t, field)
        return out

    def _spatial(self, t: torch.Tensor) -> bool:
        return t.dim() == self.dims + 2

    def _union(self, name: str, sources: list[torch.Tensor], out: torch.Tensor) -> _Field:
        fields = [self.get(t) for t in sources]
        spatial = [(t, f) for t, f in zip(sources, fields) if self._spatial(t)]
        if not spatial:  # already flattened: every position mixed
            return _merge([f.whole() if len(f.lo[0]) > 1 else f for f in fields])
        if not self._spatial(out):  # spatial positions folded into features
            return _merge([f.whole() for f in fields])
        shape = tuple(out.shape[2:])
        parts = []
        for t, f in spatial:
            if tuple(t.shape[2:]) != shape and any(n not in (1, m) for n, m in zip(t.shape[2:], shape)):
                raise ValueError(f"receptive_field: {name!r} changes the spatial size {tuple(t.shape[2:])} → {shape}; "
                                 "supported are convolutions, transposed convolutions and (adaptive) pooling")
            parts.append(_Field([np.broadcast_to(lo, (m,)) for lo, m in zip(f.lo, shape)],
                                [np.broadcast_to(hi, (m,)) for hi, m in zip(f.hi, shape)], f.r, f.j))
        return _merge(parts)

    def _layer(self, kind: str, args, kwargs, out: torch.Tensor) -> _Field:
        dims = self.dims
        bound = dict(zip(_ARGS[kind], args)) | kwargs
        src = bound["input"]
        field = self.get(src)
        n_in, n_out = tuple(src.shape[2:]), tuple(out.shape[2:])
        lo, hi, r, j = [], [], list(field.r), list(field.j)
        if kind.startswith("adaptive"):
            for i in range(dims):
                windows = [(o * n_in[i] // n_out[i], -(-(o + 1) * n_in[i] // n_out[i])) for o in range(n_out[i])]
                lo.append(np.array([field.lo[i][a:b].min() for a, b in windows]))
                hi.append(np.array([field.hi[i][a:b].max() for a, b in windows]))
                r[i] += (max(b - a for a, b in windows) - 1) * j[i]
                j[i] *= Fraction(n_in[i], n_out[i])
            return _Field(lo, hi, tuple(r), tuple(j))
        if kind.startswith("conv"):
            k = tuple(bound["weight"].shape[2:])
        else:
            k = _tuple(bound["kernel_size"], dims)
        stride = bound.get("stride")
        s = k if not kind.startswith("conv") and stride in (None, [], ()) else _tuple(stride if stride is not None else 1, dims)
        d = _tuple(bound.get("dilation", 1), dims)
        p = _tuple(bound.get("padding", 0), dims)
        for i in range(dims):
            pad = 0 if p[i] == "valid" else (d[i] * (k[i] - 1)) // 2 if p[i] == "same" else p[i]
            taps = np.arange(k[i]) * d[i]
            if kind == "conv_transpose":  # input voxel a writes output voxels a·s − pad + t·d
                targets = (np.arange(n_in[i])[:, None] * s[i] - pad + taps[None, :]).ravel()
                sources = np.repeat(np.arange(n_in[i]), k[i])
                keep = (targets >= 0) & (targets < n_out[i])
                new_lo, new_hi = np.full(n_out[i], _BIG), np.full(n_out[i], -_BIG)
                np.minimum.at(new_lo, targets[keep], field.lo[i][sources[keep]])
                np.maximum.at(new_hi, targets[keep], field.hi[i][sources[keep]])
                j[i] /= s[i]
                r[i] += (k[i] - 1) * d[i] * j[i]
            else:  # output voxel o reads input voxels o·s − pad + t·d
                reads = np.arange(n_out[i])[:, None] * s[i] - pad + taps[None, :]
                inside = (reads >= 0) & (reads < n_in[i])
                reads = reads.clip(0, n_in[i] - 1)
                new_lo = np.where(inside, field.lo[i][reads], _BIG).min(axis=1)
                new_hi = np.where(inside, field.hi[i][reads], -_BIG).max(axis=1)
                r[i] += (k[i] - 1) * d[i] * j[i]
                j[i] *= s[i]
            lo.append(new_lo)
            hi.append(new_hi)
        return _Field(lo, hi, tuple(r), tuple(j))


def _merge(fields: list[_Field]) -> _Field:
    """Union of fields of the same shape; the largest r and j per axis."""
    dims = len(fields[0].lo)
    return _Field(
        [np.minimum.reduce([f.lo[i] for f in fields]) for i in range(dims)],
        [np.maximum.reduce([f.hi[i] for f in fields]) for i in range(dims)],
        tuple(max(f.r[i] for f in fields) for i in range(dims)),
        tuple(max(f.j[i] for f in fields) for i in range(dims)),
    )


def _tensors(value) -> list[torch.Tensor]:
    """Every tensor in a nest of tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []
