r"""MobileNetV1 — Howard et al., *MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications*, arXiv:1704.04861v1 (2017).

The body is [`BODY`][refimpl.mobilenet_v1.BODY], a data literal that follows Table 1 row for row.
Every convolution is followed by batch norm and ReLU (Fig. 3); the network ends with a global
average pool and a fully connected layer (the softmax is left to the loss, as usual in PyTorch).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from refimpl import _checks
from refimpl.layers import ConvNormActivation, DepthwiseSeparable, check_input, check_width_multiplier


class Separable(NamedTuple):
    """One "Conv dw / s + Conv / s1" pair of Table 1: depthwise stride ``s`` and pointwise output width ``c``."""

    s: int
    """Stride of the depthwise convolution: "Conv dw / s1" or "/ s2"."""
    c: int
    """Output channels of the pointwise convolution, before the width multiplier."""


STEM_CHANNELS = 32
"""Table 1, first row: "Conv / s2, 3 × 3 × 3 × 32"."""

# MobileNets, arXiv:1704.04861v1, Table 1 — the 13 depthwise separable rows, top to bottom.
#             s     c           input (of the depthwise layer)
BODY: tuple[Separable, ...] = (
    Separable(1,   64),     # 112² × 32
    Separable(2,  128),     # 112² × 64
    Separable(1,  128),     # 56² × 128
    Separable(2,  256),     # 56² × 128
    Separable(1,  256),     # 28² × 256
    Separable(2,  512),     # 28² × 256
    Separable(1,  512),     # 14² × 512   ┐
    Separable(1,  512),     # 14² × 512   │
    Separable(1,  512),     # 14² × 512   │ "5×" in Table 1
    Separable(1,  512),     # 14² × 512   │
    Separable(1,  512),     # 14² × 512   ┘
    Separable(2, 1024),     # 14² × 512
    # DEVIATION from Table 1, which prints "Conv dw / s2" here on a 7² × 1024 input and then a 7² × 1024
    # input again for the next row: stride 2 would give 4². Stride 1 is what the sizes (and the
    # TF reference implementation) say; see tensorflow/models#1997.
    Separable(1, 1024),     # 7² × 1024
)
"""Table 1's 13 depthwise separable rows, ``Separable(s, c)`` each (see the comments in the source)."""

TABLE1_PRINTED_STRIDES = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 2)
"""Strides as Table 1 prints them: the first convolution, then each depthwise layer."""

MIN_CHANNELS = 8
"""TF-slim reference implementation's ``min_depth``: no layer is thinned below 8 channels."""

RESOLUTIONS = (224, 192, 160, 128)
"""Input sizes of Table 7 (resolution multiplier ρ = 1, 6/7, 5/7, 4/7)."""


def thin(channels: int, width_multiplier: float) -> int:
    r"""Width multiplier of Sec. 3.3: $\alpha N$ channels, truncated like the TF reference (``int``), at least 8.

    Args:
        channels: $N$, the width at $\alpha = 1$.
        width_multiplier: $\alpha$.
    """
    channels = _checks.positive("channels", channels)
    return max(MIN_CHANNELS, int(channels * check_width_multiplier(width_multiplier)))


class MobileNetV1(nn.Module):
    r"""MobileNetV1 of Table 1 with width multiplier $\alpha$ (Sec. 3.3).

    Args:
        width_multiplier: $\alpha \in (0, 4]$; the paper uses 1, 0.75, 0.5 and 0.25.
        num_classes: outputs of the final fully connected layer (1000 for ImageNet).
        in_channels: input image channels (3 for RGB).
        separable: ``False`` builds Table 4's "Conv MobileNet", the same network with each
            depthwise separable pair replaced by one full 3×3 convolution.
        body: the rows to stack; Table 5's "Shallow MobileNet" drops the five 14² × 512 rows.

    The resolution multiplier $\rho$ is simply the input size: 224, 192, 160 or 128 (Table 7).
    """

    def __init__(
        self,
        width_multiplier: float = 1.0,
        num_classes: int = 1000,
        in_channels: int = 3,
        separable: bool = True,
        body: tuple[Separable, ...] = BODY,
    ) -> None:
        super().__init__()
        alpha = check_width_multiplier(width_multiplier)
        num_classes = _checks.positive("num_classes", num_classes, "e.g. 1000 for ImageNet")
        in_channels = _checks.positive("in_channels", in_channels, "e.g. 3 for RGB")
        separable = _checks.flag("separable", separable)
        body = _checks.rows("body", body, Separable._fields, "Separable(s, c) rows such as BODY")
        self.in_channels = in_channels
        width = thin(STEM_CHANNELS, alpha)
        layers: list[nn.Module] = [ConvNormActivation(in_channels, width, 3, stride=2)]  # 224² × 3 → 112² × 32α
        for s, c in body:
            out = thin(c, alpha)
            if separable:
                layers.append(DepthwiseSeparable(width, out, stride=s))
            else:
                layers.append(ConvNormActivation(width, out, 3, stride=s))
            width = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # "Avg Pool / s1, Pool 7 × 7" at 224²; adaptive for other ρ
        self.classifier = nn.Linear(width, num_classes)  # "FC / s1, 1024 × 1000"

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, 2, "MobileNetV1", self.classifier.weight.dtype)
        x = self.features(x)  # (N, 1024α, H/32, W/32)
        x = self.pool(x).flatten(1)  # (N, 1024α)
        return self.classifier(x)  # (N, num_classes)


def shallow_body() -> tuple[Separable, ...]:
    """Table 5's "Shallow MobileNet": Table 1 without the five separable rows at 14² × 512."""
    return tuple(row for i, row in enumerate(BODY) if not 6 <= i <= 10)
