r"""MobileNetV3 — Howard et al., *Searching for MobileNetV3*, ICCV 2019, arXiv:1905.02244v5.

MobileNetV3-Large and MobileNetV3-Small are the data literals [`LARGE`][refimpl.mobilenet_v3.LARGE]
and [`SMALL`][refimpl.mobilenet_v3.SMALL], which follow Tables 1 and 2 row for row. Each "bneck"
row is MobileNetV2's inverted residual with an optional squeeze-and-excite after the depthwise
filter (Fig. 4), built from the shared [`InvertedResidual`][refimpl.layers.InvertedResidual].
The network ends with the *efficient last stage* of Sec. 5.1 (1×1 conv → pool → 1×1 conv NBN →
1×1 conv NBN to $k$ classes); the *original last stage* it replaced (Fig. 5, top) is an option so
that the saving can be measured. [`LRASPP`][refimpl.mobilenet_v3.LRASPP] is the segmentation head
of Sec. 6.4 (Fig. 10).

Where the paper is silent the TensorFlow reference implementation (tensorflow/models,
``research/slim/nets/mobilenet/mobilenet_v3.py``, "the reference code" below) decides: channel
rounding, the width of the squeeze-and-excite bottleneck, dropout, batch-norm ε. The batch-norm
momentum is the paper's ([`BN_MOMENTUM`][refimpl.mobilenet_v3.BN_MOMENTUM]).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch.nn.functional as F
from torch import Tensor, nn

from refimpl import _checks
from refimpl.layers import (
    ConvNormActivation,
    HSwish,
    InvertedResidual,
    SqueezeExcite,
    check_input,
    check_width_multiplier,
    make_divisible,
)


class Bneck(NamedTuple):
    """One "bneck" row of Table 1 or 2; the fields are the table's columns (the input size is a comment)."""

    kernel: int
    """Operator: the depthwise kernel of "bneck, 3x3" or "bneck, 5x5"."""
    exp_size: int
    """"exp size": width of the expansion layer."""
    out: int
    """"#out": output channels."""
    se: bool
    """"SE": a squeeze-and-excite after the depthwise filter."""
    nl: str
    """"NL": ``"RE"`` (ReLU) or ``"HS"`` (h-swish)."""
    s: int
    """"s": stride of the depthwise convolution."""


class Variant(NamedTuple):
    """The rows of Table 1 or 2 around the bneck rows."""

    stem: int
    """First row, "conv2d, 3x3", #out (stride 2, h-swish)."""
    bnecks: tuple[Bneck, ...]
    """The bneck rows, top to bottom."""
    last_conv: int
    """"conv2d, 1x1" before the pool, #out (h-swish)."""
    last_conv_se: bool
    """The SE column of that row."""
    features: int
    """"conv2d 1x1, NBN" after the pool, #out (h-swish, no batch norm)."""


RE, HS = "RE", "HS"

# MobileNetV3, arXiv:1905.02244v5, Table 1 — MobileNetV3-Large.
#       operator     exp size  #out   SE     NL   s        input
LARGE = Variant(
    stem=16,                                                # 224² × 3      conv2d, 3x3, HS, s2
    bnecks=(
        Bneck(3,  16,  16, False, RE, 1),                   # 112² × 16
        Bneck(3,  64,  24, False, RE, 2),                   # 112² × 16
        Bneck(3,  72,  24, False, RE, 1),                   # 56² × 24
        Bneck(5,  72,  40, True,  RE, 2),                   # 56² × 24
        Bneck(5, 120,  40, True,  RE, 1),                   # 28² × 40
        Bneck(5, 120,  40, True,  RE, 1),                   # 28² × 40
        Bneck(3, 240,  80, False, HS, 2),                   # 28² × 40
        Bneck(3, 200,  80, False, HS, 1),                   # 14² × 80
        Bneck(3, 184,  80, False, HS, 1),                   # 14² × 80
        Bneck(3, 184,  80, False, HS, 1),                   # 14² × 80
        Bneck(3, 480, 112, True,  HS, 1),                   # 14² × 80
        Bneck(3, 672, 112, True,  HS, 1),                   # 14² × 112
        Bneck(5, 672, 160, True,  HS, 2),                   # 14² × 112
        Bneck(5, 960, 160, True,  HS, 1),                   # 7² × 160
        Bneck(5, 960, 160, True,  HS, 1),                   # 7² × 160
    ),
    last_conv=960, last_conv_se=False,                      # 7² × 160      conv2d, 1x1, HS
    #                                                         7² × 960      pool, 7x7
    features=1280,                                          # 1² × 960      conv2d 1x1, NBN, HS
    #                                                         1² × 1280     conv2d 1x1, NBN → k
)
"""Table 1 (arXiv v5). arXiv v1 printed a different penultimate stage (see the note)."""

