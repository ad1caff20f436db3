r"""MobileNetV2 — Sandler et al., *MobileNetV2: Inverted Residuals and Linear Bottlenecks*, CVPR 2018,
arXiv:1801.04381v4 (2019).

The network is a $3 \times 3$ convolution with 32 filters, the bottleneck sequences of
[`BOTTLENECKS`][refimpl.mobilenet_v2.BOTTLENECKS] (a data literal that follows Table 2 row for row),
a $1 \times 1$ convolution to 1280 channels, a global average pool and a $1 \times 1$ convolution to
the $k$ classes. Every bottleneck is the shared
[`InvertedResidual`][refimpl.layers.InvertedResidual] of Table 1: $1 \times 1$ expansion by $t$
(ReLU6) → $3 \times 3$ depthwise, stride $s$ (ReLU6) → linear $1 \times 1$ projection, with the input
added back when the stride is 1 and the widths match.

Channel widths under a width multiplier $\alpha$ are rounded with
[`make_divisible`][refimpl.layers.make_divisible] (to a multiple of 8), as the TensorFlow
reference implementation does; the paper itself only says the multiplier scales the layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor, nn

from refimpl import _checks
from refimpl.analysis import to_meta
from refimpl.layers import (
    ConvNormActivation,
    InvertedResidual,
    check_input,
    check_width_multiplier,
    make_divisible,
)


class Bottleneck(NamedTuple):
    """One "bottleneck" row of Table 2: expansion $t$, output channels $c$, repeats $n$, stride $s$ of the first."""

    t: int
    """Expansion factor: the hidden width is $t$ times the block's input."""
    c: int
    """Output channels, before the width multiplier."""
    n: int
    """How many times the layer is repeated."""
    s: int
    """Stride of the first of the $n$ layers; the others have stride 1."""


STEM_CHANNELS = 32
"""Table 2, first row: "conv2d, –, 32, 1, 2" on the 224² × 3 input (3 × 3 kernel, stride 2)."""

# MobileNetV2, arXiv:1801.04381v4, Table 2 — the seven bottleneck rows, top to bottom.
#            t    c  n  s        input
BOTTLENECKS: tuple[Bottleneck, ...] = (
    Bottleneck(1,  16, 1, 1),   # 112² × 32
    Bottleneck(6,  24, 2, 2),   # 112² × 16
    Bottleneck(6,  32, 3, 2),   # 56² × 24
    Bottleneck(6,  64, 4, 2),   # 28² × 32
    Bottleneck(6,  96, 3, 1),   # 14² × 64
    Bottleneck(6, 160, 3, 2),   # 14² × 96
    Bottleneck(6, 320, 1, 1),   # 7² × 160
)
"""Table 2's bottleneck rows, ``Bottleneck(t, c, n, s)`` each (the input column is in the source comments)."""

LAST_CHANNELS = 1280
"""Table 2: "conv2d 1x1, –, 1280, 1, 1" on 7² × 320. Not thinned for $\\alpha < 1$ (Sec. 4)."""

KERNEL_SIZE = 3
"""Table 2 caption: "All spatial convolutions use 3 × 3 kernels"."""

CHANNEL_DIVISOR = 8
"""TF reference implementation (``mobilenet_v2.py``, ``divisible_by=8``): every width is a multiple of 8."""

DROPOUT = 0.2
"""TF reference implementation: ``dropout_keep_prob=0.8`` before the logits; Sec. 4 says only "utilize dropout"."""


class BlockSpec(NamedTuple):
    """One bottleneck layer as built: input $k$, hidden $tk$, output $k'$ channels, stride $s$, residual or not."""

    in_channels: int
    """$k$."""
    hidden_channels: int
    """$tk$, rounded like every width."""
    out_channels: int
    """$k'$."""
    stride: int
    """$s$ for the first layer of a row, 1 for the others."""
    residual: bool
    """Whether the block adds its input: stride 1 and $k = k'$."""


def width(channels: int, width_multiplier: float, divisor: int = CHANNEL_DIVISOR) -> int:
    r"""$\alpha c$ rounded to a multiple of ``divisor`` by [`make_divisible`][refimpl.layers.make_divisible].

    8 is the TF reference implementation's rounding; ``divisor=1`` rounds $\alpha c$ to the nearest integer.

    Args:
        channels: $c$, the width at $\alpha = 1$.
        width_multiplier: $\alpha$.
        divisor: the multiple to round to.
    """
    channels = _checks.positive("channels", channels)
    return make_divisible(channels * check_width_multiplier(width_multiplier), _check_divisor(divisor))


