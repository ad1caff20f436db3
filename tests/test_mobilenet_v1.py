"""MobileNetV1 (arXiv:1704.04861v1): Table 1 structure, the paper's counts, and bad input."""

import pytest
import torch
from torch import nn

from refimpl.analysis import analyse, on_meta
from refimpl.layers import DepthwiseSeparable
from refimpl.mobilenet_v1 import BODY, MobileNetV1, shallow_body, thin


def cost(*args, resolution=224, **kwargs):
    return analyse(on_meta(MobileNetV1, *args, **kwargs), (1, 3, resolution, resolution))


@pytest.mark.parametrize(
    "alpha, resolution, madds, weights",
    [
        # exact counts: conv + FC multiply-adds; conv + FC weights without biases or batch norm
        (1.0, 224, 568_740_352, 4_209_088),   # Table 6: 569M, 4.2M
        (0.75, 224, 325_400_448, 2_568_144),  # Table 6: 325M, 2.6M
        (0.5, 224, 149_497_088, 1_319_648),   # Table 6: 149M, 1.3M
        (0.25, 224, 41_030_272, 463_600),     # Table 6: 41M, 0.5M
        (1.0, 192, 418_121_728, 4_209_088),   # Table 7: 418M
        (1.0, 128, 186_400_768, 4_209_088),   # Table 7: 186M
    ],
)
def test_multiply_adds_and_weights_match_the_paper_configuration(alpha, resolution, madds, weights):
    c = cost(alpha, resolution=resolution)
    assert (c.madds, c.weight_params) == (madds, weights)


@pytest.mark.parametrize(
    "alpha, resolution, logits",
    [(1.0, 224, (2, 1000)), (0.5, 160, (2, 1000)), (0.25, 128, (2, 1000))],
)
def test_output_shape_for_every_table7_resolution(alpha, resolution, logits):
    assert analyse(on_meta(MobileNetV1, alpha), (2, 3, resolution, resolution)).output_shape == logits


def test_table1_has_28_layers_and_ends_at_7x7x1024():
    c = cost()
    convs = [layer for layer in c.layers if layer.type.startswith("Conv")]
    assert len(convs) == 27 and c.layers[-1].type == "FC"
    assert convs[-1].output_shape == (1, 1024, 7, 7)
    assert [layer.type for layer in convs[:3]] == ["Conv 3×3", "Conv DW 3×3", "Conv 1×1"]


def test_body_is_thirteen_separable_rows_with_four_downsamplings():
    assert len(BODY) == 13
    assert sum(row.s == 2 for row in BODY) == 4  # plus the stride-2 first conv: 224 / 2^5 = 7
    assert [row.c for row in BODY[-2:]] == [1024, 1024]


def test_full_convolution_and_shallow_variants():
    assert round(cost(separable=False).weight_params / 1e6, 1) == 29.3  # Table 4
    shallow = cost(body=shallow_body())
    assert len(shallow_body()) == 8 and round(shallow.madds / 1e6) == 307  # Table 5


def test_width_multiplier_truncates_like_the_reference_and_keeps_8_channels():
    assert [thin(c, 0.25) for c in (32, 64, 1024)] == [8, 16, 256]
    assert thin(32, 0.1) == 8


def test_depthwise_separable_equals_a_per_channel_loop():
    torch.manual_seed(0)
    block = DepthwiseSeparable(4, 6).eval()
    x = torch.randn(2, 4, 9, 9)
    dw = block.depthwise.conv
    per_channel = torch.cat(
        [nn.functional.conv2d(x[:, i : i + 1], dw.weight[i : i + 1], padding=1) for i in range(4)], dim=1
    )
    expected = block.pointwise(block.depthwise.act(block.depthwise.norm(per_channel)))
    torch.testing.assert_close(block(x), expected)


def test_a_real_forward_pass_gives_logits():
    model = MobileNetV1(0.25, num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 128, 128)).shape == (1, 10)


@pytest.mark.parametrize("alpha", [0, -1, 5, float("nan"), "1.0", True])
def test_invalid_width_multiplier_is_refused(alpha):
    with pytest.raises(ValueError, match=r"width_multiplier must be .*in \(0, 4\]"):
        MobileNetV1(alpha)


def test_wrong_input_channels_name_the_expected_shape():
    model = on_meta(MobileNetV1)
    with pytest.raises(ValueError, match=r"expects 3 input channels \(N, C, H, W\); got 1"):
        model(torch.empty(1, 1, 224, 224, device="meta"))
    with pytest.raises(ValueError, match=r"expects a 4-D input"):
        model(torch.empty(3, 224, 224, device="meta"))


def test_num_classes_must_be_positive():
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        MobileNetV1(num_classes=0)