# MobileNetV3, arXiv:1905.02244v5, Table 2 — MobileNetV3-Small.
SMALL = Variant(
    stem=16,                                                # 224² × 3      conv2d, 3x3, HS, s2
    bnecks=(
        Bneck(3,  16,  16, True,  RE, 2),                   # 112² × 16
        Bneck(3,  72,  24, False, RE, 2),                   # 56² × 16
        Bneck(3,  88,  24, False, RE, 1),                   # 28² × 24
        Bneck(5,  96,  40, True,  HS, 2),                   # 28² × 24
        Bneck(5, 240,  40, True,  HS, 1),                   # 14² × 40
        Bneck(5, 240,  40, True,  HS, 1),                   # 14² × 40
        Bneck(5, 120,  48, True,  HS, 1),                   # 14² × 40
        Bneck(5, 144,  48, True,  HS, 1),                   # 14² × 48
        Bneck(5, 288,  96, True,  HS, 2),                   # 14² × 48
        Bneck(5, 576,  96, True,  HS, 1),                   # 7² × 96
        Bneck(5, 576,  96, True,  HS, 1),                   # 7² × 96
    ),
    # Table 2 ticks SE on this 1×1 conv; the reference code has none here (see `last_conv_se`).
    last_conv=576, last_conv_se=True,                       # 7² × 96       conv2d, 1x1, SE, HS
    #                                                         7² × 576      pool, 7x7
    # arXiv v5 prints 1024; an earlier printing has 1280 here (see SMALL_FEATURES_EARLIER).
    features=1024,                                          # 1² × 576      conv2d 1x1, NBN, HS
    #                                                         1² × 1024     conv2d 1x1, NBN → k
)
"""Table 2 (arXiv v5)."""

VARIANTS = {"large": LARGE, "small": SMALL}
"""The two models of Sec. 5.4, by name."""

SMALL_FEATURES_EARLIER = 1280
"""Width of the Small model's "conv2d 1x1, NBN" row in the printing that has 1280 instead of v5's 1024."""

STEM_CHANNELS_ORIGINAL = 32
"""Sec. 5.1: "Current mobile models tend to use 32 filters in a full 3x3 convolution"; V3 uses 16."""

SE_REDUCTION = 4
"""Sec. 5.3: the squeeze-and-excite bottleneck is "1/4 of the number of channels in expansion layer"."""

ORIGINAL_LAST_STAGE = (960, 320, 1280)
"""Fig. 5, top: expansion 1×1 conv, (3×3 depthwise,) projection 1×1 conv, then the 1×1 conv to 1280 before the pool."""

DROPOUT = 0.2
"""Sec. 6.1.1, "dropout of 0.8", is TensorFlow's keep probability: PyTorch's ``p`` is 1 − 0.8."""

BN_MOMENTUM = 0.01
"""Sec. 6.1.1: "All our convolutional layers use batch-normalization layers with average decay of 0.99".

TensorFlow's decay $d$ keeps $d$ of the running statistics per step; PyTorch's momentum is the
share of the new batch, $1 - d$ = 0.01 (PyTorch's default 0.1 would be a decay of 0.9). It changes
only how the running statistics move in training: no parameter, shape or output in eval mode.
The LR-ASPP head (Sec. 6.4, which gives no decay) uses the same.
"""

_NONLINEARITY = {RE: nn.ReLU, HS: HSwish}


def squeeze_width(exp_size: int) -> int:
    r"""Width of the squeeze-and-excite bottleneck: $\frac14$ of ``exp_size`` (Sec. 5.3), rounded to a multiple of 8.

    The rounding is the reference code's (``squeeze_excite(divisible_by=8)``), with
    [`make_divisible`][refimpl.layers.make_divisible]: e.g. 72/4 = 18 → 24, 120/4 = 30 → 32.

    Args:
        exp_size: width of the expansion layer the block rescales ("exp size" of Tables 1 and 2).
    """
    exp_size = _checks.positive("exp_size", exp_size)
    return make_divisible(exp_size / SE_REDUCTION, 8)


def _thinner(alpha: float):
    def scaled(c: int) -> int:
        return make_divisible(c * alpha, 8)  # the reference code's rounding of α·c

    return scaled


