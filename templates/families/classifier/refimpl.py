r"""{% if short != title %}{{ short | docstring }} — {% endif %}{{ authors_cited | docstring }}, *{{ title | docstring }}*, {{ venue }} {{ year }}{% if arxiv %}, arXiv:{{ arxiv }}{{ version or "" }}{% endif %}.

An image classifier in three parts: a stem ([`STEM`][refimpl.{{ module }}.STEM]), the stages of
[`STAGES`][refimpl.{{ module }}.STAGES] (a data literal that follows the paper's architecture table
row for row, each stage [`block`][refimpl.{{ module }}.block]s stacked), and a head: global average
pooling and a fully connected classifier. [`VARIANTS`][refimpl.{{ module }}.VARIANTS] are the
networks the paper compares.

Written by `kb new --like {{ like }}` (the classifier family). Each value marked ``TODO(kb new)`` is
a placeholder: replace it with the paper's (cite the table and the arXiv version above it), replace
[`block`][refimpl.{{ module }}.block] with the paper's building block, and mark every departure
from the paper with ``# DEVIATION from ...``. ``kb lint`` lists the ``TODO(kb new)`` left.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from refimpl.layers import ConvNormActivation, check_input


class Stem(NamedTuple):
    """The first layer: a ``k`` × ``k`` convolution to ``c`` channels with stride ``s``."""

    k: int
    c: int
    s: int


class Stage(NamedTuple):
    """One row of the architecture table: ``n`` blocks with ``c`` output channels, the first with stride ``s``."""

    c: int
    n: int
    s: int


class Variant(NamedTuple):
    """One network the paper compares: keyword arguments of [`Net`][refimpl.{{ module }}.Net] and the input it is measured on."""

    options: dict[str, Any]
    input_shape: tuple[int, ...]


# TODO(kb new): the paper's first layer (e.g. "conv 3 × 3, 32, stride 2" of Table N, arXiv:XXXX.XXXXXvN).
STEM = Stem(k=3, c=32, s=2)
"""The stem, ``Stem(k, c, s)``."""

# TODO(kb new): the paper's architecture table (Table N, arXiv:XXXX.XXXXXvN), row for row, top to bottom.
#         c    n  s        input
STAGES: tuple[Stage, ...] = (
    Stage(64,  1, 1),   # 112² × 32
    Stage(128, 2, 2),   # 112² × 64
    Stage(256, 2, 2),   # 56² × 128
    Stage(512, 2, 2),   # 28² × 256
)
"""The stages, ``Stage(c, n, s)`` per row of the table."""

IN_CHANNELS = 3
"""Input channels (RGB)."""

NUM_CLASSES = 1000  # TODO(kb new): the classifier's outputs as the paper gives them (1000 for ImageNet)
"""Outputs $K$ of the classifier."""

# TODO(kb new): the variants the paper compares (width multipliers, depths, resolutions), each with its input.
VARIANTS: dict[str, Variant] = {
    "1.0": Variant(dict(width_multiplier=1.0), (1, IN_CHANNELS, 224, 224)),
    "0.5": Variant(dict(width_multiplier=0.5), (1, IN_CHANNELS, 224, 224)),
}
"""The networks the notebook measures: name → ``Variant(options, input_shape)``."""


def scaled(channels: int, width_multiplier: float) -> int:
    r"""$\alpha c$ rounded to the nearest integer, at least 1."""
    return max(1, round(channels * width_multiplier))


def block(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    r"""One building block of a stage.

    TODO(kb new): the paper's block. The scaffold's is one $3 \times 3$ convolution → batch norm →
    ReLU ([`ConvNormActivation`][refimpl.layers.ConvNormActivation]); `refimpl.layers` has the shared
    ones (depthwise separable, inverted residual, squeeze-and-excitation) and `refimpl.residual` the
    residual blocks.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: stride of the block (the first block of a stage has the row's $s$, the others 1).
    """
    return ConvNormActivation(in_channels, out_channels, 3, stride=stride)


class Net(nn.Module):
    r"""Stem → the stages of [`STAGES`][refimpl.{{ module }}.STAGES] → global average pool → fully connected.

    Sub-modules: ``stem``, ``stages`` (one ``nn.Sequential`` of blocks per row), ``pool``, ``classifier``.
    The input resolution is free: the pool is adaptive.

    Args:
        width_multiplier: $\alpha$, scales every width (stem and stages).
        num_classes: $K$, outputs of the classifier.
        in_channels: input image channels.
        stem: the first layer, ``Stem(k, c, s)``.
        stages: the rows, ``Stage(c, n, s)`` each.
    """

    def __init__(
        self,
        width_multiplier: float = 1.0,
        num_classes: int = NUM_CLASSES,
        in_channels: int = IN_CHANNELS,
        stem: Stem = STEM,
        stages: tuple[Stage, ...] = STAGES,
    ) -> None:
        super().__init__()
        if isinstance(width_multiplier, bool) or not isinstance(width_multiplier, (int, float)) or not 0 < width_multiplier <= 4:
            raise ValueError(f"width_multiplier must be a number in (0, 4], e.g. 1.0 or 0.5; got {width_multiplier!r}")
        _check_positive("num_classes", num_classes)
        _check_positive("in_channels", in_channels)
        if not stages:
            raise ValueError("stages must hold at least one row Stage(c, n, s); got none")
        for row in (stem, *stages):
            for name, value in zip(row._fields, row):
                _check_positive(f"{type(row).__name__} {name}", value)
        self.in_channels = in_channels
        c_prev = scaled(stem.c, width_multiplier)
        self.stem = ConvNormActivation(in_channels, c_prev, stem.k, stride=stem.s)
        layers = []
        for c, n, s in stages:
            c = scaled(c, width_multiplier)
            blocks = []
            for i in range(n):
                blocks.append(block(c_prev, c, s if i == 0 else 1))  # the first block of a row has its stride s
                c_prev = c
            layers.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, 2, "Net")
        x = self.stem(x)  # (N, αc_stem, H/s, W/s)
        x = self.stages(x)  # (N, αc_L, H/∏s, W/∏s)
        x = self.pool(x).flatten(1)  # (N, αc_L)
        return self.classifier(x)  # (N, K)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer (1, 2, 3, …); got {value!r}")
