"""Tests of refimpl.residual, the ResNet blocks (He et al., arXiv:1512.03385v1): shapes, counts, shortcuts, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
import torch.nn.functional as F

from refimpl.analysis import analyse, count_params, on_meta
from refimpl.residual import BasicBlock, Bottleneck, ZeroPadShortcut, make_shortcut


def _eval(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    module.eval()
    for m in module.modules():  # non-trivial batch-norm statistics, so that BN is not the identity
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return module


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    "factory, input_shape, output_shape",
    [
        (lambda: BasicBlock(64, 64), (2, 64, 56, 56), (2, 64, 56, 56)),
        (lambda: BasicBlock(64, 128, 2), (2, 64, 56, 56), (2, 128, 28, 28)),
        (lambda: BasicBlock(16, 32, 2, "A"), (1, 16, 32, 32), (1, 32, 16, 16)),
        (lambda: BasicBlock(16, 32, 2, "A"), (1, 16, 33, 33), (1, 32, 17, 17)),  # odd: conv and subsampling agree
        (lambda: BasicBlock(16, 16, 1, None), (1, 16, 8, 8), (1, 16, 8, 8)),
        (lambda: Bottleneck(64, 64), (1, 64, 56, 56), (1, 256, 56, 56)),
        (lambda: Bottleneck(256, 128, 2), (1, 256, 56, 56), (1, 512, 28, 28)),
        (lambda: Bottleneck(256, 128, 2, stride_at="3x3"), (1, 256, 56, 56), (1, 512, 28, 28)),
        (lambda: Bottleneck(1024, 512, 2, shortcut="C"), (1, 1024, 14, 14), (1, 2048, 7, 7)),
        (lambda: BasicBlock(8, 16, 2, "A", dims=3), (1, 8, 8, 8, 8), (1, 16, 4, 4, 4)),
        (lambda: Bottleneck(8, 4, 2, dims=3), (1, 8, 8, 8, 8), (1, 16, 4, 4, 4)),
    ],
)
def test_output_shape_table(factory, input_shape, output_shape):
    assert analyse(on_meta(factory), input_shape).output_shape == output_shape


def test_real_forward_pass_of_every_shortcut_option():
    x = torch.randn(2, 16, 9, 9)
    for shortcut in ("A", "B", "C", None):
        y = _eval(BasicBlock(16, 32, 2, shortcut))(x)
        assert y.shape == (2, 32, 5, 5) and torch.isfinite(y).all() and (y >= 0).all()  # ReLU after the addition


# --------------------------------------------------------------------------- counts (Fig. 5, Sec. 4.1)


def test_basic_block_counts():
    # Fig. 5 left at 64-d: two 3×3×64×64 convolutions, batch norm γ, β after each
    block = on_meta(BasicBlock, 64, 64)
    assert count_params(block) == 2 * 9 * 64 * 64 + 2 * 2 * 64 == 73_984
    assert analyse(block, (1, 64, 56, 56)).madds == 2 * 9 * 64 * 64 * 56 * 56


def test_bottleneck_counts_fig5_right():
    # 256-d: 1×1, 64 → 3×3, 64 → 1×1, 256, identity shortcut
    block = on_meta(Bottleneck, 256, 64)
    weights = 256 * 64 + 9 * 64 * 64 + 64 * 256
    assert count_params(block) == weights + 2 * (64 + 64 + 256) == 70_400
    assert analyse(block, (1, 256, 56, 56)).madds == weights * 56 * 56


@pytest.mark.parametrize(
    "shortcut, params",
    [  # BasicBlock(64 → 128, stride 2): 221,184 conv weights + 512 batch-norm parameters in the branch
        ("A", 221_696),  # zero padding: nothing added
        ("B", 221_696 + 64 * 128 + 2 * 128),  # dimensions increase: 1×1 projection + BN
        ("C", 221_696 + 64 * 128 + 2 * 128),
        (None, 221_696),
    ],
)
def test_shortcut_parameters_when_dimensions_increase(shortcut, params):
    assert count_params(on_meta(BasicBlock, 64, 128, 2, shortcut)) == params


def test_option_b_is_identity_and_option_c_a_projection_when_dimensions_match():
    assert isinstance(BasicBlock(64, 64, shortcut="B").shortcut, nn.Identity)
    assert isinstance(BasicBlock(64, 64, shortcut="A").shortcut, nn.Identity)
    c = BasicBlock(64, 64, shortcut="C").shortcut
    assert c.conv.kernel_size == (1, 1) and count_params(c) == 64 * 64 + 2 * 64
    assert BasicBlock(64, 64, shortcut=None).shortcut is None


def test_projection_on_the_256d_bottleneck_doubles_it():
    # Sec. 4.1: replacing the identity with a projection "doubled" time complexity and model size
    identity, projected = on_meta(Bottleneck, 256, 64), on_meta(Bottleneck, 256, 64, shortcut="C")
    assert count_params(projected) - count_params(identity) == 256 * 256 + 2 * 256
    ratio = analyse(projected, (1, 256, 56, 56)).madds / analyse(identity, (1, 256, 56, 56)).madds
    assert ratio == pytest.approx(1 + 65_536 / 69_632)


# --------------------------------------------------------------------------- what the blocks compute


def test_identity_block_adds_its_input_then_relu():
    block = _eval(BasicBlock(8, 8))
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        branch = block.conv2(block.conv1(x))
        assert torch.allclose(block(x), F.relu(branch + x))
        assert not hasattr(block.conv2, "act")  # no ReLU before the addition


def test_plain_block_has_no_shortcut():
    block = _eval(BasicBlock(8, 8, shortcut=None))
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        assert torch.allclose(block(x), F.relu(block.conv2(block.conv1(x))))


def test_zero_pad_shortcut_is_strided_identity_with_zero_channels():
    x = torch.randn(2, 16, 7, 7)
    y = ZeroPadShortcut(16, 32, 2)(x)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2])  # "performed with a stride of 2": every other pixel
    assert torch.equal(y[:, 16:], torch.zeros(2, 16, 4, 4))
    assert count_params(ZeroPadShortcut(16, 32, 2)) == 0


def test_option_a_block_is_branch_plus_padded_input():
    block = _eval(BasicBlock(4, 8, 2, "A"))
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        padded = torch.cat([x[:, :, ::2, ::2], torch.zeros(1, 4, 3, 3)], dim=1)
        assert torch.allclose(block(x), F.relu(block.conv2(block.conv1(x)) + padded))


def test_projection_is_strided_1x1_with_batch_norm():
    proj = make_shortcut(256, 512, 2, "B")
    assert proj.conv.kernel_size == (1, 1) and proj.conv.stride == (2, 2) and proj.conv.bias is None
    assert isinstance(proj.norm, nn.BatchNorm2d) and not hasattr(proj, "act")


@pytest.mark.parametrize("stride_at, reduce_stride, conv_stride", [("1x1", 2, 1), ("3x3", 1, 2)])
def test_bottleneck_stride_position(stride_at, reduce_stride, conv_stride):
    block = Bottleneck(256, 128, 2, stride_at=stride_at)
    assert block.reduce.conv.stride == (reduce_stride,) * 2 and block.conv.conv.stride == (conv_stride,) * 2
    assert block.shortcut.conv.stride == (2, 2)


def test_stride_position_moves_multiply_adds_not_parameters():
    v1, v15 = on_meta(Bottleneck, 256, 128, 2), on_meta(Bottleneck, 256, 128, 2, stride_at="3x3")
    assert count_params(v1) == count_params(v15)
    # the 3×3 gives 28² either way; with the stride in the 3×3 the first 1×1 (256 → 128) gives 56², not 28²
    extra = 256 * 128 * (56 * 56 - 28 * 28)
    assert analyse(v15, (1, 256, 56, 56)).madds - analyse(v1, (1, 256, 56, 56)).madds == extra


def test_attention_sees_the_branch_output_before_the_addition():
    seen = []

    def attention(channels):
        seen.append(channels)
        return ZeroGate()

    class ZeroGate(nn.Module):
        def forward(self, y):
            return torch.zeros_like(y)

    block = _eval(Bottleneck(16, 8, attention=attention))  # 16 → 32: projection shortcut
    x = torch.randn(1, 16, 4, 4)
    with torch.no_grad():
        assert torch.allclose(block(x), F.relu(block.shortcut(x)))  # a zero gate leaves only the shortcut
    assert seen == [32]


def test_batch_norm_eps_and_momentum_reach_every_norm_including_the_projection():
    block = Bottleneck(64, 64, shortcut="B", bn_eps=1e-3, bn_momentum=0.01)
    norms = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 4 and all(m.eps == 1e-3 and m.momentum == 0.01 for m in norms)
    assert all(m.eps == 1e-5 and m.momentum == 0.1 for m in BasicBlock(8, 8).modules() if isinstance(m, nn.BatchNorm2d))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(shortcut="D"), "shortcut must be 'A', 'B', 'C'"),
        (dict(stride=0), "stride must be a positive integer"),
        (dict(stride=True), "stride must be a positive integer"),
        (dict(bn_eps=0), "bn_eps must be a positive number"),
        (dict(bn_momentum=1.5), r"bn_momentum must be a number in \[0, 1\]"),
        (dict(attention="se"), "attention must be None or a callable"),
        (dict(dims=4), "dims must be one of"),
    ],
)
def test_bad_block_arguments_are_refused_with_the_valid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BasicBlock(8, 8, **kwargs)
    with pytest.raises(ValueError, match=message):
        Bottleneck(8, 2, **kwargs)


def test_bottleneck_specific_errors():
    with pytest.raises(ValueError, match="stride_at must be '1x1'"):
        Bottleneck(64, 64, stride_at="first")
    with pytest.raises(ValueError, match="width must be a positive integer"):
        Bottleneck(64, 0)
    with pytest.raises(ValueError, match="expansion must be a positive integer"):
        Bottleneck(64, 16, expansion=0)


def test_option_a_cannot_reduce_channels():
    with pytest.raises(ValueError, match="cannot reduce channels 64 → 32"):
        BasicBlock(64, 32, shortcut="A")
    with pytest.raises(ValueError, match="cannot reduce channels 1024 → 256"):
        Bottleneck(1024, 64, shortcut="A")
    with pytest.raises(ValueError, match="cannot reduce channels"):
        ZeroPadShortcut(8, 4)
