"""The shared blocks of refimpl/layers.py."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from refimpl.layers import (
    ConvNormActivation,
    DepthwiseSeparable,
    InvertedResidual,
    SqueezeExcite,
    check_input,
    h_sigmoid,
    h_swish,
    make_divisible,
)


def test_hard_activations_match_their_definitions_and_pytorch():
    x = torch.linspace(-8, 8, 10_001, dtype=torch.float64)
    torch.testing.assert_close(h_sigmoid(x), torch.clamp(x + 3, 0, 6) / 6)
    torch.testing.assert_close(h_swish(x), x * torch.clamp(x + 3, 0, 6) / 6)
    torch.testing.assert_close(h_swish(x), F.hardswish(x))
    torch.testing.assert_close(h_sigmoid(x), F.hardsigmoid(x))


@pytest.mark.parametrize(
    "value, expected",
    [(32 * 1.4, 48), (24 * 0.35, 8), (16 * 0.5, 8), (96 * 0.75, 72), (1280 * 1.4, 1792), (20, 24), (3, 8)],
)
def test_make_divisible_rounds_to_8_never_down_by_more_than_10_percent(value, expected):
    assert make_divisible(value) == expected
    assert make_divisible(value) >= 0.9 * value


def test_make_divisible_refuses_non_positive_widths():
    with pytest.raises(ValueError, match=r"value must be a finite number > 0 \(a channel count\); got 0"):
        make_divisible(0)


def test_conv_norm_activation_names_and_bias_rule():
    block = ConvNormActivation(3, 8, 3, stride=2)
    assert [name for name, _ in block.named_children()] == ["conv", "norm", "act"]
    assert block.conv.bias is None and block.conv.padding == (1, 1)
    linear = ConvNormActivation(8, 4, 1, norm=False, activation=None, dims=3)
    assert [name for name, _ in linear.named_children()] == ["conv"]
    assert isinstance(linear.conv, nn.Conv3d) and linear.conv.bias is not None


def test_unknown_dims_are_refused():
    with pytest.raises(ValueError, match=r"dims must be one of \[1, 2, 3\]"):
        ConvNormActivation(3, 8, dims=4)


@pytest.mark.parametrize(
    "in_c, hidden, out_c, stride, residual",
    [(16, 96, 16, 1, True), (16, 96, 24, 1, False), (16, 96, 16, 2, False), (32, 32, 16, 1, False)],
)
def test_inverted_residual_adds_the_input_only_at_stride_1_with_equal_widths(in_c, hidden, out_c, stride, residual):
    block = InvertedResidual(in_c, hidden, out_c, stride=stride)
    assert block.use_residual is residual
    assert isinstance(block.expand, nn.Identity) is (hidden == in_c)  # t = 1: no expansion layer
    assert not hasattr(block.project, "act")  # linear bottleneck: no non-linearity after the projection


def test_inverted_residual_output_is_input_plus_branch():
    torch.manual_seed(0)
    block = InvertedResidual(8, 48, 8).eval()
    x = torch.randn(2, 8, 6, 6)
    branch = block.project(block.squeeze_excite(block.depthwise(block.expand(x))))
    torch.testing.assert_close(block(x), x + branch)


def test_inverted_residual_refuses_other_strides():
    with pytest.raises(ValueError, match="stride must be one of 1, 2; got 3"):
        InvertedResidual(8, 48, 8, stride=3)


def test_squeeze_excite_rescales_each_channel_by_a_gate_in_0_1():
    torch.manual_seed(0)
    se = SqueezeExcite(8, 2).eval()
    x = torch.randn(1, 8, 5, 5)
    scale = se(x) / x
    per_channel = scale.flatten(2)
    torch.testing.assert_close(per_channel, per_channel[..., :1].expand_as(per_channel))
    assert ((per_channel >= 0) & (per_channel <= 1)).all()


def test_check_input_names_the_expected_layout():
    with pytest.raises(ValueError, match=r"expects 1 input channels \(N, C, H, W, D\); got 2"):
        check_input(torch.empty(1, 2, 4, 4, 4), 1, 3, "3D U-Net")


def test_batch_norm_eps_and_momentum_are_parameters_with_unchanged_defaults():
    default = ConvNormActivation(3, 8)
    assert (default.norm.eps, default.norm.momentum) == (1e-3, 0.1)  # BN_EPS (TF-slim) and PyTorch's momentum
    tuned = ConvNormActivation(3, 8, bn_eps=1e-5, bn_momentum=0.01)
    assert (tuned.norm.eps, tuned.norm.momentum) == (1e-5, 0.01)
    assert ConvNormActivation(3, 8, bn_momentum=None).norm.momentum is None  # cumulative average
    blocks = [DepthwiseSeparable(8, 16, bn_eps=1e-5, bn_momentum=0.01),
              InvertedResidual(8, 48, 8, squeeze_channels=16, bn_eps=1e-5, bn_momentum=0.01)]
    for block in blocks:
        norms = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
        assert norms and all((m.eps, m.momentum) == (1e-5, 0.01) for m in norms)


def test_momentum_is_the_share_of_the_batch_in_the_running_mean():
    # TF's "decay d" is PyTorch's momentum 1 − d: running ← d · running + (1 − d) · batch
    torch.manual_seed(0)
    block = ConvNormActivation(2, 2, 1, bn_momentum=0.01, activation=None)
    x = torch.randn(4, 2, 3, 3)
    block(x)
    batch_mean = block.conv(x).mean(dim=(0, 2, 3)).detach()
    torch.testing.assert_close(block.norm.running_mean, 0.99 * torch.zeros(2) + 0.01 * batch_mean)


def test_block_inputs_are_checked_like_model_inputs():
    with pytest.raises(ValueError, match=r"InvertedResidual expects 8 input channels \(N, C, H, W\); got 4"):
        InvertedResidual(8, 48, 8)(torch.zeros(1, 4, 5, 5))
    with pytest.raises(TypeError, match=r"ConvNormActivation expects an input of dtype torch.float32"):
        ConvNormActivation(3, 8)(torch.zeros(1, 3, 5, 5, dtype=torch.float64))
