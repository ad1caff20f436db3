r"""{% if short != title %}{{ short | docstring }} — {% endif %}{{ authors_cited | docstring }}, *{{ title | docstring }}*, {{ venue }} {{ year }}{% if arxiv %}, arXiv:{{ arxiv }}{{ version or "" }}{% endif %}.

An encoder–decoder segmentation network for 2-D images or 3-D volumes: the encoder levels of
[`LEVELS`][refimpl.{{ module }}.LEVELS] (a data literal that follows the paper's figure or table
level by level), each [`level`][refimpl.{{ module }}.level]'s convolutions followed by a
$2 \times 2$ max pooling; a decoder that mirrors them, each level an up-convolution, a skip
connection that concatenates the encoder's feature map of the same level, and the level's
convolutions; then a $1 \times 1$ convolution to the classes. [`VARIANTS`][refimpl.{{ module }}.VARIANTS]
are the networks the paper compares.

Written by `kb new --like {{ like }}` (the segmentation family). Each value marked ``TODO(kb new)``
is a placeholder: replace it with the paper's (cite the figure or table and the arXiv version above
it), and mark every departure from the paper with ``# DEVIATION from ...``. ``kb lint`` lists the
``TODO(kb new)`` left.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from refimpl.layers import ConvNormActivation, check_input, conv_class, conv_transpose_class, max_pool_class


class Level(NamedTuple):
    """One level of the encoder: its convolutions have ``c`` output channels (the decoder's level mirrors it)."""

    c: int


class Variant(NamedTuple):
    """One network the paper compares: keyword arguments of [`Net`][refimpl.{{ module }}.Net] and the input it is measured on."""

    options: dict[str, Any]
    input_shape: tuple[int, ...]


# TODO(kb new): the paper's encoder levels (Fig. N, arXiv:XXXX.XXXXXvN), top to bottom; the last is the bottom of the "U".
#         c        input of the level (2-D variant)
LEVELS: tuple[Level, ...] = (
    Level(64),    # 128² × 1
    Level(128),   # 64² × 64
    Level(256),   # 32² × 128
    Level(512),   # 16² × 256
)
"""The encoder levels, ``Level(c)`` each, the bottom level last."""

CONVS_PER_LEVEL = 2  # TODO(kb new): the convolutions of one level, as the paper gives them
"""Convolutions of one level, in the encoder and in the decoder."""

KERNEL = 3  # TODO(kb new): the kernel of those convolutions (3 × 3, or 3 × 3 × 3 in 3-D)
"""Kernel size of the level convolutions."""

IN_CHANNELS = 1  # TODO(kb new): channels of the paper's input images
"""Input channels."""

NUM_CLASSES = 2  # TODO(kb new): channels of the output map (classes) as the paper gives them
"""Output channels $K$ (classes)."""

# TODO(kb new): the variants the paper compares (2-D/3-D, widths, input tiles), each with its input.
VARIANTS: dict[str, Variant] = {
    "2-D": Variant(dict(dims=2), (1, IN_CHANNELS, 128, 128)),
    "3-D": Variant(dict(dims=3), (1, IN_CHANNELS, 64, 64, 64)),
}
"""The networks the notebook measures: name → ``Variant(options, input_shape)``."""


def level(in_channels: int, out_channels: int, dims: int) -> nn.Sequential:
    r"""The convolutions of one level: [`CONVS_PER_LEVEL`][refimpl.{{ module }}.CONVS_PER_LEVEL] times conv → batch norm → ReLU.

    Each convolution is $k \times k$ ([`KERNEL`][refimpl.{{ module }}.KERNEL]) with "same" padding,
    so a level keeps the size of its input.

    Args:
        in_channels: channels entering the level (in the decoder: the up-convolution's plus the skip's).
        out_channels: $c$ of the level.
        dims: spatial dimensions (2 or 3).
    """
    # TODO(kb new): the paper's padding and normalisation (e.g. U-Net: unpadded, no batch norm).
    return nn.Sequential(*(
        ConvNormActivation(in_channels if i == 0 else out_channels, out_channels, KERNEL, dims=dims)
        for i in range(CONVS_PER_LEVEL)
    ))


class Net(nn.Module):
    r"""Encoder of [`LEVELS`][refimpl.{{ module }}.LEVELS] → decoder with skip connections → $1 \times 1$ convolution.

    Sub-modules: ``encoder`` (one [`level`][refimpl.{{ module }}.level] per row, the bottom one last),
    ``pool``, ``up`` (one $2 \times 2$ up-convolution per decoder level, halving the channels to
    the level's $c$), ``decoder`` (the levels above the bottom, from the bottom up), ``head``. An
    input of side $2^{L-1} m$ (for $L$ levels) gives an output map of the same size.

    Args:
        in_channels: channels of the input image.
        num_classes: $K$, channels of the output map.
        levels: the encoder levels, ``Level(c)`` each, the bottom one last (at least two).
        dims: spatial dimensions: 2 for images, 3 for volumes.
        width_multiplier: $\alpha$, scales every level's $c$.
    """

    def __init__(
        self,
        in_channels: int = IN_CHANNELS,
        num_classes: int = NUM_CLASSES,
        levels: tuple[Level, ...] = LEVELS,
        dims: int = 2,
        width_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        _check_positive("in_channels", in_channels)
        _check_positive("num_classes", num_classes)
        if dims not in (2, 3) or isinstance(dims, bool):
            raise ValueError(f"dims must be 2 (images) or 3 (volumes); got {dims!r}")
        if len(levels) < 2:
            raise ValueError(f"levels must hold at least two rows Level(c) (one pooling); got {len(levels)}")
        if isinstance(width_multiplier, bool) or not isinstance(width_multiplier, (int, float)) or not 0 < width_multiplier <= 4:
            raise ValueError(f"width_multiplier must be a number in (0, 4], e.g. 1.0 or 0.5; got {width_multiplier!r}")
        widths = []
        for row in levels:
            _check_positive("Level c", row.c)
            widths.append(max(1, round(row.c * width_multiplier)))
        self.in_channels, self.dims, self.depth = in_channels, dims, len(levels)
        self.encoder = nn.ModuleList()
        c_prev = in_channels
        for c in widths:
            self.encoder.append(level(c_prev, c, dims))
            c_prev = c
        self.pool = max_pool_class(dims)(2)
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for c in reversed(widths[:-1]):
            self.up.append(conv_transpose_class(dims)(c_prev, c, 2, stride=2))
            self.decoder.append(level(c + c, c, dims))  # up-convolution's c + the skip's c (concatenated)
            c_prev = c
        self.head = conv_class(dims)(c_prev, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, self.dims, "Net")
        step = 2 ** (self.depth - 1)
        bad = [s for s in x.shape[2:] if s % step]
        if bad:
            size = bad[0]
            raise ValueError(f"Net with {self.depth} levels needs every side a multiple of {step} "
                             f"(e.g. {max(step, size // step * step)} or {(size // step + 1) * step}); got {tuple(x.shape[2:])}")
        skips = []
        for i, encode in enumerate(self.encoder):
            x = encode(x)  # (N, c_i, S/2^i, …)
            if i < self.depth - 1:
                skips.append(x)
                x = self.pool(x)  # (N, c_i, S/2^(i+1), …)
        for up, decode in zip(self.up, self.decoder):
            x = up(x)  # (N, c_j, ×2, …)
            x = decode(torch.cat([skips.pop(), x], dim=1))  # skip connection: (N, 2 c_j, …) → (N, c_j, …)
        return self.head(x)  # (N, K, S, …)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer (1, 2, 3, …); got {value!r}")
