r"""Architecture figures drawn from the reference implementations, so that they cannot disagree with the code.

[`stages`][refimpl.diagram.stages] runs a model once on the ``meta`` device (as
[`analyse`][refimpl.analysis.analyse] does: no memory, no arithmetic) with a forward hook on each of
its stages, and records what each stage outputs: channels, spatial size and its parameters. The
same pass follows every tensor from stage to stage, so a stage that reads the output of an earlier,
non-adjacent one (U-Net's and V-Net's concatenated skip connections) is found from the model's own
``forward``, never typed in. [`architecture_svg`][refimpl.diagram.architecture_svg] draws the stages
as a standalone SVG (one box per stage, height growing with the log of the side length, width with
the log of the channels, skip connections as brackets above), and
[`show_architecture`][refimpl.diagram.show_architecture] displays it in a notebook with the output
metadata ``{"kb": {"role": "architecture", "caption": ..., "alt": ...}}`` that the site reads to
put the figure on the paper's note.

Which modules are a model's stages: its direct children, where an ``nn.ModuleList`` (never called
itself) and a plain ``nn.Sequential`` of blocks (not of single layers) are replaced by what they
hold. So MobileNetV1's ``features`` gives Table 1's rows, MobileNetV2's ``bottlenecks`` its 17
blocks, ResNet's ``conv2_x`` its blocks while ``conv1`` (convolution, batch norm, ReLU) stays one
stage, and U-Net's ``contract``, ``up`` and ``expand`` their levels. Modules without parameters that
leave the shape unchanged (dropout, identity, soft-max) are not stages. A module run several times
(U-Net's one max pooling) is a stage at every call. ``modules=`` names other stages explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union
from xml.sax.saxutils import escape, quoteattr

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from refimpl import _checks
from refimpl.analysis import _check_model, _check_shape, _tensors, to_meta

INPUT = -1
"""The index [`Stage.inputs`][refimpl.diagram.Stage.inputs] gives the model's input."""

KINDS = {
    "input": ("input", "#e9e9e9", "#6b6b6b"),
    "conv": ("convolution stage", "#cfe3f3", "#0b5a8f"),
    "pool": ("pooling (no parameters)", "#f2f2f2", "#8a8a8a"),
    "up": ("up-convolution", "#fbe3c2", "#a0620a"),
    "output": ("output layer", "#cdeee2", "#0b6e4f"),
}
"""Kind of a stage → (legend label, fill, stroke). Okabe–Ito hues, light fills, dark outlines."""

SKIP_COLOUR = "#a3367a"
"""Okabe–Ito reddish purple, for the skip connections."""

WIDTH = 720
"""Widest viewBox: the note column. A figure of few stages is narrower (down to [`MIN_WIDTH`][refimpl.diagram.MIN_WIDTH]),
so that it shrinks less on a phone."""

MIN_WIDTH = 480
"""Narrowest viewBox (the legend needs it)."""

SLOT = 58
"""Horizontal room a box and its label would like; fewer boxes make a narrower figure."""

FONT_SIZE = 13
"""Text size in user units: 9.75 pt at the figure's own width, still 9 pt when a 720-unit figure
is shown 665 px wide (a column a little narrower than the note's)."""

FONT = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
"""Installed fonts only (nothing is loaded): DejaVu Sans where it exists, then common ones."""

TEXT_COLOUR = "#1f1f1f"


@dataclass(frozen=True)
class Stage:
    """One stage of a model as it ran: what it outputs, its parameters and which stages fed it."""

    name: str
    """The module's qualified name in the model (``"features.3"``, ``"contract.0"``), or ``"input"``."""
    type: str
    """The module's class name (``"DepthwiseSeparable"``, ``"MaxPool2d"``)."""
    shape: tuple[int, ...]
    """Output shape without the batch axis: ``(channels, *spatial)``, or ``(features,)`` after a flatten."""
    params: int
    """Parameters of the module (weights, biases and batch-norm scales and shifts)."""
    kind: str
    """``"input"``, ``"conv"``, ``"pool"`` (no parameters), ``"up"`` (holds a transposed convolution) or ``"output"``."""
    inputs: tuple[int, ...] = ()
    """Indices (in the list [`stages`][refimpl.diagram.stages] returns) of the stages whose outputs this one reads, directly or through parameter-free operations such as a crop and a concatenation."""

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.shape[1:]

    @property
    def label(self) -> str:
        """``"112² × 32"``, ``"132²×116 × 64"`` or ``"1 × 1000"``: side(s), then channels."""
        return f"{side_label(self.spatial)} × {self.channels}"