def _check_divisor(divisor: int) -> int:
    return _checks.positive("divisor", divisor, "8 in the TF reference, 1 for plain rounding")


def last_width(width_multiplier: float, divisor: int = CHANNEL_DIVISOR) -> int:
    r"""Width of the last $1 \times 1$ convolution: 1280, scaled only when $\alpha > 1$.

    Sec. 4: "for multipliers less than one, we apply width multiplier to all layers except the very
    last convolutional layer." For $\alpha > 1$ it is scaled like every other layer (TF reference:
    ``_make_divisible(1280 * max(1.0, depth_multiplier))``), so 1.4 gives 1792.

    Args:
        width_multiplier: $\alpha$.
        divisor: the multiple to round to.
    """
    return width(LAST_CHANNELS, max(1.0, check_width_multiplier(width_multiplier)), divisor)


def block_specs(
    width_multiplier: float = 1.0, rows: Sequence[Bottleneck] = BOTTLENECKS, divisor: int = CHANNEL_DIVISOR
) -> list[BlockSpec]:
    r"""The bottleneck layers Table 2 describes, one [`BlockSpec`][refimpl.mobilenet_v2.BlockSpec] each.

    "The first layer of each sequence has a stride $s$ and all others use stride 1"; "the expansion
    factor $t$ is always applied to the input size" (Table 2 caption), so the hidden width is
    $t k$ of the layer's own input $k$. With $t = 1$ the hidden width equals the input and
    [`InvertedResidual`][refimpl.layers.InvertedResidual] builds no expansion convolution.

    Args:
        width_multiplier: $\alpha$.
        rows: ``Bottleneck(t, c, n, s)`` rows, Table 2's by default.
        divisor: the multiple every width is rounded to.
    """
    alpha = check_width_multiplier(width_multiplier)
    divisor = _check_divisor(divisor)
    rows = _checks.rows("rows", rows, Bottleneck._fields, "Bottleneck(t, c, n, s) rows such as BOTTLENECKS")
    for i, row in enumerate(rows):
        _checks.choice(f"rows[{i}].s", row[3], (1, 2), "the stride of an inverted residual")
    k = width(STEM_CHANNELS, alpha, divisor)
    specs: list[BlockSpec] = []
    for t, c, n, s in rows:
        k_out = width(c, alpha, divisor)
        for i in range(n):
            stride = s if i == 0 else 1  # "the first layer of each sequence has a stride s"
            hidden = make_divisible(k * t, divisor, min_value=1)  # TF reference: expand_input_by_factor(t)
            specs.append(BlockSpec(k, hidden, k_out, stride, stride == 1 and k == k_out))
            k = k_out
    return specs


class MobileNetV2(nn.Module):
    r"""MobileNetV2 of Table 2 with width multiplier $\alpha$ (Sec. 4, "Trade-off hyper parameters").

    Args:
        width_multiplier: $\alpha \in (0, 4]$; the paper uses 0.35, 0.5, 0.75, 1.0 and 1.4.
        num_classes: $k$, the outputs of the last $1 \times 1$ convolution (1000 for ImageNet).
        in_channels: input image channels (3 for RGB).
        channel_divisor: every width is a multiple of this (8, the TF reference's rounding;
            1 rounds $\alpha c$ to the nearest integer).
        last_channels: width of the last $1 \times 1$ convolution; ``None`` gives
            [`last_width`][refimpl.mobilenet_v2.last_width] (1280, scaled only for $\alpha > 1$).

    Sub-modules: ``stem`` (conv2d 3×3, 32), ``bottlenecks`` (17 inverted residual blocks),
    ``last`` (conv2d 1×1, 1280), ``pool``, ``dropout``, ``classifier`` (conv2d 1×1, $k$).
    The input resolution is free (the paper uses 96 to 224); the pool is adaptive.
    """

    def __init__(
        self,
        width_multiplier: float = 1.0,
        num_classes: int = 1000,
        in_channels: int = 3,
        channel_divisor: int = CHANNEL_DIVISOR,
        last_channels: Optional[int] = None,
    ) -> None:
        super().__init__()
        alpha = check_width_multiplier(width_multiplier)
        num_classes = _checks.positive("num_classes", num_classes, "e.g. 1000")
        in_channels = _checks.positive("in_channels", in_channels, "e.g. 3 for RGB")
        last_channels = _checks.optional_positive("last_channels", last_channels, "e.g. 1280")
        self.in_channels = in_channels
        self.width_multiplier = alpha
        self.specs = block_specs(alpha, divisor=channel_divisor)
        stem = width(STEM_CHANNELS, alpha, channel_divisor)
        self.stem = ConvNormActivation(in_channels, stem, KERNEL_SIZE, stride=2, activation=nn.ReLU6)
        self.bottlenecks = nn.Sequential(
            *(InvertedResidual(b.in_channels, b.hidden_channels, b.out_channels, stride=b.stride,
                               kernel_size=KERNEL_SIZE, activation=nn.ReLU6)
              for b in self.specs)
        )
        last = last_width(alpha, channel_divisor) if last_channels is None else last_channels
        self.last = ConvNormActivation(self.specs[-1].out_channels, last, 1, activation=nn.ReLU6)
        self.pool = nn.AdaptiveAvgPool2d(1)  # "avgpool 7x7" at 224²; adaptive for the other resolutions
        self.dropout = nn.Dropout(DROPOUT)
        self.classifier = nn.Conv2d(last, num_classes, 1)  # "conv2d 1x1, k"; a bias, as in the TF reference

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, 2, "MobileNetV2", self.classifier.weight.dtype)
        x = self.stem(x)  # (N, 32α, H/2, W/2)
        x = self.bottlenecks(x)  # (N, 320α, H/32, W/32)
        x = self.last(x)  # (N, 1280, H/32, W/32)
        x = self.dropout(self.pool(x))  # (N, 1280, 1, 1)
        return self.classifier(x).flatten(1)  # (N, num_classes)