def _body(
    spec: Variant, alpha: float, in_channels: int, stem_channels: int, dilations: Optional[list[int]] = None
) -> tuple[list[nn.Module], int]:
    r"""The stem and the bneck rows of ``spec`` as layers, and the width they end with.

    ``dilations`` (one per row) makes a row atrous; a dilated row keeps stride 1 (LR-ASPP's backbone, Sec. 6.4).
    """
    scaled = _thinner(alpha)
    width = scaled(stem_channels)
    layers: list[nn.Module] = [ConvNormActivation(in_channels, width, 3, stride=2, activation=HSwish,
                                                  bn_momentum=BN_MOMENTUM)]  # (N, 16α, H/2, W/2)
    table_input = spec.stem
    for i, (kernel, exp_size, out, se, nl, s) in enumerate(spec.bnecks):
        dilation = dilations[i] if dilations else 1
        hidden = make_divisible(exp_size / table_input * width, 8)  # t × (actual input width), t = exp size / input
        layers.append(InvertedResidual(
            width, hidden, scaled(out), stride=1 if dilation > 1 else s, kernel_size=kernel,
            activation=_NONLINEARITY[nl], squeeze_channels=squeeze_width(hidden) if se else None, dilation=dilation,
            bn_momentum=BN_MOMENTUM,
        ))
        width, table_input = scaled(out), out
    return layers, width


def _check_variant(variant: str) -> Variant:
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"MobileNetV3 variant must be one of {sorted(VARIANTS)} (Tables 1 and 2); got {_checks.describe(variant)}")
    return VARIANTS[variant]