StageSpec = Union[str, tuple[str, nn.Module]]


def default_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules [`stages`][refimpl.diagram.stages] hooks when it is given none, as ``(qualified name, module)``.

    The model's direct children, where an ``nn.ModuleList`` and a plain ``nn.Sequential`` whose
    children are not all single layers are replaced by their children (recursively). Subclasses of
    ``nn.Sequential`` (a conv–norm–activation unit, U-Net's two-convolution level) are stages.

    Args:
        model: any module.
    """
    _check_model(model)
    found: list[tuple[str, nn.Module]] = []

    def visit(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            qualified = f"{prefix}{name}"
            if _is_container(child):
                visit(qualified + ".", child)
            else:
                found.append((qualified, child))

    visit("", model)
    return found


def _is_container(module: nn.Module) -> bool:
    if type(module) is nn.ModuleList:
        return True
    return type(module) is nn.Sequential and any(any(True for _ in c.children()) for c in module.children())


def stages(model: nn.Module, input_shape: Sequence[int], modules: Optional[Iterable[StageSpec]] = None) -> list[Stage]:
    r"""The stages of ``model`` for an input of ``input_shape``, in the order they ran, the input first.

    Runs on the ``meta`` device. Each stage's output shape and parameters are read by a forward
    hook; which earlier stages it reads is found by following every tensor computed from a stage's
    output through the model's own ``forward`` (crops, concatenations, additions), so a skip
    connection appears as an index in [`Stage.inputs`][refimpl.diagram.Stage.inputs] other than the
    previous stage's. Batch norms and element-wise activations keep their input's shape, so the pass
    answers them with a tensor of that shape instead of running PyTorch's decompositions of them.

    Args:
        model: any module; it is copied to ``meta`` (see [`to_meta`][refimpl.analysis.to_meta]).
        input_shape: ``(N, C, *spatial)``, e.g. ``(1, 3, 224, 224)``.
        modules: the stages, as qualified names (``"features.0"``) or ``(label, module)`` pairs of
            sub-modules of ``model``, none inside another; ``None`` takes
            [`default_modules`][refimpl.diagram.default_modules].

    Returns:
        The model's input as a stage named ``"input"``, then one [`Stage`][refimpl.diagram.Stage]
            per call of a hooked module, in the order they ran.
    """
    _check_model(model)
    input_shape = _check_shape(input_shape, 3)
    meta = to_meta(model)
    chosen = _resolve(model, meta, modules)
    records: list[dict] = []
    lineage = _Lineage()

    def before(label: str):
        def hook(module: nn.Module, args) -> None:
            feeds = set().union(*(lineage.get(t) for t in _tensors(args)))
            records.append(dict(name=label, module=module, feeds=feeds, shape_in=_first_shape(args)))

        return hook

    def after(_module: nn.Module, _args, output) -> None:
        record = records[-1]
        record["shape"] = _first_shape(output)
        params = sum(p.numel() for p in record["module"].parameters())
        record["transparent"] = params == 0 and record["shape"] == record["shape_in"]
        if not record["transparent"]:
            for t in _tensors(output):
                lineage.set(t, {len(records) - 1})

    handles = []
    for label, module in chosen:
        handles.append(module.register_forward_pre_hook(before(label)))
        handles.append(module.register_forward_hook(after))
    was_training = meta.training
    meta.eval()
    dtype = _checks.parameter_dtype(meta) or torch.get_default_dtype()
    x = torch.empty(*input_shape, device="meta", dtype=dtype)
    lineage.set(x, {INPUT})
    try:
        with lineage, torch.no_grad():
            out = meta(x)
    finally:
        for h in handles:
            h.remove()
        meta.train(was_training)
    kept = [i for i, r in enumerate(records) if "shape" in r and not r["transparent"] and r["shape"]]
    if not kept:
        raise ValueError(f"{type(model).__name__}: none of the stages {[n for n, _ in chosen][:6]} produced a tensor; "
                         "pass modules=[...] naming the sub-modules that do")
    index = {INPUT: 0} | {r: i + 1 for i, r in enumerate(kept)}
    final = set().union(*(lineage.get(t) for t in _tensors(out)))
    result = [Stage("input", "input", tuple(input_shape[1:]), 0, "input")]
    for r in kept:
        record = records[r]
        result.append(Stage(
            name=record["name"],
            type=type(record["module"]).__name__,
            shape=record["shape"][1:],
            params=sum(p.numel() for p in record["module"].parameters()),
            kind="output" if r in final else _kind(record["module"]),
            inputs=tuple(sorted(index[f] for f in record["feeds"] if f in index)),
        ))
    return result


def _first_shape(value) -> tuple[int, ...]:
    tensors = _tensors(value)
    return tuple(tensors[0].shape) if tensors else ()


def _kind(module: nn.Module) -> str:
    if not any(True for _ in module.parameters()):
        return "pool"
    if any(isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) for m in module.modules()):
        return "up"
    return "conv"


def _resolve(model: nn.Module, meta: nn.Module, modules: Optional[Iterable[StageSpec]]) -> list[tuple[str, nn.Module]]:
    """``(label, module of the meta copy)`` for each stage asked for, checked."""
    if modules is None:
        chosen = default_modules(meta)
        if not chosen:
            raise ValueError(f"{type(model).__name__} has no sub-modules to draw as stages; pass modules=[...]")
        return chosen
    if isinstance(modules, (str, bytes)) or not isinstance(modules, Iterable):
        raise _checks.ArgumentTypeError(f"modules must be a list of sub-module names or (label, module) pairs; "
                                        f"got {_checks.describe(modules)}")
    names_of = {id(m): n for n, m in model.named_modules()}
    children = [n for n, _ in model.named_children()]
    chosen, names = [], []
    for spec in modules:
        if isinstance(spec, str):
            label, name = spec, spec
        elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], nn.Module):
            label, name = spec[0], names_of.get(id(spec[1]))
            if name is None:
                raise ValueError(f"modules: {label!r} is not a sub-module of {type(model).__name__}")
        else:
            raise _checks.ArgumentTypeError(f"modules: each stage is a sub-module name or a (label, module) pair; "
                                            f"got {_checks.describe(spec)}")
        try:
            module = meta.get_submodule(name)
        except AttributeError:
            raise ValueError(f"modules: {type(model).__name__} has no sub-module {name!r}; "
                             f"its children are {children}") from None
        if module is meta:
            raise ValueError("modules: the model itself is not one of its stages; name its sub-modules")
        names.append(name)
        chosen.append((label, module))
    if not chosen:
        raise ValueError("modules must name at least one stage; got an empty list")
    for a in names:
        for b in names:
            if a != b and b.startswith(a + "."):
                raise ValueError(f"modules: stage {b!r} lies inside stage {a!r}; name stages that do not contain each other")
    return chosen


class _Lineage(TorchFunctionMode):
    """Carries, along every tensor, the stages whose outputs it was computed from."""

    def __init__(self) -> None:
        super().__init__()
        self._sources: dict[int, tuple[torch.Tensor, frozenset]] = {}  # id → (the tensor, kept alive; its stages)

    def set(self, t: torch.Tensor, sources: set) -> None:
        self._sources[id(t)] = (t, frozenset(sources))

    def get(self, t: torch.Tensor) -> frozenset:
        entry = self._sources.get(id(t))
        return entry[1] if entry is not None and entry[0] is t else frozenset()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            same = _SAME_SHAPE.get(func)
        except TypeError:  # an unhashable callable: never one of ours
            same = None
        out = same(args, kwargs) if same is not None else None
        if out is None:
            out = func(*args, **kwargs)
        outputs = _tensors(out)
        if outputs:
            sources = frozenset().union(*(self.get(t) for t in _tensors((args, kwargs))))
            if sources:
                for t in outputs:
                    self.set(t, sources)
        return out


# On ``meta``, PyTorch computes an element-wise activation or a batch norm through Python
# decompositions into primitives: about 1.5 ms a batch norm and 0.4-3 ms an activation, most of
# a pass through MobileNetV2, MobileNetV3 or SE-ResNet-50 once torch's lazy imports are paid.
# These functions keep their input's shape (and dtype, for a floating-point input), and stages()
# reads nothing but shapes, so _Lineage answers them with an empty tensor like the input (for an
# in-place call the input itself, as PyTorch returns it). Anything unusual (another device, an
# integer tensor, a channel count that does not match, a batch norm that uses batch statistics)
# goes to PyTorch itself, which computes it or raises as before.


def _floating_meta(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type == "meta" and value.is_floating_point()


def _activation(inplace_at: Optional[int]):
    """The stand-in of an element-wise function whose ``inplace`` flag is positional argument ``inplace_at``."""

    def same_shape(args: tuple, kwargs: dict) -> Optional[torch.Tensor]:
        x = args[0] if args else kwargs.get("input")
        if not _floating_meta(x):
            return None
        inplace = False
        if inplace_at is not None:
            inplace = args[inplace_at] if len(args) > inplace_at else kwargs.get("inplace", False)
        return x if inplace else torch.empty_like(x)

    return same_shape


_BATCH_NORM_ARGS = ("input", "running_mean", "running_var", "weight", "bias", "training")


def _batch_norm(args: tuple, kwargs: dict) -> Optional[torch.Tensor]:
    """An eval-mode batch norm (running statistics of the input's channel count): a tensor like the input."""
    bound = dict(zip(_BATCH_NORM_ARGS, args)) | {k: v for k, v in kwargs.items() if k in _BATCH_NORM_ARGS}
    x = bound.get("input")
    if not _floating_meta(x) or x.dim() < 2 or bound.get("training", False):
        return None
    for name in _BATCH_NORM_ARGS[1:5]:
        t = bound.get(name)
        if t is None and name.startswith("running"):
            return None
        if t is not None and not (_floating_meta(t) and t.dtype == x.dtype and tuple(t.shape) == (x.shape[1],)):
            return None
    return torch.empty_like(x)


def _prelu(args: tuple, kwargs: dict) -> Optional[torch.Tensor]:
    """PReLU with one slope or one per channel: a tensor like the input."""
    if len(args) != 2 or kwargs:
        return None
    x, weight = args
    if not (_floating_meta(x) and _floating_meta(weight) and weight.dtype == x.dtype and weight.dim() == 1):
        return None
    if weight.numel() != 1 and (x.dim() < 2 or weight.numel() != x.shape[1]):
        return None
    return torch.empty_like(x)


_F = torch.nn.functional
_SAME_SHAPE = {
    **{f: _activation(1) for f in (_F.relu, _F.relu6, _F.hardswish, _F.hardsigmoid, _F.silu, _F.mish)},
    _F.hardtanh: _activation(3),
    _F.leaky_relu: _activation(2),
    _F.elu: _activation(2),
    **{f: _activation(None) for f in (torch.relu, torch.sigmoid, torch.tanh)},
    _F.batch_norm: _batch_norm,
    torch.prelu: _prelu,
}
"""Functions that keep their input's shape → their stand-in in [`stages`][refimpl.diagram.stages]'s pass (``None``: ask PyTorch)."""


def skip_connections(found: Sequence[Stage]) -> list[tuple[int, int]]:
    """Skip connections ``(from, to)``: every stage a stage reads other than the one just before it.

    Args:
        found: stages as [`stages`][refimpl.diagram.stages] returns them.
    """
    found = _check_stages(found)
    return [(k, j) for j, s in enumerate(found) for k in s.inputs if k != j - 1]


# --------------------------------------------------------------------------- labels


def side_label(spatial: Sequence[int]) -> str:
    """``"112²"`` for 112 × 112, ``"64³"``, ``"132²×116"`` for 132 × 132 × 116, ``"1"`` for no spatial axis.

    Args:
        spatial: the spatial sizes, e.g. ``(112, 112)``.
    """
    spatial = tuple(spatial)
    if not spatial:
        return "1"
    if len(set(spatial)) == 1 and len(spatial) in (2, 3):
        return f"{spatial[0]}{'²' if len(spatial) == 2 else '³'}"
    if len(spatial) == 3 and spatial[0] == spatial[1]:
        return f"{spatial[0]}²×{spatial[2]}"
    return "×".join(map(str, spatial))


def _millions(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e5 else f"{n:,}"


def describe_stages(found: Sequence[Stage], title: str, skip_pairs: Optional[Sequence[tuple[int, int]]] = None) -> str:
    """A one-paragraph text alternative of the figure: stages, sizes, widths, skip connections, parameters.

    Args:
        found: stages as [`stages`][refimpl.diagram.stages] returns them.
        title: the model's name as the figure shows it, e.g. ``"MobileNetV1 at 224²"``.
        skip_pairs: the skip connections drawn; ``None`` takes [`skip_connections`][refimpl.diagram.skip_connections].
    """
    found = _check_stages(found)
    pairs = skip_connections(found) if skip_pairs is None else _check_skips(found, skip_pairs)
    body = found[1:]
    sides = [max(s.spatial) if s.spatial else 1 for s in found]
    maps = [side for side in sides if side > 1] or [1]  # global pooling aside
    low = sides.index(min(maps))
    path = f"side {sides[0]} down to {sides[low]}"
    if sides[-1] > sides[low]:
        path += f" and back up to {sides[-1]}"
    elif sides[-1] == 1 < sides[low]:
        path += ", then pooled to 1"
    inner = [s.channels for s in found if s.kind != "output"]
    text = (f"{title}: {len(body)} stages from {found[0].label} to {found[-1].label}; {path}; "
            f"up to {max(inner)} channels")
    if pairs:
        text += (f"; {len(pairs)} skip connection{'s' if len(pairs) != 1 else ''} carry the output of "
                 + ", ".join(f"{found[a].name} to {found[b].name}" for a, b in pairs))
    params = sum({s.name: s.params for s in body}.values())
    return text + f"; {_millions(params)} parameters."


# --------------------------------------------------------------------------- drawing

_WIDE = set("mwMW×%@")
_NARROW = set("ilj.,:;|!'()[]1 ²³")


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    """Estimated width of ``text`` in DejaVu Sans at ``size`` (generous, to lay out without measuring)."""
    return size * sum(0.9 if c in _WIDE else 0.42 if c in _NARROW else 0.64 for c in text)


@dataclass(frozen=True)
class _Box:
    first: int
    last: int
    stage: Stage

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def _boxes(found: Sequence[Stage], pairs: Sequence[tuple[int, int]], group: bool) -> list[_Box]:
    """Runs of consecutive stages of one container, type, kind and shape become one box "×n"."""
    ends = {i for pair in pairs for i in pair}
    boxes: list[_Box] = []
    for i, s in enumerate(found):
        if group and boxes and i not in ends and boxes[-1].last not in ends:
            prev = boxes[-1].stage
            same_parent = prev.name.rpartition(".")[0] == s.name.rpartition(".")[0] and "." in s.name
            if same_parent and (prev.type, prev.kind, prev.shape) == (s.type, s.kind, s.shape):
                boxes[-1] = _Box(boxes[-1].first, i, prev)
                continue
        boxes.append(_Box(i, i, s))
    return boxes


def _levels(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Height rank of each skip bracket: shortest first, each one above every shorter bracket it overlaps."""
    order = sorted(range(len(pairs)), key=lambda i: pairs[i][1] - pairs[i][0])
    level = [0] * len(pairs)
    for n, i in enumerate(order):
        a, b = pairs[i]
        level[i] = max((level[j] + 1 for j in order[:n] if pairs[j][0] <= b and a <= pairs[j][1]), default=0)
    return level


def architecture_svg(
    found: Sequence[Stage],
    skips: Optional[Sequence[tuple[int, int]]] = None,
    title: str = "",
    group: bool = True,
) -> str:
    r"""A standalone SVG of ``found``: one box per stage, left to right, with its output size below.

    Box height grows with the log of the stage's largest side, box width with the log of its
    channels; the label under a box is "side² × channels". Consecutive stages of one container with
    the same type and output (MobileNetV2's repeated bottlenecks, ResNet's blocks) share a stacked box
    marked "×n" above it. Skip connections are brackets above the boxes, from the stage whose output is carried to
    the stage that reads it. Colours (explained in the legend) say what kind of stage a box is. The
    viewBox is at most [`WIDTH`][refimpl.diagram.WIDTH] wide (narrower for few stages) and every
    text is [`FONT_SIZE`][refimpl.diagram.FONT_SIZE] units, so 9.75 pt at the figure's width; the
    figure scales down to a phone's width with the page (``max-width: 100%``).

    Args:
        found: stages as [`stages`][refimpl.diagram.stages] returns them (the input first).
        skips: ``(from, to)`` stage indices to draw as skip connections; ``None`` takes
            [`skip_connections`][refimpl.diagram.skip_connections] of ``found``, ``()`` draws none.
        title: a line above the figure, e.g. ``"U-Net at 572²"``; ``""`` for none.
        group: share one box among consecutive equal stages (``False``: a box per stage).
    """
    found = _check_stages(found)
    pairs = skip_connections(found) if skips is None else _check_skips(found, skips)
    if not isinstance(title, str):
        raise _checks.ArgumentTypeError(f"title must be a string such as 'U-Net at 572²'; got {_checks.describe(title)}")
    group = _checks.flag("group", group)
    boxes = _boxes(found, pairs, group)
    where = {i: n for n, b in enumerate(boxes) for i in range(b.first, b.last + 1)}
    margin, line = 14, FONT_SIZE + 4
    labels = [_box_lines(b) for b in boxes]
    widest = max(_text_width(t) for lines in labels for t in lines)
    W = round(min(WIDTH, max(MIN_WIDTH, 2 * margin + len(boxes) * max(SLOT, widest + 10))))
    slot = (W - 2 * margin) / len(boxes)
    stagger = widest > slot - 4
    h_min, h_max = 12.0, 112.0
    w_min, w_max = 6.0, max(8.0, min(38.0, slot * 0.62))
    sides = [max(b.stage.spatial) if b.stage.spatial else 1 for b in boxes]
    widths = [b.stage.channels for b in boxes]
    lo, hi = math.log(min(sides)), math.log(max(sides))
    c_hi = math.log(max(widths)) or 1.0

    def height(side: int) -> float:
        return h_max if hi == lo else h_min + (h_max - h_min) * (math.log(side) - lo) / (hi - lo)

    def width(channels: int) -> float:
        return w_min + (w_max - w_min) * math.log(channels) / c_hi

    y = 10.0
    parts: list[str] = []
    if title:
        y += FONT_SIZE + 4
        parts.append(_text(margin, y, title, weight="bold", size=FONT_SIZE + 2, anchor="start"))
        y += 6
    levels = _levels([(where[a], where[b]) for a, b in pairs])
    arc_room = (14 + 12 * max(levels)) if pairs else 0
    top = y + arc_room + 10
    mid = top + h_max / 2
    xs = [margin + slot * (n + 0.5) for n in range(len(boxes))]
    geometry = [(xs[n], width(widths[n]), height(sides[n])) for n in range(len(boxes))]

    # arrows between consecutive boxes
    for n in range(len(boxes) - 1):
        (x0, w0, _), (x1, w1, _) = geometry[n], geometry[n + 1]
        a, b = x0 + w0 / 2 + 2, x1 - w1 / 2 - 2
        if b - a >= 6:
            parts.append(f'<line x1="{a:.1f}" y1="{mid:.1f}" x2="{b:.1f}" y2="{mid:.1f}" stroke="#555" '
                         f'stroke-width="1.2" marker-end="url(#arrow)"/>')
    # boxes
    for n, box in enumerate(boxes):
        x, w, h = geometry[n]
        _, fill, stroke = KINDS[box.stage.kind]
        tip = _tooltip(found, box)
        if box.count > 1:
            for k in (2, 1):
                parts.append(f'<rect x="{x - w / 2 + 2.5 * k:.1f}" y="{mid - h / 2 - 2.5 * k:.1f}" width="{w:.1f}" '
                             f'height="{h:.1f}" fill="{fill}" stroke="{stroke}" stroke-width="0.8"/>')
        parts.append(f'<rect x="{x - w / 2:.1f}" y="{mid - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="1.2"><title>{escape(tip)}</title></rect>')
        if box.count > 1:
            parts.append(_text(x + 2.5, mid - h / 2 - 12, f"×{box.count}", weight="bold"))
    # labels, staggered on two rows when they would touch
    label_top = mid + h_max / 2 + 8
    rows = 1
    for n, lines in enumerate(labels):
        x, _, h = geometry[n]
        dy = 0.0
        if stagger and n % 2:
            dy = line * 3 + 2
            rows = 2
        if dy:
            parts.append(f'<line x1="{x:.1f}" y1="{mid + h / 2 + 2:.1f}" x2="{x:.1f}" y2="{label_top + dy - 2:.1f}" '
                         f'stroke="#b5b5b5" stroke-width="0.8"/>')
        for k, text in enumerate(lines):
            half = _text_width(text) / 2
            parts.append(_text(min(max(x, 4 + half), W - 4 - half), label_top + dy + line * (k + 1) - 4, text))
    y = label_top + rows * (line * 3 + 2) + 6
    # skip brackets
    for (a, b), level in zip(pairs, levels):
        (xa, _, ha), (xb, _, hb) = geometry[where[a]], geometry[where[b]]
        yl = top - 10 - 12 * level
        r = 5
        parts.append(
            f'<path d="M{xa:.1f},{mid - ha / 2 - 1:.1f} V{yl + r:.1f} Q{xa:.1f},{yl:.1f} {xa + r:.1f},{yl:.1f} '
            f'H{xb - r:.1f} Q{xb:.1f},{yl:.1f} {xb:.1f},{yl + r:.1f} V{mid - hb / 2 - 3:.1f}" fill="none" '
            f'stroke="{SKIP_COLOUR}" stroke-width="1.4" marker-end="url(#skip)">'
            f'<title>{escape(f"skip connection: {found[a].name} → {found[b].name}")}</title></path>')
    # legend
    kinds = [k for k in KINDS if any(b.stage.kind == k for b in boxes)]
    entries = [(KINDS[k][0], KINDS[k][1], KINDS[k][2], False) for k in kinds]
    if pairs:
        entries.append(("skip connection", "none", SKIP_COLOUR, True))
    x = float(margin)
    y += 4
    for text, fill, stroke, is_line in entries:
        room = 18 + _text_width(text) + 16
        if x + room > W - margin:
            x, y = float(margin), y + line + 4
        if is_line:
            parts.append(f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 13:.1f}" y2="{y - 4:.1f}" stroke="{stroke}" stroke-width="2"/>')
        else:
            parts.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{fill}" stroke="{stroke}"/>')
        parts.append(_text(x + 18, y, text, anchor="start"))
        x += room
    y += line + 2
    repeats = " ×n: n equal blocks in a row;" if any(b.count > 1 for b in boxes) else ""
    note = [f"Label: output size, then × channels;{repeats}", "box height ∝ log side, width ∝ log channels."]
    if _text_width(" ".join(note)) > W - 2 * margin:
        parts.append(_text(margin, y, note[0], anchor="start", colour="#555"))
        y += line
        note = note[1:]
    parts.append(_text(margin, y, " ".join(note), anchor="start", colour="#555"))
    height_total = y + 10
    alt = describe_stages(found, title or "The model", pairs)
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W:.0f} {height_total:.0f}" width="{W:.0f}" '
        f'height="{height_total:.0f}" role="img" aria-labelledby="kb-arch-title kb-arch-desc" '
        f'style="max-width:100%;height:auto" font-family={quoteattr(FONT)}>',
        f'<title id="kb-arch-title">{escape(title or "Architecture")}</title>',
        f'<desc id="kb-arch-desc">{escape(alt)}</desc>',
        '<defs>',
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>',
        f'<marker id="skip" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{SKIP_COLOUR}"/></marker>',
        '</defs>',
        f'<rect x="0" y="0" width="{W:.0f}" height="{height_total:.0f}" rx="6" fill="#ffffff"/>',
        *parts,
        '</svg>',
    ])


def _box_lines(box: _Box) -> list[str]:
    return [side_label(box.stage.spatial), f"× {box.stage.channels}"]


def _tooltip(found: Sequence[Stage], box: _Box) -> str:
    first, last = found[box.first], found[box.last]
    name = first.name if box.count == 1 else f"{first.name} … {last.name}"
    params = sum(found[i].params for i in range(box.first, box.last + 1))
    count = f" × {box.count}" if box.count > 1 else ""
    return f"{name}: {first.type}{count}, output {first.label}, {params:,} parameters"


def _text(x: float, y: float, text: str, *, anchor: str = "middle", weight: str = "normal",
          size: int = FONT_SIZE, colour: str = TEXT_COLOUR) -> str:
    bold = ' font-weight="bold"' if weight == "bold" else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{colour}"{bold}>'
            f'{escape(text)}</text>')


def _check_stages(found: object) -> list[Stage]:
    if not isinstance(found, (list, tuple)) or not found or not all(isinstance(s, Stage) for s in found):
        raise ValueError(f"stages must be a non-empty list of Stage, as refimpl.diagram.stages(model, input_shape) returns; "
                         f"got {_checks.describe(found)}")
    return list(found)


def _check_skips(found: Sequence[Stage], pairs: object) -> list[tuple[int, int]]:
    rule = f"(from, to) stage indices with 0 <= from < to < {len(found)}"
    if not isinstance(pairs, (list, tuple)):
        raise ValueError(f"skips must be a list of {rule}; got {_checks.describe(pairs)}")
    checked = []
    for pair in pairs:
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(_checks.is_int(v) for v in pair)
                or not 0 <= pair[0] < pair[1] < len(found)):
            raise ValueError(f"skips must be {rule}; got {_checks.describe(pair)}")
        checked.append((int(pair[0]), int(pair[1])))
    return checked


# --------------------------------------------------------------------------- notebooks


def architecture_output(
    model: nn.Module,
    input_shape: Sequence[int],
    caption: str,
    alt: Optional[str] = None,
    *,
    name: Optional[str] = None,
    title: Optional[str] = None,
    modules: Optional[Iterable[StageSpec]] = None,
    skips: Optional[Sequence[tuple[int, int]]] = None,
    group: bool = True,
) -> tuple[dict, dict]:
    """The display bundle of [`show_architecture`][refimpl.diagram.show_architecture]: ``(data, metadata)``.

    ``data`` holds the SVG (``image/svg+xml``) and the text alternative (``text/plain``);
    ``metadata`` is ``{"kb": {"role": "architecture", "caption": caption, "alt": alt}}``.

    Args:
        model: the model to draw (copied to ``meta``).
        input_shape: ``(N, C, *spatial)``, e.g. ``(1, 3, 224, 224)``.
        caption: what the reader should look at, one or two sentences.
        alt: the text alternative; ``None`` writes one from the stages
            ([`describe_stages`][refimpl.diagram.describe_stages]).
        name: the model's name in the title and the text alternative; ``None`` takes its ``name``
            attribute when it has one (U-Net's ``"3D U-Net"``), else its class name.
        title: the line above the figure; ``None`` gives ``"{name} at {input size}"``.
        modules: which sub-modules are stages (see [`stages`][refimpl.diagram.stages]).
        skips: the skip connections to draw (see [`architecture_svg`][refimpl.diagram.architecture_svg]).
        group: share a box among consecutive equal stages.
    """
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f"caption must be a non-empty string saying what the figure shows; got {_checks.describe(caption)}")
    if alt is not None and (not isinstance(alt, str) or not alt.strip()):
        raise ValueError(f"alt must be a non-empty string or None (written from the stages); got {_checks.describe(alt)}")
    found = stages(model, input_shape, modules)
    if name is None:
        name = model.name if isinstance(getattr(model, "name", None), str) else type(model).__name__
    elif not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string such as 'MobileNetV3-Large'; got {_checks.describe(name)}")
    title = f"{name} at {side_label(found[0].spatial)}" if title is None else title
    pairs = skip_connections(found) if skips is None else _check_skips(found, skips)
    svg = architecture_svg(found, pairs, title, group)
    alt = describe_stages(found, title or name, pairs) if alt is None else alt.strip()
    return ({"image/svg+xml": svg, "text/plain": alt},
            {"kb": {"role": "architecture", "caption": caption.strip(), "alt": alt}})


def show_architecture(
    model: nn.Module,
    input_shape: Sequence[int],
    caption: str,
    alt: Optional[str] = None,
    **options: Any,
) -> None:
    """Display the architecture figure of ``model`` in a notebook; outside a kernel, print one line.

    In a Jupyter kernel the figure is a ``display_data`` output with the metadata
    ``{"kb": {"role": "architecture", "caption": ..., "alt": ...}}``, which the site's page
    generator reads to put the figure, its caption and its text alternative on the paper's note.
    Run as a script (``python notebooks/KEY.py``), it prints ``architecture: <alt text>``.

    Args:
        model: the model to draw (copied to ``meta``).
        input_shape: ``(N, C, *spatial)``, e.g. ``(1, 3, 224, 224)``.
        caption: what the reader should look at.
        alt: the text alternative; ``None`` writes one from the stages.
        **options: ``name``, ``title``, ``modules``, ``skips``, ``group`` of
            [`architecture_output`][refimpl.diagram.architecture_output].
    """
    data, metadata = architecture_output(model, input_shape, caption, alt, **options)
    if _in_kernel():
        from IPython.display import display

        display(data, raw=True, metadata=metadata)
    else:
        print(f"architecture: {data['text/plain']}")


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
