"""Tests of refimpl.resnet against ResNet (He et al., arXiv:1512.03385v1): Table 1, Sec. 4.2, Table 6, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from refimpl.analysis import analyse, count_params, on_meta
from refimpl.residual import BasicBlock, Bottleneck
from refimpl.resnet import (
    DEPTHS,
    STAGES,
    VGG,
    CifarResNet,
    ResNet,
    blocks_for,
    cifar_n,
    init_weights,
    projection_shortcuts,
    weighted_layers,
)

IMAGENET = (1, 3, 224, 224)

# --------------------------------------------------------------------------- Table 1


def test_stages_are_table1():
    # (layer name, width, ×n for 18/34/50/101/152 layers)
    assert [tuple(s) for s in STAGES] == [
        ("conv2_x", 64, (2, 3, 3, 3, 3)),
        ("conv3_x", 128, (2, 4, 4, 4, 8)),
        ("conv4_x", 256, (2, 6, 6, 23, 36)),
        ("conv5_x", 512, (2, 3, 3, 3, 3)),
    ]
    assert blocks_for(50) == (3, 4, 6, 3) and blocks_for(152) == (3, 8, 36, 3)


@pytest.mark.parametrize("depth", DEPTHS)
def test_depth_counts_weighted_layers(depth):
    assert weighted_layers(on_meta(ResNet, depth)) == depth
    assert weighted_layers(on_meta(ResNet, depth, shortcut="C")) == depth  # projections are not counted


@pytest.mark.parametrize("depth, block", [(18, BasicBlock), (34, BasicBlock), (50, Bottleneck), (101, Bottleneck)])
def test_block_type_per_column(depth, block):
    model = on_meta(ResNet, depth)
    assert all(isinstance(b, block) for name in ("conv2_x", "conv5_x") for b in getattr(model, name))


@pytest.mark.parametrize("depth", [18, 50])
def test_output_size_column_of_table1(depth):
    c = analyse(on_meta(ResNet, depth), (2, 3, 224, 224))
    last = {name: [l for l in c.layers if l.name.startswith(name + ".")][-1].output_shape
            for name in ("conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x")}
    width = 1 if depth < 50 else 4
    assert last == {
        "conv1": (2, 64, 112, 112),
        "conv2_x": (2, 64 * width, 56, 56),
        "conv3_x": (2, 128 * width, 28, 28),
        "conv4_x": (2, 256 * width, 14, 14),
        "conv5_x": (2, 512 * width, 7, 7),
    }
    assert c.output_shape == (2, 1000)


@pytest.mark.parametrize(
    "depth, shortcut, stride_at, params, madds",
    [  # exact counts at 224²; option B parameters equal torchvision's documented counts
        (18, "A", "1x1", 11_515_688, 1_794_805_760),
        (18, "B", "1x1", 11_689_512, 1_814_073_344),
        (34, "A", "1x1", 21_623_848, 3_644_493_824),
        (34, "B", "1x1", 21_797_672, 3_663_761_408),
        (50, "B", "1x1", 25_557_032, 3_857_973_248),
        (50, "B", "3x3", 25_557_032, 4_089_184_256),  # torchvision's "v1.5": 4.09 GFLOPS documented
        (101, "B", "1x1", 44_549_160, 7_570_194_432),
        (152, "B", "1x1", 60_192_808, 11_282_415_616),
    ],
)
def test_exact_counts(depth, shortcut, stride_at, params, madds):
    c = analyse(on_meta(ResNet, depth, shortcut=shortcut, stride_at=stride_at), IMAGENET)
    assert (c.params, c.madds) == (params, madds)


def test_option_a_and_plain_have_the_same_counts():
    a, plain = analyse(on_meta(ResNet, 34, shortcut="A"), IMAGENET), analyse(on_meta(ResNet, 34, shortcut=None), IMAGENET)
    assert (a.params, a.madds) == (plain.params, plain.madds)


@pytest.mark.parametrize("depth, b, c", [(34, 3, 16), (50, 4, 16), (152, 4, 50)])
def test_projection_shortcuts_per_option(depth, b, c):
    # B: where dimensions increase (the first block of each stage whose width changes); C: every block
    assert projection_shortcuts(on_meta(ResNet, depth, shortcut="B")) == b
    assert projection_shortcuts(on_meta(ResNet, depth, shortcut="C")) == c
    assert projection_shortcuts(on_meta(ResNet, depth, shortcut="A")) == 0


def test_real_forward_pass_small_input():
    torch.manual_seed(0)
    model = init_weights(ResNet(18, num_classes=5)).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 5) and torch.isfinite(y).all()


def test_stem_is_7x7_stride_2_then_3x3_max_pool_stride_2():
    model = on_meta(ResNet, 34)
    assert model.conv1.conv.kernel_size == (7, 7) and model.conv1.conv.stride == (2, 2)
    assert (model.pool1.kernel_size, model.pool1.stride) == (3, 2)


# --------------------------------------------------------------------------- CIFAR-10 (Sec. 4.2, Table 6)


@pytest.mark.parametrize(
    "depth, n, params",
    [  # option A, 10 classes; Table 6 prints 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M
        (20, 3, 269_722),
        (32, 5, 464_154),
        (44, 7, 658_586),
        (56, 9, 853_018),
        (110, 18, 1_727_962),
        (1202, 200, 19_421_274),
    ],
)
def test_cifar_counts_table6(depth, n, params):
    model = on_meta(CifarResNet, depth)
    assert cifar_n(depth) == model.n == n
    assert count_params(model) == params
    assert weighted_layers(model) == 6 * n + 2 == depth


def test_cifar_resnet20_by_hand():
    # 3×3×3×16, then 2n convolutions per map size with 16, 32, 64 filters, BN after each, fc 64 → 10
    convs = 9 * 3 * 16 + 6 * 9 * 16 * 16 + (9 * 16 * 32 + 5 * 9 * 32 * 32) + (9 * 32 * 64 + 5 * 9 * 64 * 64)
    norms = 2 * (16 * 7 + 32 * 6 + 64 * 6)
    assert count_params(on_meta(CifarResNet, 20)) == convs + norms + 64 * 10 + 10


def test_cifar_maps_32_16_8_and_option_a_everywhere():
    c = analyse(on_meta(CifarResNet, 20), (2, 3, 32, 32))
    outs = [[l for l in c.layers if l.name.startswith(f"stages.{i}.")][-1].output_shape for i in range(3)]
    assert outs == [(2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)] and c.output_shape == (2, 10)
    assert projection_shortcuts(on_meta(CifarResNet, 110)) == 0


def test_cifar_real_forward_pass():
    torch.manual_seed(0)
    model = init_weights(CifarResNet(20)).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 10) and torch.isfinite(y).all()


# --------------------------------------------------------------------------- VGG (Fig. 3 left)


@pytest.mark.parametrize(
    "depth, params, madds",
    [(16, 138_357_544, 15_470_264_320), (19, 143_667_240, 19_632_062_464)],  # torchvision's vgg16/vgg19 counts
)
def test_vgg_counts(depth, params, madds):
    c = analyse(on_meta(VGG, depth), IMAGENET)
    assert (c.params, c.madds, c.output_shape) == (params, madds, (1, 1000))
    assert weighted_layers(on_meta(VGG, depth)) == depth


# --------------------------------------------------------------------------- initialisation


def test_init_weights_is_he_normal_on_fan_in():
    torch.manual_seed(0)
    model = init_weights(ResNet(18))
    w = model.conv4_x[1].conv1.conv.weight  # 3×3×256 → 256: fan-in 2304
    assert w.std().item() == pytest.approx(math.sqrt(2 / 2304), rel=0.02)
    assert init_weights(on_meta(ResNet, 18)).conv1.conv.weight.device.type == "meta"


# --------------------------------------------------------------------------- errors


def test_bad_arguments_name_the_valid_values():
    with pytest.raises(ValueError, match=r"depth must be one of Table 1's \[18, 34, 50, 101, 152\]; got 42"):
        ResNet(42)
    with pytest.raises(ValueError, match=r"6n\+2 layers \(e.g. 20, 32, 44, 56, 110, 1202\); got 21"):
        CifarResNet(21)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        ResNet(18, num_classes=0)
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        CifarResNet(20, in_channels=True)
    with pytest.raises(ValueError, match="shortcut must be 'A', 'B', 'C'"):
        ResNet(18, shortcut="D")
    with pytest.raises(ValueError, match="VGG depth must be one of"):
        VGG(11)


def test_wrong_input_layout_is_refused():
    model = on_meta(ResNet, 18)
    with pytest.raises(ValueError, match="ResNet expects 3 input channels"):
        model(torch.empty(1, 1, 224, 224, device="meta"))
    with pytest.raises(ValueError, match="ResNet expects a 4-D input"):
        model(torch.empty(3, 224, 224, device="meta"))
    assert isinstance(model.fc, nn.Linear) and model.fc.in_features == 512