class MobileNetV3(nn.Module):
    r"""MobileNetV3-Large (Table 1) or MobileNetV3-Small (Table 2) with width multiplier $\alpha$.

    Each bneck row becomes an [`InvertedResidual`][refimpl.layers.InvertedResidual]: 1×1 expansion
    to "exp size" (left out when it equals the input width) → depthwise "bneck, k×k", stride $s$
    → squeeze-and-excite when "SE" is ticked → linear 1×1 projection to "#out", with the residual
    when $s = 1$ and the widths match. "NL" picks ReLU or h-swish for expansion and depthwise.

    Width multiplier, as in the reference code: every "#out" becomes
    ``make_divisible(α · #out)``, and "exp size" becomes ``make_divisible(t · input width)`` with
    the row's expansion factor $t$ = exp size / its input width in the table.

    Args:
        variant: ``"large"`` or ``"small"``.
        width_multiplier: $\alpha$; Table 3 reports 1.0 and 0.75, Fig. 7 also 0.35, 0.5 and 1.25.
        num_classes: $k$, the outputs of the last 1×1 convolution (1000 for ImageNet).
        in_channels: input image channels (3 for RGB).
        stem_channels: 16 (Sec. 5.1) or 32, the filter count it replaced.
        last_stage: ``"efficient"`` (Sec. 5.1, Tables 1 and 2) or ``"original"`` (Fig. 5, top:
            the 960-wide expansion is followed by a 3×3 depthwise filter and a projection to 320,
            then a 1×1 conv to 1280 runs at 7 × 7 before the pool; Large only).
        features: width of the "conv2d 1x1, NBN" row after the pool; ``None`` takes the table's.
        last_conv_se: squeeze-and-excite on the "conv2d, 1x1" row before the pool; ``None`` takes
            the table's SE column (ticked for Small). The reference code has none there.
        thin_features: also thin the "conv2d 1x1, NBN" row after the pool when $\alpha < 1$.
            ``False`` (the default) keeps it at its table width, as MobileNetV2 does for
            multipliers below one ("except the very last convolutional layer") and as Table 3's
            0.75 models count; ``True`` is the reference code's default (``finegrain_classification_mode=False``).
        dropout: before the classifier (Sec. 6.1.1).
    """

    def __init__(
        self,
        variant: str = "large",
        width_multiplier: float = 1.0,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem_channels: int = 16,
        last_stage: str = "efficient",
        features: Optional[int] = None,
        last_conv_se: Optional[bool] = None,
        thin_features: bool = False,
        dropout: float = DROPOUT,
    ) -> None:
        super().__init__()
        spec = _check_variant(variant)
        alpha = check_width_multiplier(width_multiplier)
        if not _checks.is_int(stem_channels) or stem_channels not in (spec.stem, STEM_CHANNELS_ORIGINAL):
            raise ValueError(f"stem_channels must be 16 (MobileNetV3) or 32 (Sec. 5.1's original); got {_checks.describe(stem_channels)}")
        stem_channels = int(stem_channels)
        if not isinstance(last_stage, str) or last_stage not in ("efficient", "original"):
            raise ValueError(f"last_stage must be 'efficient' or 'original' (Fig. 5); got {_checks.describe(last_stage)}")
        if last_stage == "original" and variant != "large":
            raise ValueError("last_stage='original' is Fig. 5's MobileNetV3-Large stage; use variant='large'")
        num_classes = _checks.positive("num_classes", num_classes, "e.g. 1000 for ImageNet")
        in_channels = _checks.positive("in_channels", in_channels, "e.g. 3 for RGB")
        features = _checks.optional_positive("features", features, "e.g. 1280")
        last_conv_se = _checks.optional_flag("last_conv_se", last_conv_se)
        thin_features = _checks.flag("thin_features", thin_features)
        dropout = _checks.probability("dropout", dropout, f"e.g. {DROPOUT}")
        self.variant, self.in_channels = variant, in_channels

        scaled = _thinner(alpha)
        layers, width = _body(spec, alpha, in_channels, stem_channels)
        if last_stage == "original":
            # Fig. 5, top: the "conv2d, 1x1" to 960 is the expansion of one more bottleneck, which
            # filters (3×3 depthwise) and projects to 320; the 1×1 conv to 1280 then runs at 7 × 7,
            # before the pool, as in MobileNetV2's last stage.
            # DEVIATION from Fig. 5, which gives no kernel, SE or non-linearity for this block:
            # we take 3×3 (MnasNet-A1's last block), no SE, and h-swish like the rows before it.
            expand, project, head = ORIGINAL_LAST_STAGE
            layers.append(InvertedResidual(width, scaled(expand), scaled(project), kernel_size=3, activation=HSwish,
                                           bn_momentum=BN_MOMENTUM))
            layers.append(ConvNormActivation(scaled(project), scaled(head), 1, activation=HSwish, bn_momentum=BN_MOMENTUM))
            width = feature_width = scaled(head)
            self.features = nn.Sequential(*layers)  # (N, 1280α, H/32, W/32)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Identity()
        else:
            se = spec.last_conv_se if last_conv_se is None else last_conv_se
            last = scaled(spec.last_conv)
            layers.append(ConvNormActivation(width, last, 1, activation=HSwish, bn_momentum=BN_MOMENTUM))  # "conv2d, 1x1"
            if se:
                layers.append(SqueezeExcite(last, squeeze_width(last)))
            self.features = nn.Sequential(*layers)  # (N, last_conv·α, H/32, W/32)
            self.pool = nn.AdaptiveAvgPool2d(1)  # "pool, 7x7" at 224²; adaptive for other sizes
            feature_width = spec.features if features is None else features
            # DEVIATION from the reference code's default: for α < 1 this row keeps its table
            # width unless thin_features (MobileNetV2's rule; it is what Table 3's 0.75 rows count).
            feature_width = scaled(feature_width) if thin_features or alpha > 1 else feature_width
            # "conv2d 1x1, NBN": no batch norm, so the convolution has a bias.
            self.head = ConvNormActivation(last, feature_width, 1, norm=False, activation=HSwish)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(feature_width, num_classes, 1)  # "conv2d 1x1, NBN", k outputs

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, 2, f"MobileNetV3-{self.variant.capitalize()}", self.classifier.weight.dtype)
        x = self.features(x)  # (N, C, H/32, W/32)
        x = self.head(self.pool(x))  # (N, features, 1, 1)
        return self.classifier(self.dropout(x)).flatten(1)  # (N, num_classes)


C4_ROW = {"large": 12, "small": 8}
"""Sec. 6.3: C4 is "the expansion layer of the 13-th bottleneck block" (Large), "of the 9-th" (Small): rows 12 and 8 from 0."""

LRASPP_POOL = (49, 49)
"""Fig. 10: the pooling branch's "49×49" average pool (the whole 1/16 map of a 769 × 769 training crop)."""

LRASPP_POOL_STRIDE = (16, 20)
"""Fig. 10: its stride "(16, 20)"."""


