"""Tests of refimpl.mobilenet_v2 against MobileNetV2 (arXiv:1801.04381v4): shapes, counts, rounding, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from refimpl.analysis import analyse, on_meta
from refimpl.layers import InvertedResidual, make_divisible
from refimpl.mobilenet_v2 import (
    BOTTLENECKS,
    MobileNetV2,
    block_specs,
    last_width,
    operations,
    width,
)

# --------------------------------------------------------------------------- Table 2


def test_bottleneck_rows_are_table2():
    # (t, c, n, s) of Table 2's seven bottleneck rows, top to bottom
    assert [tuple(row) for row in BOTTLENECKS] == [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ]


def test_table2_has_17_bottleneck_layers_not_19():
    # Sec. 4 says "19 residual bottleneck layers"; the n column sums to 17.
    assert len(block_specs()) == sum(row.n for row in BOTTLENECKS) == 17
    assert len(on_meta(MobileNetV2).bottlenecks) == 17


@pytest.mark.parametrize(
    "row, height, channels",
    [  # Table 2's input column: input of the first layer of each bottleneck row
        (0, 112, 32), (1, 112, 16), (2, 56, 24), (3, 28, 32), (4, 14, 64), (5, 14, 96), (6, 7, 160),
    ],
)
def test_input_column_of_table2(row, height, channels):
    first = sum(r.n for r in BOTTLENECKS[:row])
    ops = {op.name: op for op in operations(on_meta(MobileNetV2), (1, 3, 224, 224))}
    assert ops[f"bottlenecks.{first}"].input_shape == (1, channels, height, height)


@pytest.mark.parametrize(
    "width_multiplier, resolution, expected",
    [
        (1.0, 224, (2, 1000)),
        (1.4, 224, (2, 1000)),
        (0.35, 96, (2, 1000)),
        (0.5, 160, (2, 1000)),
        (1.0, 225, (2, 1000)),  # odd sizes are fine: the pool is adaptive
    ],
)
def test_output_shapes(width_multiplier, resolution, expected):
    c = analyse(on_meta(MobileNetV2, width_multiplier), (2, 3, resolution, resolution))
    assert c.output_shape == expected


def test_feature_map_is_input_over_32():
    c = analyse(on_meta(MobileNetV2), (1, 3, 224, 224))
    last = next(l for l in c.layers if l.name == "last.conv")
    assert last.input_shape == (1, 320, 7, 7) and last.output_shape == (1, 1280, 7, 7)


def test_real_forward_pass_small_input():
    torch.manual_seed(0)
    model = MobileNetV2(0.35, num_classes=10).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 10) and torch.isfinite(y).all()


# --------------------------------------------------------------------------- the block (Table 1)


def test_residual_used_exactly_where_stride_1_and_widths_match():
    # stride-1 layers whose width changes (32→16, 64→96, 160→320) have no shortcut
    specs = block_specs()
    assert [b.residual for b in specs] == [
        False, False, True, False, True, True, False, True, True, True, False, True, True, False, True, True, False,
    ]
    assert [m.use_residual for m in on_meta(MobileNetV2).bottlenecks] == [b.residual for b in specs]
    assert sum(b.residual for b in specs) == 10


def test_first_block_with_t_1_has_no_expansion_conv():
    model = on_meta(MobileNetV2)
    assert isinstance(model.bottlenecks[0].expand, nn.Identity)
    assert all(not isinstance(b.expand, nn.Identity) for b in model.bottlenecks[1:])


def test_block_is_linear_after_projection_and_relu6_inside():
    block = on_meta(MobileNetV2).bottlenecks[1]
    assert not hasattr(block.project, "act")  # linear bottleneck
    assert isinstance(block.expand.act, nn.ReLU6) and isinstance(block.depthwise.act, nn.ReLU6)
    assert block.depthwise.conv.groups == block.depthwise.conv.in_channels == 96  # 16 · t, t = 6


def test_expansion_applied_to_input_size():
    # "for a bottleneck layer that takes 64-channel input tensor and produces a tensor with 128 channels,
    # the intermediate expansion layer is then 64 · 6 = 384 channels" (Sec. 4)
    assert [b.hidden_channels for b in block_specs()][7:11] == [384, 384, 384, 384]  # 14² rows, input 64


@pytest.mark.parametrize("h, t, d1, d2", [(14, 6, 64, 96), (28, 6, 32, 32), (7, 3, 160, 320), (56, 2, 24, 24)])
def test_block_madds_formula(h, t, d1, d2):
    # Sec. 3.3: h · w · d′ · t(d′ + k² + d″), stride 1, k = 3
    block = on_meta(InvertedResidual, d1, t * d1, d2)
    assert analyse(block, (1, d1, h, h)).madds == h * h * d1 * t * (d1 + 9 + d2)


def test_residual_block_adds_its_input():
    torch.manual_seed(0)
    block = InvertedResidual(8, 48, 8).eval()
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        branch = block.project(block.depthwise(block.expand(x)))
        assert torch.allclose(block(x), x + branch)


# --------------------------------------------------------------------------- counts


def test_exact_counts_alpha_1():
    # α = 1, 224², TF reference configuration (no expansion in the t = 1 block, classifier a 1×1 conv with bias)
    c = analyse(on_meta(MobileNetV2), (1, 3, 224, 224))
    assert c.madds == 300_774_272  # printed "300M"
    assert c.weight_params == 3_469_760  # TF README's 3.47M; printed "3.4M"
    assert c.params == 3_504_872  # + batch norm and bias: torchvision's count


def test_exact_counts_alpha_1_4():
    # α = 1.4, 224², ÷8 rounding, last layer 1792: TF README 582M / 6.06M; printed 585M / 6.9M
    c = analyse(on_meta(MobileNetV2, 1.4), (1, 3, 224, 224))
    assert c.madds == 582_195_824
    assert c.weight_params == 6_059_840
    assert c.params == 6_108_776


# --------------------------------------------------------------------------- width multiplier


@pytest.mark.parametrize(
    "channels, alpha, expected",
    [(32, 1.4, 48), (16, 1.4, 24), (24, 1.4, 32), (96, 1.4, 136), (320, 1.4, 448), (32, 0.35, 16), (16, 0.35, 8),
     (24, 0.5, 16), (160, 0.75, 120), (1280, 1.4, 1792)],
)
def test_width_rounds_to_multiple_of_8_like_the_tf_reference(channels, alpha, expected):
    assert width(channels, alpha) == expected
    assert expected % 8 == 0


def test_make_divisible_never_rounds_down_more_than_10_percent():
    assert make_divisible(11.2) == 16  # 8 would be more than 10 % below 11.2
    assert make_divisible(44.8) == 48  # 1.4 · 32: tensorflow/models#5279
    assert make_divisible(5.6) == 8  # min_value


@pytest.mark.parametrize("alpha, expected", [(0.35, 1280), (0.5, 1280), (0.75, 1280), (1.0, 1280), (1.4, 1792)])
def test_last_layer_not_thinned_below_1(alpha, expected):
    # Sec. 4: "for multipliers less than one, we apply width multiplier to all layers except the very last"
    assert last_width(alpha) == expected
    assert on_meta(MobileNetV2, alpha).last.conv.out_channels == expected


def test_width_multiplier_thins_every_other_layer():
    specs = block_specs(0.5)
    # c = 16, 24, 32, 64, 96, 160, 320 at α = 0.5, rounded to multiples of 8
    assert sorted({b.out_channels for b in specs}) == [8, 16, 32, 48, 80, 160]
    assert on_meta(MobileNetV2, 0.5).stem.conv.out_channels == 16


# --------------------------------------------------------------------------- memory (Sec. 5.1)


def test_a_bottleneck_block_is_one_operation():
    ops = operations(on_meta(MobileNetV2), (1, 3, 224, 224))
    assert [op.name for op in ops] == ["stem.conv"] + [f"bottlenecks.{i}" for i in range(17)] + ["last.conv", "classifier"]
    assert (ops[1].input_elements, ops[1].output_elements) == (112 * 112 * 32, 112 * 112 * 16)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", [0, -1.0, 5, "1.0", None, True])
def test_bad_width_multiplier(bad):
    with pytest.raises(ValueError, match=r"width_multiplier must be .*\(0, 4\]"):
        MobileNetV2(bad)


def test_wrong_number_of_input_channels():
    model = on_meta(MobileNetV2)
    with pytest.raises(ValueError, match=r"MobileNetV2 expects 3 input channels .*got 1"):
        model(torch.empty(1, 1, 224, 224, device="meta"))


def test_wrong_rank_input():
    with pytest.raises(ValueError, match=r"expects a 4-D input \(N, C, H, W\)"):
        on_meta(MobileNetV2)(torch.empty(3, 224, 224, device="meta"))


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 0}, "num_classes must be a positive integer"),
    ({"in_channels": 0}, "in_channels must be a positive integer"),
    ({"channel_divisor": 0}, r"divisor must be a positive integer \(8 in the TF reference"),
    ({"last_channels": -5}, "last_channels must be a positive integer"),
])
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MobileNetV2(**kwargs)