# --------------------------------------------------------------------------- memory (Sec. 5.1, Table 3)


@dataclass(frozen=True)
class Operation:
    """One operation of the compute graph of Sec. 5.1 with the tensors it reads and writes (shapes with batch)."""

    name: str
    """The module's qualified name in the model, e.g. ``"bottlenecks.0"``."""
    input_shape: tuple[int, ...]
    """Shape of the tensor it reads."""
    output_shape: tuple[int, ...]
    """Shape of the tensor it writes."""

    @property
    def input_elements(self) -> int:
        """Values in the tensor it reads."""
        return _numel(self.input_shape)

    @property
    def output_elements(self) -> int:
        """Values in the tensor it writes."""
        return _numel(self.output_shape)


def operations(model: nn.Module, input_shape: Sequence[int]) -> list[Operation]:
    r"""The operations of Sec. 5.1 in the order they run, with each bottleneck block one operation.

    "If we treat a bottleneck residual block as a single operation (and treat inner convolution as
    a disposable tensor), the total amount of memory would be dominated by the size of bottleneck
    tensors." So an [`InvertedResidual`][refimpl.layers.InvertedResidual] is one operation reading
    $s^2 k$ and writing $s'^2 k'$ values; every other convolution or linear layer (all of
    MobileNetV1's) is an operation of its own. Batch norm and activations are applied in place.
    Runs on the ``meta`` device.

    Args:
        model: a model such as [`MobileNetV2`][refimpl.mobilenet_v2.MobileNetV2] (it is copied to ``meta``).
        input_shape: ``(N, C, H, W)``, e.g. ``(1, 3, 224, 224)``.
    """
    if not isinstance(model, nn.Module):
        raise _checks.ArgumentTypeError(f"model must be a torch.nn.Module such as MobileNetV2(); got {_checks.describe(model)}")
    input_shape = _checks.sequence("input_shape", input_shape, "a shape (N, C, H, W) such as (1, 3, 224, 224)", 1)
    for i, n in enumerate(input_shape):
        _checks.positive(f"input_shape[{i}]", n)
    meta = to_meta(model)
    chosen: dict[str, nn.Module] = {}
    for name, module in meta.named_modules():
        if any(name.startswith(parent + ".") for parent in chosen):
            continue  # inside a block already taken as one operation
        if isinstance(module, (InvertedResidual, nn.Conv2d, nn.Linear)):
            chosen[name] = module
    found: list[Operation] = []

    def remember(name: str):
        def hook(_module: nn.Module, inputs, output) -> None:
            found.append(Operation(name, tuple(inputs[0].shape), tuple(output.shape)))

        return hook

    handles = [m.register_forward_hook(remember(name)) for name, m in chosen.items()]
    was_training = meta.training
    meta.eval()
    try:
        with torch.no_grad():
            meta(torch.empty(*input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
        meta.train(was_training)
    return found


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