class LRASPP(nn.Module):
    r"""Lite R-ASPP segmentation model of Sec. 6.4, Fig. 10, on a MobileNetV3 backbone.

    Backbone (Sec. 6.4): MobileNetV3 up to its "conv2d, 1x1" row before the pool. With ``atrous``,
    the bneck rows from C4 on (Sec. 6.3) use dilation 2 and stride 1, so the last features are at
    1/16 instead of 1/32; with ``reduce_filters`` ("RF2", Table 7) every layer after C4's expansion
    has half its channels.

    Head (Fig. 10): on the 1/16 features, a 1×1 conv → BN → ReLU to $F$ filters, gated by a
    squeeze-and-excite-like branch (average pool 49×49, stride (16, 20) → 1×1 conv to $F$ →
    sigmoid); the result is upsampled ×2 (bilinear) to 1/8 and classified by a 1×1 conv; the 1/8
    backbone features ("skip connection from low-level features") get their own 1×1 classifier,
    and the two are added. The output is the logit map at 1/8 of the input.

    Args:
        variant: ``"large"`` or ``"small"`` backbone.
        num_classes: 19 for Cityscapes.
        filters: $F$, the head's width (128 or 256 in Table 7).
        reduce_filters: "RF2" of Table 7.
        atrous: output stride 16 (True) or 32 (False), Table 8's "OS".
        width_multiplier: $\alpha$ of the backbone.
        in_channels: input image channels.
    """

    def __init__(
        self,
        variant: str = "large",
        num_classes: int = 19,
        filters: int = 128,
        reduce_filters: bool = True,
        atrous: bool = True,
        width_multiplier: float = 1.0,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        spec = _check_variant(variant)
        alpha = check_width_multiplier(width_multiplier)
        num_classes = _checks.positive("num_classes", num_classes, "e.g. 19 for Cityscapes")
        filters = _checks.positive("filters", filters, "128 or 256 in Table 7")
        reduce_filters = _checks.flag("reduce_filters", reduce_filters)
        atrous = _checks.flag("atrous", atrous)
        in_channels = _checks.positive("in_channels", in_channels, "e.g. 3 for RGB")
        self.variant, self.in_channels = variant, in_channels
        c4 = C4_ROW[variant]
        rows, last_conv = list(spec.bnecks), spec.last_conv
        if reduce_filters:  # "RF2": halve #out from C4's row on, and exp size after it
            rows = [
                row._replace(out=row.out // 2, exp_size=row.exp_size // 2 if i > c4 else row.exp_size) if i >= c4 else row
                for i, row in enumerate(rows)
            ]
            last_conv //= 2
        dilations = [2 if atrous and i >= c4 else 1 for i in range(len(rows))]
        layers, width = _body(spec._replace(bnecks=tuple(rows)), alpha, in_channels, spec.stem, dilations)
        last = _thinner(alpha)(last_conv)
        layers.append(ConvNormActivation(width, last, 1, activation=HSwish, bn_momentum=BN_MOMENTUM))
        self.backbone = nn.Sequential(*layers)
        # The 1/8 features: the output of the last row whose cumulative stride is 8.
        strides = [2]
        for row, d in zip(rows, dilations):
            strides.append(strides[-1] * (row.s if d == 1 else 1))
        self.low_index = max(i for i, s in enumerate(strides) if s == 8)
        low_width = _thinner(alpha)(rows[self.low_index - 1].out)
        self.cbr = ConvNormActivation(last, filters, 1, activation=nn.ReLU, bn_momentum=BN_MOMENTUM)  # "1×1 Conv, BN, ReLU"
        self.scale = nn.Conv2d(last, filters, 1, bias=False)  # after the 49×49 pool, then sigmoid
        self.high_classifier = nn.Conv2d(filters, num_classes, 1)
        self.low_classifier = nn.Conv2d(low_width, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, 2, f"LR-ASPP (MobileNetV3-{self.variant.capitalize()})",
                    self.low_classifier.weight.dtype)
        for i, layer in enumerate(self.backbone):
            x = layer(x)
            if i == self.low_index:
                low = x  # (N, 40α, H/8, W/8) for Large
        high = x  # (N, 960α/2, H/16, W/16) with RF2 and atrous
        h, w = high.shape[-2:]
        # DEVIATION from Fig. 10 for maps smaller than 49 × 49: the window shrinks to the whole map.
        s = F.avg_pool2d(high, (min(LRASPP_POOL[0], h), min(LRASPP_POOL[1], w)), stride=LRASPP_POOL_STRIDE)
        s = F.interpolate(self.scale(s).sigmoid(), size=(h, w), mode="bilinear", align_corners=False)
        y = self.cbr(high) * s  # (N, F, H/16, W/16)
        y = F.interpolate(y, size=low.shape[-2:], mode="bilinear", align_corners=False)  # (N, F, H/8, W/8)
        return self.low_classifier(low) + self.high_classifier(y)  # (N, num_classes, H/8, W/8)
