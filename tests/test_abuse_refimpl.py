"""Bad input to the reference implementations: every probe gets a one-line error naming the argument and what is valid.

A table of probes, one bad input each, across every public constructor and function of ``refimpl/``
(the modules of the six seed papers and the shared ones): wrong types (NumPy arrays where tensors
are expected, tensors where arrays are, strings, floats for integers, numbers for flags), wrong
dtypes (integer, bool or float64 input to a float32 model), zero or negative channels, classes and
sizes, NaN and infinity, labels outside the classes, wrong number of dimensions, spatial sizes that
the network's down-sampling cannot take. Each probe names the exception type it must raise and a
pattern its message must match (the argument, the value, the valid values); the message must be a
single line. Then the valid but unusual inputs that must be accepted (NumPy scalars, float64 models,
the ``meta`` device).

``python tests/test_abuse_refimpl.py`` prints, per module, how many probes are handled.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch import nn

from refimpl.analysis import analyse, count_params, layer_type, on_meta, receptive_field, to_meta
from refimpl.augment import deform, elastic_deform, random_displacement
from refimpl.layers import (ConvNormActivation, DepthwiseSeparable, InvertedResidual, SqueezeExcite, check_input,
                            check_width_multiplier, conv_class, h_sigmoid, h_swish, make_divisible)
from refimpl.losses import DiceLoss, dice_coefficient, dice_gradient, dice_loss
from refimpl.mobilenet_v1 import MobileNetV1, thin
from refimpl.mobilenet_v2 import MobileNetV2, block_specs, last_width, operations, width
from refimpl.mobilenet_v3 import LRASPP, MobileNetV3, squeeze_width
from refimpl.unet import (CONTRACTING, Contracting, ConvPair, ConvUnit, Expanding, UNet, center_crop,
                          class_balance_weights, incoming_nodes, init_weights, mirror_pad, predict_tiled, predict_whole,
                          tiling, weight_map, weighted_cross_entropy)
from refimpl.unet3d import sparse_cross_entropy, sparse_weights, unet3d
from refimpl.vnet import LEFT, ResidualStage, Stage, VNet, prelu

NAN, INF = float("nan"), float("inf")


@dataclass(frozen=True)
class Probe:
    """One bad input: ``call()`` must raise ``error`` with a one-line message matching ``match``."""

    module: str
    name: str
    call: Callable[[], Any]
    error: type[Exception]
    match: str


def meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(*shape, device="meta", dtype=dtype)


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# Small models, built once on the meta device (no memory, no weights drawn).
V1, V2, V3, SEG = on_meta(MobileNetV1), on_meta(MobileNetV2), on_meta(MobileNetV3), on_meta(LRASPP)
SMALL_UNET = dict(contracting=(Contracting(4, 4), Contracting(8, 8), Contracting(8, 8)),
                  expanding=(Expanding(8, 8, 8), Expanding(4, 4, 4)))
U = on_meta(UNet, **SMALL_UNET)  # valid tiles 4k + 28 (k ≥ 4): 44, 48, …; 48 → 8
U3 = on_meta(unet3d)
VN = on_meta(VNet)
CNA = ConvNormActivation(3, 8)
PROBS = torch.softmax(torch.randn(1, 2, 4, 4, 4, generator=torch.Generator().manual_seed(0)), 1)
LABELS = torch.zeros(1, 4, 4, 4, dtype=torch.long)
LOGITS = torch.randn(1, 3, 4, 4)
TARGET = torch.zeros(1, 4, 4, dtype=torch.long)
WEIGHT = torch.ones(1, 4, 4)
IMAGE, FIELD = np.zeros((8, 8)), np.zeros((2, 8, 8))
INSTANCES = np.array([[1, 1, 0, 2, 2]] * 3)

ARRAY = r"must be a torch\.Tensor \(convert it with torch\.from_numpy\(x\)\); got a numpy array"
FLOATING = r"floating-point .*got (dtype )?torch\.(int64|bool)"
FLOAT32 = r"dtype torch\.float32, the dtype of its parameters; got torch\.float64"
POSITIVE = r"must be a positive integer"

PROBES: list[Probe] = [
    # ------------------------------------------------------------------ layers
    Probe("layers", "conv_class dims=4", lambda: conv_class(4), ValueError, r"dims must be one of \[1, 2, 3\].*got 4"),
    Probe("layers", "conv_class dims=True", lambda: conv_class(True), ValueError, r"dims must be one of \[1, 2, 3\].*got True"),
    Probe("layers", "conv_class dims=2.0", lambda: conv_class(2.0), ValueError, r"dims must be one of \[1, 2, 3\].*got 2\.0"),
    Probe("layers", "make_divisible 0", lambda: make_divisible(0), ValueError, r"value must be a finite number > 0.*got 0"),
    Probe("layers", "make_divisible -8", lambda: make_divisible(-8), ValueError, r"value must be a finite number > 0.*got -8"),
    Probe("layers", "make_divisible NaN", lambda: make_divisible(NAN), ValueError, r"value must be a finite number > 0.*got nan"),
    Probe("layers", "make_divisible inf", lambda: make_divisible(INF), ValueError, r"value must be a finite number > 0.*got inf"),
    Probe("layers", "make_divisible '8'", lambda: make_divisible("8"), TypeError, r"value must be a finite number > 0.*got '8'"),
    Probe("layers", "make_divisible divisor=0", lambda: make_divisible(8, 0), ValueError, rf"divisor {POSITIVE}.*got 0"),
    Probe("layers", "make_divisible divisor=2.5", lambda: make_divisible(8, 2.5), TypeError, rf"divisor {POSITIVE}.*got 2\.5"),
    Probe("layers", "make_divisible min_value=0", lambda: make_divisible(8, 8, 0), ValueError, rf"min_value {POSITIVE}.*got 0"),
    Probe("layers", "width multiplier NaN", lambda: check_width_multiplier(NAN), ValueError, r"width_multiplier must be .*\(0, 4\].*got nan"),
    Probe("layers", "CNA in_channels=0", lambda: ConvNormActivation(0, 8), ValueError, rf"in_channels {POSITIVE}.*got 0"),
    Probe("layers", "CNA out_channels=-1", lambda: ConvNormActivation(3, -1), ValueError, rf"out_channels {POSITIVE}.*got -1"),
    Probe("layers", "CNA kernel_size=0", lambda: ConvNormActivation(3, 8, 0), ValueError, rf"kernel_size {POSITIVE}.*got 0"),
    Probe("layers", "CNA kernel_size=2.5", lambda: ConvNormActivation(3, 8, 2.5), TypeError, rf"kernel_size {POSITIVE}.*got 2\.5"),
    Probe("layers", "CNA stride=0", lambda: ConvNormActivation(3, 8, stride=0), ValueError, rf"stride {POSITIVE}.*got 0"),
    Probe("layers", "CNA groups not dividing", lambda: ConvNormActivation(6, 8, groups=4), ValueError, r"groups must divide in_channels and out_channels \(6 and 8\); got 4"),
    Probe("layers", "CNA padding=-1", lambda: ConvNormActivation(3, 8, padding=-1), ValueError, r"padding must be a non-negative integer.*got -1"),
    Probe("layers", "CNA norm='yes'", lambda: ConvNormActivation(3, 8, norm="yes"), TypeError, r"norm must be True or False; got 'yes'"),
    Probe("layers", "CNA activation='relu'", lambda: ConvNormActivation(3, 8, activation="relu"), TypeError, r"activation must be a module factory such as nn\.ReLU, or None; got 'relu'"),
    Probe("layers", "CNA dims=4", lambda: ConvNormActivation(3, 8, dims=4), ValueError, r"dims must be one of \[1, 2, 3\]"),
    Probe("layers", "CNA dilation=0", lambda: ConvNormActivation(3, 8, dilation=0), ValueError, rf"dilation {POSITIVE}.*got 0"),
    Probe("layers", "CNA bn_eps=0", lambda: ConvNormActivation(3, 8, bn_eps=0), ValueError, r"bn_eps must be a finite number > 0.*got 0"),
    Probe("layers", "CNA bn_eps=NaN", lambda: ConvNormActivation(3, 8, bn_eps=NAN), ValueError, r"bn_eps must be a finite number > 0.*got nan"),
    Probe("layers", "CNA bn_momentum=1.5", lambda: ConvNormActivation(3, 8, bn_momentum=1.5), ValueError, r"bn_momentum must be a finite number in \[0, 1\].*got 1\.5"),
    Probe("layers", "CNA bn_momentum=-0.1", lambda: ConvNormActivation(3, 8, bn_momentum=-0.1), ValueError, r"bn_momentum must be a finite number in \[0, 1\].*got -0\.1"),
    Probe("layers", "CNA input numpy", lambda: CNA(np.zeros((1, 3, 4, 4), np.float32)), TypeError, ARRAY),
    Probe("layers", "CNA input int64", lambda: CNA(torch.zeros(1, 3, 4, 4, dtype=torch.long)), TypeError, FLOATING),
    Probe("layers", "CNA input float64", lambda: CNA(torch.zeros(1, 3, 4, 4, dtype=torch.float64)), TypeError, FLOAT32),
    Probe("layers", "CNA input 1 channel", lambda: CNA(torch.zeros(1, 1, 4, 4)), ValueError, r"ConvNormActivation expects 3 input channels \(N, C, H, W\); got 1"),
    Probe("layers", "CNA input 3-D", lambda: CNA(torch.zeros(3, 4, 4)), ValueError, r"ConvNormActivation expects a 4-D input \(N, C, H, W\) with C=3; got shape \(3, 4, 4\)"),
    Probe("layers", "CNA input 0x0", lambda: CNA(torch.zeros(1, 3, 0, 0)), ValueError, r"expects spatial sizes of at least 1 .*got shape \(1, 3, 0, 0\)"),
    Probe("layers", "DepthwiseSeparable in_channels=0", lambda: DepthwiseSeparable(0, 8), ValueError, rf"in_channels {POSITIVE}.*got 0"),
    Probe("layers", "DepthwiseSeparable stride=0", lambda: DepthwiseSeparable(8, 16, stride=0), ValueError, rf"stride {POSITIVE}.*got 0"),
    Probe("layers", "DepthwiseSeparable input channels", lambda: DepthwiseSeparable(8, 16)(torch.zeros(1, 3, 4, 4)), ValueError, r"DepthwiseSeparable expects 8 input channels.*got 3"),
    Probe("layers", "SqueezeExcite channels=0", lambda: SqueezeExcite(0, 2), ValueError, rf"channels {POSITIVE}.*got 0"),
    Probe("layers", "SqueezeExcite squeeze_channels=0", lambda: SqueezeExcite(8, 0), ValueError, rf"squeeze_channels {POSITIVE}.*got 0"),
    Probe("layers", "SqueezeExcite gate='sigmoid'", lambda: SqueezeExcite(8, 2, gate="sigmoid"), TypeError, r"gate must be a function such as h_sigmoid or torch\.sigmoid; got 'sigmoid'"),
    Probe("layers", "SqueezeExcite input 3-D", lambda: SqueezeExcite(8, 2)(torch.zeros(8, 4, 4)), ValueError, r"SqueezeExcite expects a 4-D input \(N, C, H, W\) with C=8"),
    Probe("layers", "SqueezeExcite input bool", lambda: SqueezeExcite(8, 2)(torch.zeros(1, 8, 4, 4, dtype=torch.bool)), TypeError, FLOATING),
    Probe("layers", "InvertedResidual stride=3", lambda: InvertedResidual(8, 48, 8, stride=3), ValueError, r"stride must be one of 1, 2; got 3"),
    Probe("layers", "InvertedResidual kernel_size=4", lambda: InvertedResidual(8, 48, 8, kernel_size=4), ValueError, r"kernel_size must be odd \(e\.g\. 3 or 5\).*got 4"),
    Probe("layers", "InvertedResidual in_channels=0", lambda: InvertedResidual(0, 48, 8), ValueError, rf"in_channels {POSITIVE}.*got 0"),
    Probe("layers", "InvertedResidual squeeze_channels=0", lambda: InvertedResidual(8, 48, 8, squeeze_channels=0), ValueError, rf"squeeze_channels {POSITIVE}.*or None.*got 0"),
    Probe("layers", "InvertedResidual input float64", lambda: InvertedResidual(8, 48, 8)(torch.zeros(1, 8, 4, 4, dtype=torch.float64)), TypeError, FLOAT32),
    Probe("layers", "InvertedResidual input numpy", lambda: InvertedResidual(8, 48, 8)(np.zeros((1, 8, 4, 4))), TypeError, ARRAY),
    Probe("layers", "h_swish numpy", lambda: h_swish(np.ones(3)), TypeError, r"h_swish x " + ARRAY),
    Probe("layers", "h_swish int64", lambda: h_swish(torch.ones(3, dtype=torch.long)), TypeError, r"h_swish x must be a floating-point tensor.*got dtype torch\.int64"),
    Probe("layers", "h_sigmoid bool", lambda: h_sigmoid(torch.ones(3, dtype=torch.bool)), TypeError, r"h_sigmoid x must be a floating-point tensor.*got dtype torch\.bool"),
    Probe("layers", "check_input numpy", lambda: check_input(np.zeros((1, 3, 4, 4)), 3, 2, "Net"), TypeError, r"Net input " + ARRAY),
    # ------------------------------------------------------------------ MobileNetV1
    Probe("mobilenet_v1", "width_multiplier=0", lambda: MobileNetV1(0), ValueError, r"width_multiplier must be a finite number in \(0, 4\].*got 0"),
    Probe("mobilenet_v1", "width_multiplier=NaN", lambda: MobileNetV1(NAN), ValueError, r"width_multiplier must be .*\(0, 4\].*got nan"),
    Probe("mobilenet_v1", "width_multiplier='1.0'", lambda: MobileNetV1("1.0"), TypeError, r"width_multiplier must be .*\(0, 4\].*got '1\.0'"),
    Probe("mobilenet_v1", "num_classes=0", lambda: on_meta(MobileNetV1, num_classes=0), ValueError, rf"num_classes {POSITIVE}.*got 0"),
    Probe("mobilenet_v1", "num_classes=1.5", lambda: on_meta(MobileNetV1, num_classes=1.5), TypeError, rf"num_classes {POSITIVE}.*got 1\.5"),
    Probe("mobilenet_v1", "in_channels=0", lambda: on_meta(MobileNetV1, in_channels=0), ValueError, rf"in_channels {POSITIVE}.*got 0"),
    Probe("mobilenet_v1", "separable='no'", lambda: on_meta(MobileNetV1, separable="no"), TypeError, r"separable must be True or False; got 'no'"),
    Probe("mobilenet_v1", "body=()", lambda: on_meta(MobileNetV1, body=()), ValueError, r"body must be Separable\(s, c\) rows.*at least 1"),
    Probe("mobilenet_v1", "body stride 0", lambda: on_meta(MobileNetV1, body=((0, 64),)), ValueError, rf"body\[0\]\.s {POSITIVE}.*got 0"),
    Probe("mobilenet_v1", "body='abc'", lambda: on_meta(MobileNetV1, body="abc"), TypeError, r"body must be Separable\(s, c\) rows.*got 'abc'"),
    Probe("mobilenet_v1", "input numpy", lambda: V1(np.zeros((1, 3, 32, 32), np.float32)), TypeError, ARRAY),
    Probe("mobilenet_v1", "input int64", lambda: V1(meta(1, 3, 32, 32, dtype=torch.long)), TypeError, FLOATING),
    Probe("mobilenet_v1", "input bool", lambda: V1(meta(1, 3, 32, 32, dtype=torch.bool)), TypeError, FLOATING),
    Probe("mobilenet_v1", "input float64", lambda: V1(meta(1, 3, 32, 32, dtype=torch.float64)), TypeError, FLOAT32),
    Probe("mobilenet_v1", "input 0x0", lambda: V1(meta(1, 3, 0, 0)), ValueError, r"MobileNetV1 expects spatial sizes of at least 1"),
    Probe("mobilenet_v1", "input 5-D", lambda: V1(meta(1, 3, 8, 8, 8)), ValueError, r"MobileNetV1 expects a 4-D input \(N, C, H, W\)"),
    Probe("mobilenet_v1", "thin channels=0", lambda: thin(0, 1.0), ValueError, rf"channels {POSITIVE}.*got 0"),
    Probe("mobilenet_v1", "thin width_multiplier=0", lambda: thin(32, 0), ValueError, r"width_multiplier must be .*\(0, 4\]"),
    # ------------------------------------------------------------------ MobileNetV2
    Probe("mobilenet_v2", "width_multiplier=-1", lambda: MobileNetV2(-1.0), ValueError, r"width_multiplier must be .*\(0, 4\].*got -1\.0"),
    Probe("mobilenet_v2", "num_classes=-3", lambda: MobileNetV2(num_classes=-3), ValueError, rf"num_classes {POSITIVE}.*got -3"),
    Probe("mobilenet_v2", "in_channels=2.0", lambda: MobileNetV2(in_channels=2.0), TypeError, rf"in_channels {POSITIVE}.*got 2\.0"),
    Probe("mobilenet_v2", "channel_divisor=0", lambda: MobileNetV2(channel_divisor=0), ValueError, rf"divisor {POSITIVE} \(8 in the TF reference"),
    Probe("mobilenet_v2", "last_channels=0", lambda: MobileNetV2(last_channels=0), ValueError, rf"last_channels {POSITIVE}.*or None.*got 0"),
    Probe("mobilenet_v2", "rows stride 3", lambda: block_specs(rows=((6, 24, 2, 3),)), ValueError, r"rows\[0\]\.s must be one of 1, 2.*got 3"),
    Probe("mobilenet_v2", "rows c=0", lambda: block_specs(rows=((6, 0, 2, 2),)), ValueError, rf"rows\[0\]\.c {POSITIVE}.*got 0"),
    Probe("mobilenet_v2", "rows=[]", lambda: block_specs(rows=[]), ValueError, r"rows must be Bottleneck\(t, c, n, s\) rows.*at least 1"),
    Probe("mobilenet_v2", "rows of 3 columns", lambda: block_specs(rows=((6, 24, 2),)), TypeError, r"rows\[0\] must be a row \(t, c, n, s\)"),
    Probe("mobilenet_v2", "width channels=0", lambda: width(0, 1.0), ValueError, rf"channels {POSITIVE}.*got 0"),
    Probe("mobilenet_v2", "last_width width_multiplier=0", lambda: last_width(0), ValueError, r"width_multiplier must be .*\(0, 4\]"),
    Probe("mobilenet_v2", "operations model='x'", lambda: operations("x", (1, 3, 224, 224)), TypeError, r"model must be a torch\.nn\.Module such as MobileNetV2\(\); got 'x'"),
    Probe("mobilenet_v2", "operations size 0", lambda: operations(V2, (1, 3, 0, 224)), ValueError, rf"input_shape\[2\] {POSITIVE}.*got 0"),
    Probe("mobilenet_v2", "input numpy", lambda: V2(np.zeros((1, 3, 32, 32), np.float32)), TypeError, ARRAY),
    Probe("mobilenet_v2", "input float64", lambda: V2(meta(1, 3, 32, 32, dtype=torch.float64)), TypeError, FLOAT32),
    Probe("mobilenet_v2", "input int64", lambda: V2(meta(1, 3, 32, 32, dtype=torch.long)), TypeError, FLOATING),
    Probe("mobilenet_v2", "input 0 wide", lambda: V2(meta(1, 3, 32, 0)), ValueError, r"MobileNetV2 expects spatial sizes of at least 1"),
    # ------------------------------------------------------------------ MobileNetV3 and LR-ASPP
    Probe("mobilenet_v3", "variant='medium'", lambda: MobileNetV3("medium"), ValueError, r"variant must be one of \['large', 'small'\].*got 'medium'"),
    Probe("mobilenet_v3", "variant=['large']", lambda: MobileNetV3(["large"]), ValueError, r"variant must be one of \['large', 'small'\].*got \['large'\]"),
    Probe("mobilenet_v3", "width_multiplier=0", lambda: MobileNetV3(width_multiplier=0), ValueError, r"width_multiplier must be .*\(0, 4\]"),
    Probe("mobilenet_v3", "num_classes=0", lambda: on_meta(MobileNetV3, num_classes=0), ValueError, rf"num_classes {POSITIVE}.*got 0"),
    Probe("mobilenet_v3", "in_channels=0", lambda: on_meta(MobileNetV3, in_channels=0), ValueError, rf"in_channels {POSITIVE}.*got 0"),
    Probe("mobilenet_v3", "stem_channels=24", lambda: MobileNetV3(stem_channels=24), ValueError, r"stem_channels must be 16 \(MobileNetV3\) or 32.*got 24"),
    Probe("mobilenet_v3", "stem_channels=16.0", lambda: MobileNetV3(stem_channels=16.0), ValueError, r"stem_channels must be 16 \(MobileNetV3\) or 32.*got 16\.0"),
    Probe("mobilenet_v3", "last_stage=1", lambda: MobileNetV3(last_stage=1), ValueError, r"last_stage must be 'efficient' or 'original'.*got 1"),
    Probe("mobilenet_v3", "features=0", lambda: on_meta(MobileNetV3, features=0), ValueError, rf"features {POSITIVE}.*or None.*got 0"),
    Probe("mobilenet_v3", "last_conv_se='yes'", lambda: on_meta(MobileNetV3, last_conv_se="yes"), TypeError, r"last_conv_se must be True, False or None; got 'yes'"),
    Probe("mobilenet_v3", "thin_features=1", lambda: on_meta(MobileNetV3, thin_features=1), TypeError, r"thin_features must be True or False; got 1"),
    Probe("mobilenet_v3", "dropout=1.5", lambda: on_meta(MobileNetV3, dropout=1.5), ValueError, r"dropout must be a finite number in \[0, 1\).*got 1\.5"),
    Probe("mobilenet_v3", "dropout=NaN", lambda: on_meta(MobileNetV3, dropout=NAN), ValueError, r"dropout must be a finite number in \[0, 1\).*got nan"),
    Probe("mobilenet_v3", "squeeze_width 0", lambda: squeeze_width(0), ValueError, rf"exp_size {POSITIVE}.*got 0"),
    Probe("mobilenet_v3", "LRASPP num_classes=0", lambda: on_meta(LRASPP, num_classes=0), ValueError, rf"num_classes {POSITIVE}.*got 0"),
    Probe("mobilenet_v3", "LRASPP filters=0", lambda: on_meta(LRASPP, filters=0), ValueError, rf"filters {POSITIVE} \(128 or 256 in Table 7\); got 0"),
    Probe("mobilenet_v3", "LRASPP reduce_filters='RF2'", lambda: on_meta(LRASPP, reduce_filters="RF2"), TypeError, r"reduce_filters must be True or False; got 'RF2'"),
    Probe("mobilenet_v3", "LRASPP atrous=None", lambda: on_meta(LRASPP, atrous=None), TypeError, r"atrous must be True or False; got None"),
    Probe("mobilenet_v3", "LRASPP in_channels=-1", lambda: on_meta(LRASPP, in_channels=-1), ValueError, rf"in_channels {POSITIVE}.*got -1"),
    Probe("mobilenet_v3", "LRASPP variant='tiny'", lambda: LRASPP("tiny"), ValueError, r"variant must be one of \['large', 'small'\].*got 'tiny'"),
    Probe("mobilenet_v3", "input numpy", lambda: V3(np.zeros((1, 3, 32, 32), np.float32)), TypeError, ARRAY),
    Probe("mobilenet_v3", "input float64", lambda: V3(meta(1, 3, 32, 32, dtype=torch.float64)), TypeError, FLOAT32),
    Probe("mobilenet_v3", "input int64", lambda: V3(meta(1, 3, 32, 32, dtype=torch.long)), TypeError, FLOATING),
    Probe("mobilenet_v3", "LRASPP input float64", lambda: SEG(meta(1, 3, 64, 64, dtype=torch.float64)), TypeError, FLOAT32),
    Probe("mobilenet_v3", "LRASPP input 1 channel", lambda: SEG(meta(1, 1, 64, 64)), ValueError, r"LR-ASPP \(MobileNetV3-Large\) expects 3 input channels.*got 1"),
    # ------------------------------------------------------------------ U-Net
    Probe("unet", "in_channels=0", lambda: on_meta(UNet, in_channels=0), ValueError, rf"in_channels {POSITIVE}.*got 0"),
    Probe("unet", "num_classes=0", lambda: on_meta(UNet, num_classes=0), ValueError, rf"num_classes {POSITIVE}.*got 0"),
    Probe("unet", "num_classes=2.5", lambda: on_meta(UNet, num_classes=2.5), TypeError, rf"num_classes {POSITIVE}.*got 2\.5"),
    Probe("unet", "contracting=()", lambda: UNet(contracting=(), expanding=()), ValueError, r"contracting must be Contracting\(c1, c2\) rows.*at least 1"),
    Probe("unet", "contracting c2=0", lambda: UNet(contracting=((64, 0), *CONTRACTING[1:])), ValueError, rf"contracting\[0\]\.c2 {POSITIVE}.*got 0"),
    Probe("unet", "expanding rows of 2", lambda: UNet(expanding=((512, 512),) * 4), TypeError, r"expanding\[0\] must be a row \(up, c1, c2\)"),
    Probe("unet", "dims=4", lambda: on_meta(UNet, dims=4), ValueError, r"dims must be one of \[1, 2, 3\].*got 4"),
    Probe("unet", "padding='full'", lambda: UNet(padding="full"), ValueError, r'padding must be "valid" \(the paper\) or "same"; got \'full\''),
    Probe("unet", "padding=0", lambda: UNet(padding=0), ValueError, r'padding must be "valid" \(the paper\) or "same"; got 0'),
    Probe("unet", "dropout=1.0", lambda: on_meta(UNet, dropout=1.0), ValueError, r"dropout must be a finite number in \[0, 1\).*got 1\.0"),
    Probe("unet", "dropout='0.5'", lambda: on_meta(UNet, dropout="0.5"), TypeError, r"dropout must be a finite number in \[0, 1\).*got '0\.5'"),
    Probe("unet", "norm='batch'", lambda: on_meta(UNet, norm="batch"), TypeError, r"norm must be True or False; got 'batch'"),
    Probe("unet", "up_bias=None", lambda: on_meta(UNet, up_bias=None), TypeError, r"up_bias must be True or False; got None"),
    Probe("unet", "input numpy", lambda: U(np.zeros((1, 1, 48, 48), np.float32)), TypeError, ARRAY),
    Probe("unet", "input int64", lambda: U(meta(1, 1, 48, 48, dtype=torch.long)), TypeError, FLOATING),
    Probe("unet", "input float64", lambda: U(meta(1, 1, 48, 48, dtype=torch.float64)), TypeError, FLOAT32),
    Probe("unet", "tile too small for 4 poolings", lambda: on_meta(UNet)(meta(1, 1, 60, 60)), ValueError, r"16k \+ 124 pixels per side \(k ≥ 4\).*got 60\. Nearest valid sizes: 188$"),
    Probe("unet", "odd tile", lambda: U(meta(1, 1, 45, 48)), ValueError, r"4k \+ 28 pixels per side \(k ≥ 4\).*got 45\. Nearest valid sizes: 44 and 48$"),
    Probe("unet", "check_size '572'", lambda: U.check_size("572"), TypeError, r"size must be an integer; got '572'"),
    Probe("unet", "output_size 57.2", lambda: U.output_size(57.2), TypeError, r"size must be an integer; got 57\.2"),
    Probe("unet", "valid_sizes low=None", lambda: U.valid_sizes(None, 100), TypeError, r"low must be an integer; got None"),
    Probe("unet", "center_crop larger than map", lambda: center_crop(torch.zeros(1, 1, 8, 8), (10, 8)), ValueError, r"size\[0\] must be an integer in \[1, 8\].*got 10"),
    Probe("unet", "center_crop one side for 2-D", lambda: center_crop(torch.zeros(1, 1, 8, 8), (4,)), ValueError, r"size must give one side per spatial dimension of x"),
    Probe("unet", "center_crop numpy", lambda: center_crop(np.zeros((1, 1, 8, 8)), (4, 4)), TypeError, ARRAY),
    Probe("unet", "weight_map empty", lambda: weight_map(np.zeros((0, 0), int)), ValueError, r"instances must be a non-empty array of non-negative integer instance labels.*shape \(0, 0\)"),
    Probe("unet", "weight_map float instances", lambda: weight_map(np.zeros((4, 4))), ValueError, r"instances must be .*integer instance labels.*dtype float64"),
    Probe("unet", "weight_map sigma=0", lambda: weight_map(INSTANCES, sigma=0), ValueError, r"sigma must be a finite number > 0 \(pixels, 5 in the paper\); got 0"),
    Probe("unet", "weight_map w0=-1", lambda: weight_map(INSTANCES, w0=-1), ValueError, r"w0 must be a finite number >= 0 \(10 in the paper\); got -1"),
    Probe("unet", "weight_map sigma=NaN", lambda: weight_map(INSTANCES, sigma=NAN), ValueError, r"sigma must be a finite number > 0.*got nan"),
    Probe("unet", "weight_map class_weights shape", lambda: weight_map(INSTANCES, class_weights=np.ones((2, 2))), ValueError, r"class_weights must have the shape of instances \(3, 5\); got \(2, 2\)"),
    Probe("unet", "weight_map background_only='yes'", lambda: weight_map(INSTANCES, background_only="yes"), TypeError, r"background_only must be True or False; got 'yes'"),
    Probe("unet", "class_balance_weights empty", lambda: class_balance_weights(np.array([])), ValueError, r"labels must be a non-empty array of class labels.*shape \(0,\)"),
    Probe("unet", "cross-entropy float target", lambda: weighted_cross_entropy(LOGITS, TARGET.float(), WEIGHT), TypeError, r"target must be an integer tensor of class indices.*got dtype torch\.float32"),
    Probe("unet", "cross-entropy target 5 of 3 classes", lambda: weighted_cross_entropy(LOGITS, TARGET + 5, WEIGHT), ValueError, r"target must hold class indices in \[0, 2\] for 3 logit channels; got values from 5 to 5"),
    Probe("unet", "cross-entropy negative target", lambda: weighted_cross_entropy(LOGITS, TARGET - 1, WEIGHT), ValueError, r"target must hold class indices in \[0, 2\].*from -1"),
    Probe("unet", "cross-entropy int64 logits", lambda: weighted_cross_entropy(LOGITS.long(), TARGET, WEIGHT), TypeError, r"logits must be a floating-point tensor.*torch\.int64"),
    Probe("unet", "cross-entropy numpy logits", lambda: weighted_cross_entropy(LOGITS.numpy(), TARGET, WEIGHT), TypeError, ARRAY),
    Probe("unet", "cross-entropy target shape", lambda: weighted_cross_entropy(LOGITS, TARGET[:, :2], WEIGHT), ValueError, r"target must have the shape of logits without the class axis, \(1, 4, 4\); got \(1, 2, 4\)"),
    Probe("unet", "cross-entropy weight shape", lambda: weighted_cross_entropy(LOGITS, TARGET, torch.ones(1, 3, 4)), ValueError, r"weight must have the shape of target \(1, 4, 4\) or broadcast to it; got \(1, 3, 4\)"),
    Probe("unet", "cross-entropy reduction='avg'", lambda: weighted_cross_entropy(LOGITS, TARGET, WEIGHT, "avg"), ValueError, r'reduction must be "sum" or "mean"; got \'avg\''),
    Probe("unet", "mirror_pad negative pad", lambda: mirror_pad(torch.zeros(1, 1, 4, 4), [(-1, 2)]), ValueError, r"pads\[0\] must be a non-negative integer.*got -1"),
    Probe("unet", "mirror_pad 3 pairs for 2-D", lambda: mirror_pad(torch.zeros(1, 1, 4, 4), [(1, 1)] * 3), ValueError, r"pads must give at most one \(before, after\) pair per spatial axis.*got 3 pairs"),
    Probe("unet", "mirror_pad empty axis", lambda: mirror_pad(torch.zeros(1, 1, 0, 4), [(1, 1)]), ValueError, r"mirror_pad cannot mirror an empty axis"),
    Probe("unet", "mirror_pad numpy", lambda: mirror_pad(np.zeros((1, 1, 4, 4)), [(1, 1)]), TypeError, ARRAY),
    Probe("unet", "tiling 0x0 image", lambda: tiling(U, (0, 0), 48), ValueError, rf"image_size\[0\] {POSITIVE} \(an image of at least one pixel per side\); got 0"),
    Probe("unet", "tiling 1-D size for 2-D", lambda: tiling(U, (50,), 48), ValueError, r"image_size must give the 2 spatial sides of the image; got \(50,\)"),
    Probe("unet", "tiling step=0", lambda: tiling(U, (50, 50), 48, step=0), ValueError, r"step must be in \[1, 8\] \(the output tile\); got 0"),
    Probe("unet", "tiling model='unet'", lambda: tiling("unet", (50, 50), 48), TypeError, r"model must be a UNet \(refimpl\.unet\.UNet\); got 'unet'"),
    Probe("unet", "tiling tile=48.0", lambda: tiling(U, (50, 50), 48.0), TypeError, r"tile must be a positive integer.*got 48\.0"),
    Probe("unet", "predict_tiled 0x0 image", lambda: predict_tiled(U, meta(1, 1, 0, 0), 48), ValueError, r"U-Net expects spatial sizes of at least 1"),
    Probe("unet", "predict_tiled numpy image", lambda: predict_tiled(U, np.zeros((1, 1, 50, 50), np.float32), 48), TypeError, ARRAY),
    Probe("unet", "predict_tiled 3 channels", lambda: predict_tiled(U, meta(1, 3, 50, 50), 48), ValueError, r"U-Net expects 1 input channels.*got 3"),
    Probe("unet", "predict_whole float64 image", lambda: predict_whole(U, meta(1, 1, 50, 50, dtype=torch.float64), 48), TypeError, FLOAT32),
    Probe("unet", "incoming_nodes ReLU", lambda: incoming_nodes(nn.ReLU()), TypeError, r"incoming_nodes needs a convolution or up-convolution.*got ReLU"),
    Probe("unet", "init_weights 'model'", lambda: init_weights("model"), TypeError, r"init_weights needs a torch\.nn\.Module such as UNet\(\); got 'model'"),
    Probe("unet", "ConvUnit in_channels=0", lambda: ConvUnit(0, 8), ValueError, rf"in_channels {POSITIVE}.*got 0"),
    Probe("unet", "ConvUnit padding='full'", lambda: ConvUnit(3, 8, padding="full"), ValueError, r'padding must be "valid" \(the paper\) or "same"'),
    Probe("unet", "ConvPair c1=0", lambda: ConvPair(3, 0, 8), ValueError, rf"c1 {POSITIVE}.*got 0"),
    # ------------------------------------------------------------------ 3D U-Net
    Probe("unet3d", "in_channels=0", lambda: on_meta(unet3d, in_channels=0), ValueError, rf"in_channels {POSITIVE}.*got 0"),
    Probe("unet3d", "batch_norm='yes'", lambda: on_meta(unet3d, batch_norm="yes"), TypeError, r"batch_norm must be True or False; got 'yes'"),
    Probe("unet3d", "analysis=()", lambda: on_meta(unet3d, analysis=(), synthesis=()), ValueError, r"contracting must be Contracting\(c1, c2\) rows.*at least 1"),
    Probe("unet3d", "input float64", lambda: U3(meta(1, 3, 132, 132, 116, dtype=torch.float64)), TypeError, FLOAT32),
    Probe("unet3d", "input 4-D", lambda: U3(meta(1, 132, 132, 116)), ValueError, r"3D U-Net expects a 5-D input \(N, C, H, W, D\) with C=3"),
    Probe("unet3d", "tile too small", lambda: U3(meta(1, 3, 60, 132, 116)), ValueError, r"3D U-Net with valid \(unpadded\) convolutions needs 8k \+ 60 voxels per side.*got 60\. Nearest valid sizes: 92$"),
    Probe("unet3d", "sparse_weights float labels", lambda: sparse_weights(torch.zeros(1, 2, 2, 2)), TypeError, r"labels must be an integer tensor of class indices.*torch\.float32"),
    Probe("unet3d", "sparse_weights label 5 of 3 classes", lambda: sparse_weights(torch.full((1, 2, 2, 2), 5), (1.0, 1.0, 1.0)), ValueError, r"labels must be classes in \[0, 2\] or unlabeled = 3; got labels from 5 to 5"),
    Probe("unet3d", "sparse_weights negative label", lambda: sparse_weights(torch.full((1, 2, 2, 2), -1)), ValueError, r"labels must be classes in 0, 1, 2, … or unlabeled = 3; got labels from -1"),
    Probe("unet3d", "sparse_weights negative weight", lambda: sparse_weights(torch.zeros(1, 2, dtype=torch.long), (1.0, -1.0, 1.0)), ValueError, r"class_weights\[1\] must be a finite number >= 0.*got -1\.0"),
    Probe("unet3d", "sparse_weights class_weights='abc'", lambda: sparse_weights(torch.zeros(1, 2, dtype=torch.long), "abc"), TypeError, r"class_weights must be one non-negative weight per class.*got 'abc'"),
    Probe("unet3d", "sparse_weights unlabeled=-1", lambda: sparse_weights(torch.zeros(1, 2, dtype=torch.long), unlabeled=-1), ValueError, r"unlabeled must be a non-negative integer.*got -1"),
    Probe("unet3d", "sparse_cross_entropy 2 weights for 3 classes", lambda: sparse_cross_entropy(torch.zeros(1, 3, 2, 2, 2), torch.zeros(1, 2, 2, 2, dtype=torch.long), (1.0, 1.0)), ValueError, r"class_weights must give one weight per class, 3 for 3 logit channels; got 2"),
    Probe("unet3d", "sparse_cross_entropy label 4", lambda: sparse_cross_entropy(torch.zeros(1, 3, 2, 2, 2), torch.full((1, 2, 2, 2), 4)), ValueError, r"labels must be classes in \[0, 2\] or unlabeled = 3; got labels from 4 to 4"),
    Probe("unet3d", "sparse_cross_entropy numpy logits", lambda: sparse_cross_entropy(np.zeros((1, 3, 2, 2, 2)), torch.zeros(1, 2, 2, 2, dtype=torch.long)), TypeError, ARRAY),
    Probe("unet3d", "sparse_cross_entropy reduction='none'", lambda: sparse_cross_entropy(torch.zeros(1, 3, 2, 2, 2), torch.zeros(1, 2, 2, 2, dtype=torch.long), reduction="none"), ValueError, r'reduction must be "sum" or "mean"; got \'none\''),
    # ------------------------------------------------------------------ V-Net
    Probe("vnet", "in_channels=0", lambda: on_meta(VNet, in_channels=0), ValueError, rf"in_channels {POSITIVE}.*got 0"),
    Probe("vnet", "num_classes=0", lambda: on_meta(VNet, num_classes=0), ValueError, rf"num_classes {POSITIVE}.*got 0"),
    Probe("vnet", "kernel_size=4", lambda: on_meta(VNet, kernel_size=4), ValueError, r"kernel_size must be odd .*the paper uses 5.*got 4"),
    Probe("vnet", "kernel_size=5.0", lambda: on_meta(VNet, kernel_size=5.0), ValueError, r"kernel_size must be odd .*the paper uses 5.*got 5\.0"),
    Probe("vnet", "left=()", lambda: on_meta(VNet, left=(), right=()), ValueError, r"left must be Stage\(convs, channels\) rows.*at least 1"),
    Probe("vnet", "left channels 0", lambda: on_meta(VNet, left=(LEFT[0], Stage(2, 0), *LEFT[2:])), ValueError, rf"left\[1\]\.channels {POSITIVE}.*got 0"),
    Probe("vnet", "4 convolutions in a stage", lambda: on_meta(VNet, left=(Stage(4, 16), *LEFT[1:])), ValueError, r"each stage comprises one to three convolutional layers \(Sec\. 2\); got 4"),
    Probe("vnet", "input numpy", lambda: VN(np.zeros((1, 1, 16, 16, 16), np.float32)), TypeError, ARRAY),
    Probe("vnet", "input float64", lambda: VN(meta(1, 1, 16, 16, 16, dtype=torch.float64)), TypeError, FLOAT32),
    Probe("vnet", "input int64", lambda: VN(meta(1, 1, 16, 16, 16, dtype=torch.long)), TypeError, FLOATING),
    Probe("vnet", "input too small for 4 halvings", lambda: VN(meta(1, 1, 8, 16, 16)), ValueError, r"divisible by 16 .*8 → 16"),
    Probe("vnet", "input 0 deep", lambda: VN(meta(1, 1, 0, 16, 16)), ValueError, r"V-Net expects spatial sizes of at least 1"),
    Probe("vnet", "ResidualStage in_channels=0", lambda: ResidualStage(0, 16, 1), ValueError, rf"in_channels {POSITIVE}.*got 0"),
    Probe("vnet", "ResidualStage 3 → 16", lambda: ResidualStage(3, 16, 1), ValueError, r"channels must be a multiple of in_channels; got 3 → 16"),
    Probe("vnet", "ResidualStage convs=0", lambda: ResidualStage(16, 16, 0), ValueError, rf"convs {POSITIVE}.*got 0"),
    Probe("vnet", "ResidualStage kernel_size=2", lambda: ResidualStage(16, 16, 1, kernel_size=2), ValueError, r"kernel_size must be odd.*got 2"),
    Probe("vnet", "ResidualStage input channels", lambda: on_meta(ResidualStage, 1, 16, 1)(meta(1, 2, 4, 4, 4)), ValueError, r"ResidualStage expects 1 input channels.*got 2"),
    Probe("vnet", "prelu channels=0", lambda: prelu(0), ValueError, rf"channels {POSITIVE}.*got 0"),
    # ------------------------------------------------------------------ losses
    Probe("losses", "dice p numpy", lambda: dice_coefficient(np.zeros(4), torch.zeros(4)), TypeError, r"dice_coefficient p " + ARRAY),
    Probe("losses", "dice p int64", lambda: dice_coefficient(torch.zeros(4, dtype=torch.long), torch.zeros(4)), TypeError, r"p must be a floating-point tensor.*torch\.int64"),
    Probe("losses", "dice p logits > 1", lambda: dice_coefficient(torch.tensor([2.5, -1.0]), torch.tensor([1.0, 0.0])), ValueError, r"p must hold values in \[0, 1\].*got values from -1 to 2\.5"),
    Probe("losses", "dice p negative", lambda: dice_coefficient(torch.tensor([-0.5, 0.5]), torch.tensor([1.0, 0.0])), ValueError, r"p must hold values in \[0, 1\].*from -0\.5"),
    Probe("losses", "dice p NaN", lambda: dice_coefficient(torch.tensor([NAN, 0.5]), torch.tensor([1.0, 0.0])), ValueError, r"p must hold values in \[0, 1\].*nan"),
    Probe("losses", "dice g with 2", lambda: dice_coefficient(torch.tensor([0.5, 0.5]), torch.tensor([2, 0])), ValueError, r"g must hold values in \[0, 1\].*got values from 0 to 2"),
    Probe("losses", "dice g numpy", lambda: dice_coefficient(torch.zeros(4), np.zeros(4)), TypeError, r"dice_coefficient g " + ARRAY),
    Probe("losses", "dice smooth=NaN", lambda: dice_coefficient(torch.zeros(4), torch.zeros(4), NAN), ValueError, r"smooth must be a finite number >= 0.*got nan"),
    Probe("losses", "dice smooth='1'", lambda: dice_coefficient(torch.zeros(4), torch.zeros(4), "1"), TypeError, r"smooth must be a finite number >= 0.*got '1'"),
    Probe("losses", "dice shapes differ", lambda: dice_coefficient(torch.zeros(2, 3), torch.zeros(3, 2)), ValueError, r"same shape; got \(2, 3\) and \(3, 2\)"),
    Probe("losses", "dice_gradient p > 1", lambda: dice_gradient(torch.tensor([1.5]), torch.tensor([1.0])), ValueError, r"dice_gradient: p must hold values in \[0, 1\]"),
    Probe("losses", "dice_loss 1-D", lambda: dice_loss(torch.zeros(4), torch.zeros(4)), ValueError, r"dice_loss takes a batch \(N, \*spatial\).*got shape \(4,\)"),
    Probe("losses", "dice_loss empty batch", lambda: dice_loss(torch.zeros(0, 4), torch.zeros(0, 4)), ValueError, r"dice_loss takes a batch \(N, \*spatial\) of at least one volume; got shape \(0, 4\)"),
    Probe("losses", "DiceLoss smooth=-1", lambda: DiceLoss(smooth=-1), ValueError, r"smooth must be a finite number >= 0.*got -1"),
    Probe("losses", "DiceLoss foreground=-1", lambda: DiceLoss(foreground=-1), ValueError, r"foreground must be a non-negative integer.*got -1"),
    Probe("losses", "DiceLoss foreground=1.0", lambda: DiceLoss(foreground=1.0), TypeError, r"foreground must be a non-negative integer.*got 1\.0"),
    Probe("losses", "DiceLoss label 2 of 2 classes", lambda: DiceLoss()(PROBS, LABELS + 2), ValueError, r"labels must be class indices in \[0, 1\] for 2 probability channels; got labels from 2 to 2"),
    Probe("losses", "DiceLoss negative label", lambda: DiceLoss()(PROBS, LABELS - 1), ValueError, r"labels must be class indices in \[0, 1\].*from -1"),
    Probe("losses", "DiceLoss float labels", lambda: DiceLoss()(PROBS, LABELS.float()), TypeError, r"DiceLoss labels must be an integer tensor of class indices.*torch\.float32"),
    Probe("losses", "DiceLoss int64 probabilities", lambda: DiceLoss()(PROBS.long(), LABELS), TypeError, r"DiceLoss probabilities must be a floating-point tensor.*torch\.int64"),
    Probe("losses", "DiceLoss numpy probabilities", lambda: DiceLoss()(PROBS.numpy(), LABELS), TypeError, ARRAY),
    Probe("losses", "DiceLoss logits for probabilities", lambda: DiceLoss()(PROBS * 10 - 5, LABELS), ValueError, r"p must hold values in \[0, 1\]"),
    Probe("losses", "DiceLoss foreground=2 of 2 channels", lambda: DiceLoss(foreground=2)(PROBS, LABELS), ValueError, r"foreground must be a channel of the probabilities, in \[0, 1\]; got 2 for 2 channels"),
    Probe("losses", "DiceLoss spatial mismatch", lambda: DiceLoss()(PROBS, LABELS[..., :3]), ValueError, r"DiceLoss takes probabilities \(N, C, \*spatial\) and labels \(N, \*spatial\)"),
    # ------------------------------------------------------------------ augment
    Probe("augment", "shape of 1 axis", lambda: random_displacement((10,), rng()), ValueError, r"shape must have 2 or 3 spatial axes of at least 2 pixels; got \(10,\)"),
    Probe("augment", "shape side 1", lambda: random_displacement((1, 10), rng()), ValueError, r"shape\[0\] must be an integer >= 2.*got 1"),
    Probe("augment", "shape '64'", lambda: random_displacement("64", rng()), TypeError, r"shape must be a spatial shape of 2 or 3 axes.*got '64'"),
    Probe("augment", "shape 64.5", lambda: random_displacement((64.5, 64), rng()), TypeError, r"shape\[0\] must be an integer >= 2.*got 64\.5"),
    Probe("augment", "rng=0", lambda: random_displacement((64, 64), 0), TypeError, r"rng must be a numpy\.random\.Generator, e\.g\. np\.random\.default_rng\(0\); got 0"),
    Probe("augment", "grid=1", lambda: random_displacement((64, 64), rng(), grid=1), ValueError, r"grid\[0\] must be an integer >= 2.*got 1"),
    Probe("augment", "grid of 1 axis for 2", lambda: random_displacement((64, 64), rng(), grid=(3,)), ValueError, r"grid must give at least 2 control points per axis for 2 axes; got \(3,\)"),
    Probe("augment", "grid=3.0", lambda: random_displacement((64, 64), rng(), grid=3.0), TypeError, r"grid must be an integer or 2 integers >= 2.*got 3\.0"),
    Probe("augment", "sigma=-1", lambda: random_displacement((64, 64), rng(), sigma=-1), ValueError, r"sigma must be a finite number >= 0 \(pixels, 10 in U-Net\); got -1"),
    Probe("augment", "sigma=NaN", lambda: random_displacement((64, 64), rng(), sigma=NAN), ValueError, r"sigma must be a finite number >= 0.*got nan"),
    Probe("augment", "sigma=inf", lambda: random_displacement((64, 64), rng(), sigma=INF), ValueError, r"sigma must be a finite number >= 0.*got inf"),
    Probe("augment", "sigma='10'", lambda: random_displacement((64, 64), rng(), sigma="10"), TypeError, r"sigma must be a finite number >= 0.*got '10'"),
    Probe("augment", "deform tensor image", lambda: deform(torch.zeros(8, 8), None, FIELD), TypeError, r"deform image must be a numpy\.ndarray \(convert it with x\.numpy\(\)\); got a tensor"),
    Probe("augment", "deform list displacement", lambda: deform(IMAGE, None, FIELD.tolist()), TypeError, r"deform displacement must be a numpy\.ndarray; got \[\["),
    Probe("augment", "deform NaN displacement", lambda: deform(IMAGE, None, FIELD + NAN), ValueError, r"displacement must be finite; got NaN or infinite values"),
    Probe("augment", "deform 4-D image for 2-D field", lambda: deform(np.zeros((2, 2, 8, 8)), None, FIELD), ValueError, r"image must be \(\*spatial\) or \(C, \*spatial\) with 2 spatial axes; got shape \(2, 2, 8, 8\)"),
    Probe("augment", "deform labels shape", lambda: deform(IMAGE, np.zeros((4, 4), int), FIELD), ValueError, r"labels must have the spatial shape \(8, 8\); got \(4, 4\)"),
    Probe("augment", "deform order=7", lambda: deform(IMAGE, None, FIELD, order=7), ValueError, r"order must be an integer in \[0, 5\] \(the spline order, 3 for cubic\); got 7"),
    Probe("augment", "deform order=1.5", lambda: deform(IMAGE, None, FIELD, order=1.5), TypeError, r"order must be an integer in \[0, 5\].*got 1\.5"),
    Probe("augment", "deform 0x0 field", lambda: deform(np.zeros((0, 0)), None, np.zeros((2, 0, 0))), ValueError, r"displacement must cover at least one pixel per axis; got shape \(2, 0, 0\)"),
    Probe("augment", "deform 4-axis field", lambda: deform(np.zeros((5,) * 4), None, np.zeros((4, 5, 5, 5, 5))), ValueError, r"displacement must have shape \(dims, \*spatial\) with dims = len\(spatial\) = 2 or 3"),
    Probe("augment", "deform string image", lambda: deform(np.full((8, 8), "a"), None, FIELD), TypeError, r"deform image must hold real numbers.*got dtype <U1"),
    Probe("augment", "deform float16 image", lambda: deform(IMAGE.astype(np.float16), None, FIELD), TypeError, r"deform image must be bool, integer, float32 or float64.*got dtype float16"),
    Probe("augment", "elastic_deform list image", lambda: elastic_deform([[0.0] * 8] * 8, None, rng()), TypeError, r"elastic_deform image must be a numpy\.ndarray; got \[\["),
    Probe("augment", "elastic_deform 1-D image", lambda: elastic_deform(np.zeros(8), None, rng()), ValueError, r"without labels, image must be \(H, W\) or \(D, H, W\); got shape \(8,\)"),
    Probe("augment", "elastic_deform sigma=-3", lambda: elastic_deform(IMAGE, None, rng(), sigma=-3), ValueError, r"sigma must be a finite number >= 0.*got -3"),
    # ------------------------------------------------------------------ analysis
    Probe("analysis", "analyse model='x'", lambda: analyse("x", (1, 3, 8, 8)), TypeError, r"model must be a torch\.nn\.Module \(e\.g\. on_meta\(MobileNetV1\)\); got 'x'"),
    Probe("analysis", "analyse size 0", lambda: analyse(CNA, (1, 3, 0, 8)), ValueError, rf"input_shape\[2\] {POSITIVE}.*got 0"),
    Probe("analysis", "analyse shape '1,3,8,8'", lambda: analyse(CNA, "1,3,8,8"), TypeError, r"input_shape must be a shape \(N, C, \*spatial\) of positive sizes.*got '1,3,8,8'"),
    Probe("analysis", "analyse size 8.5", lambda: analyse(CNA, (1, 3, 8.5, 8)), TypeError, rf"input_shape\[2\] {POSITIVE}.*got 8\.5"),
    Probe("analysis", "analyse wrong channels", lambda: analyse(CNA, (1, 1, 8, 8)), ValueError, r"ConvNormActivation expects 3 input channels.*got 1"),
    Probe("analysis", "on_meta 42", lambda: on_meta(42), TypeError, r"on_meta needs a model class or factory such as MobileNetV1; got 42"),
    Probe("analysis", "to_meta 'x'", lambda: to_meta("x"), TypeError, r"model must be a torch\.nn\.Module.*got 'x'"),
    Probe("analysis", "count_params modules as names", lambda: count_params(CNA, ["BatchNorm2d"]), TypeError, r"modules must be module classes such as \[nn\.BatchNorm2d\]; got \['BatchNorm2d'\]"),
    Probe("analysis", "count_params 'x'", lambda: count_params("x"), TypeError, r"model must be a torch\.nn\.Module.*got 'x'"),
    Probe("analysis", "receptive_field no spatial axis", lambda: receptive_field(nn.Linear(3, 3), (1, 3)), ValueError, r"input_shape must be \(N, C, \*spatial\) with at least one spatial axis; got \(1, 3\)"),
    Probe("analysis", "receptive_field size -4", lambda: receptive_field(CNA, (1, 3, -4, 4)), ValueError, rf"input_shape\[2\] {POSITIVE}.*got -4"),
    Probe("analysis", "layer_type 'conv'", lambda: layer_type("conv"), TypeError, r"module must be a torch\.nn\.Module.*got 'conv'"),
]

MODULES = ("layers", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3", "unet", "unet3d", "vnet", "losses", "augment", "analysis")


def outcome(probe: Probe) -> tuple[bool, str]:
    """``(handled, what happened)``: handled means ``probe.error`` with a one-line message matching ``probe.match``."""
    try:
        result = probe.call()
    except Exception as error:  # noqa: BLE001 — the probe is about which exception, and its message
        message = str(error)
        if not isinstance(error, probe.error):
            return False, f"{type(error).__name__}: {message.splitlines()[0] if message else ''}"
        if "\n" in message:
            return False, f"multi-line {type(error).__name__}: {message.splitlines()[0]}"
        if not re.search(probe.match, message):
            return False, f"{type(error).__name__} not matching {probe.match!r}: {message}"
        return True, message
    shown = f"shape {tuple(result.shape)}" if isinstance(result, (torch.Tensor, np.ndarray)) else type(result).__name__
    return False, f"no error: returned {shown}"


def test_the_probe_set_covers_every_module_with_at_least_100_bad_inputs():
    assert len(PROBES) >= 100
    assert {p.module for p in PROBES} == set(MODULES)
    assert len({(p.module, p.name) for p in PROBES}) == len(PROBES)  # names are unique


@pytest.mark.parametrize("probe", PROBES, ids=[f"{p.module}: {p.name}" for p in PROBES])
def test_bad_input_gets_a_one_line_error_naming_what_is_valid(probe):
    handled, what = outcome(probe)
    assert handled, what


# --------------------------------------------------------------------------- valid but unusual inputs: accepted


def test_numpy_scalars_are_taken_for_numbers():
    assert on_meta(MobileNetV1, np.float32(0.75)).classifier.in_features == MobileNetV1(0.75).classifier.in_features == 768
    assert on_meta(MobileNetV2, np.float64(0.5)).specs == on_meta(MobileNetV2, 0.5).specs
    v3 = on_meta(MobileNetV3, "small", np.float32(0.75), num_classes=np.int64(10), in_channels=np.int32(1))
    assert analyse(v3, (1, 1, 64, 64)).output_shape == (1, 10)
    v1 = on_meta(MobileNetV1, num_classes=np.int64(10), in_channels=np.int32(1), separable=np.bool_(True))
    assert analyse(v1, (1, 1, 32, 32)).output_shape == (1, 10)
    v2 = on_meta(MobileNetV2, num_classes=np.int64(10), in_channels=np.int64(1), last_channels=np.int64(1024))
    assert analyse(v2, (1, 1, 32, 32)).output_shape == (1, 10)
    assert analyse(on_meta(UNet, np.int64(1), np.int64(3), **SMALL_UNET), (1, 1, 48, 48)).output_shape == (1, 3, 8, 8)
    assert on_meta(VNet, np.int64(1), np.int64(2)).in_channels == 1
    block = ConvNormActivation(np.int64(3), np.int64(8), np.int64(3), stride=np.int64(2))
    assert type(block.conv.in_channels) is int and block.conv.stride == (2, 2)
    assert InvertedResidual(8, 48, 8, stride=np.int64(1)).use_residual
    assert make_divisible(np.float32(96 * 0.75)) == make_divisible(72) == 72
    assert U.check_size(np.int64(48)) is None and U.output_size(np.int64(48)) == 8


def test_a_float64_model_takes_float64_input():
    torch.manual_seed(0)
    block = ConvNormActivation(3, 8).double().eval()
    x = torch.randn(1, 3, 5, 5, dtype=torch.float64)
    assert block(x).dtype == torch.float64
    model = UNet(**SMALL_UNET).double().eval()
    assert predict_whole(model, torch.randn(1, 1, 20, 20, dtype=torch.float64), 48).shape == (1, 2, 20, 20)


def test_functions_without_parameters_take_any_floating_dtype():
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        x = torch.linspace(-4, 4, 9, dtype=dtype)
        assert h_swish(x).dtype == dtype and h_sigmoid(x).dtype == dtype
    p = torch.rand(10, dtype=torch.float64)
    for g in (p > 0.5, (p > 0.5).long(), (p > 0.5).double()):  # bool, integer or float ground truth
        assert dice_coefficient(p, g).item() == pytest.approx(dice_coefficient(p, (p > 0.5).double()).item())


def test_bool_labels_and_soft_ground_truth_are_accepted():
    labels = torch.zeros(1, 4, 4, 4, dtype=torch.bool)
    labels[0, 1:3, 1:3, 1:3] = True
    perfect = torch.stack([~labels, labels], dim=1).float()
    assert DiceLoss(smooth=0)(perfect, labels).item() == 0.0
    soft = torch.tensor([0.2, 0.8])
    assert 0 <= dice_coefficient(soft, soft).item() <= 1


def test_value_checks_are_skipped_on_meta():
    p, g = meta(2, 4, 4), meta(2, 4, 4)
    assert dice_coefficient(p, g, smooth=0).device.type == "meta"
    assert DiceLoss()(meta(1, 2, 4, 4, 4), meta(1, 4, 4, 4, dtype=torch.long)).device.type == "meta"
    assert weighted_cross_entropy(meta(1, 3, 4, 4), meta(1, 4, 4, dtype=torch.long), meta(1, 4, 4)).device.type == "meta"
    assert sparse_cross_entropy(meta(1, 3, 2, 2, 2), meta(1, 2, 2, 2, dtype=torch.long), (1.0, 1.0, 1.0)).device.type == "meta"


def test_numpy_shapes_and_grids_and_zero_sigma_are_accepted():
    field = random_displacement(np.array([16, 12]), rng(), grid=np.int64(3), sigma=0)
    assert field.shape == (2, 16, 12) and not field.any()  # σ = 0: no displacement
    assert analyse(CNA, (np.int64(1), 3, 8, 8)).output_shape == (1, 8, 8, 8)
    assert count_params(CNA, nn.BatchNorm2d) == count_params(CNA, [nn.BatchNorm2d]) == 16


def test_type_errors_are_value_errors_too_for_code_written_against_the_earlier_errors():
    with pytest.raises(ValueError, match="width_multiplier"):
        MobileNetV1("1.0")  # a TypeError now; it was a ValueError, and still is one
    with pytest.raises(TypeError, match="width_multiplier"):
        MobileNetV1("1.0")


def test_checks_leave_the_outputs_bit_identical():
    torch.manual_seed(0)
    model = MobileNetV3("small", num_classes=5).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        checked = model(x)
        y = x
        for layer in model.features:  # the same layers, called through nn.Sequential's forward
            y = nn.Sequential.forward(layer, y) if isinstance(layer, ConvNormActivation) else layer(y)
        y = model.classifier(model.dropout(model.head(model.pool(y)))).flatten(1)
    assert torch.equal(checked, y)


def summary() -> list[tuple[str, int, int, list[str]]]:
    """Per module: (module, probes, handled, descriptions of the mishandled ones)."""
    rows = []
    for module in MODULES:
        probes = [p for p in PROBES if p.module == module]
        results = [(p, *outcome(p)) for p in probes]
        rows.append((module, len(probes), sum(ok for _, ok, _ in results),
                     [f"{p.name}: {what}" for p, ok, what in results if not ok]))
    return rows


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    total = handled = 0
    print(f"{'module':14} {'probes':>6} {'handled':>7} {'mishandled':>10}")
    for module, n, ok, bad in summary():
        total, handled = total + n, handled + ok
        print(f"{module:14} {n:6} {ok:7} {n - ok:10}")
        for line in bad:
            print("    ", line[:160])
    print(f"{'total':14} {total:6} {handled:7} {total - handled:10}  ({100 * handled / total:.1f} % handled)")
    sys.exit(0 if handled == total else 1)
