"""Tests of refimpl.unet: U-Net (Ronneberger et al. 2015, arXiv:1505.04597v1)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from refimpl.analysis import analyse, on_meta
from refimpl.unet import (
    CONTRACTING,
    EXPANDING,
    Contracting,
    Expanding,
    UNet,
    incoming_nodes,
    mirror_pad,
    predict_tiled,
    predict_whole,
    weight_map,
    weighted_cross_entropy,
)

# A depth-3 U-Net small enough for real forward passes; like Fig. 1 its output side is 4 mod 2^depth.
SMALL = dict(
    contracting=(Contracting(4, 4), Contracting(8, 8), Contracting(16, 16), Contracting(32, 32)),
    expanding=(Expanding(16, 16, 16), Expanding(8, 8, 8), Expanding(4, 4, 4)),
)


def conv_layers(cost):
    return [layer for layer in cost.layers if layer.type.startswith(("Conv", "Up-conv"))]


# (options, input shape, output shape): Fig. 1, its "same"-padded variant, and other valid tiles.
SHAPES = [
    (dict(), (1, 1, 572, 572), (1, 2, 388, 388)),
    (dict(), (2, 1, 188, 204), (2, 2, 4, 20)),
    (dict(in_channels=3, num_classes=5), (1, 3, 252, 252), (1, 5, 68, 68)),
    (dict(padding="same"), (1, 1, 256, 128), (1, 2, 256, 128)),
]


@pytest.mark.parametrize("options, input_shape, output_shape", SHAPES)
def test_output_shape(options, input_shape, output_shape):
    assert analyse(on_meta(UNet, **options), input_shape).output_shape == output_shape


def test_fig1_sizes_of_every_convolution():
    """Fig. 1 at 572²: the x-y size after each of the 23 convolutions (up-convolutions included)."""
    sizes = [layer.output_shape[2] for layer in conv_layers(analyse(on_meta(UNet), (1, 1, 572, 572)))]
    assert sizes == [570, 568, 282, 280, 138, 136, 66, 64, 30, 28,
                     56, 54, 52, 104, 102, 100, 200, 198, 196, 392, 390, 388, 388]


def test_23_convolutional_layers_and_channel_widths():
    layers = conv_layers(analyse(on_meta(UNet), (1, 1, 572, 572)))
    assert len(layers) == 23  # "In total the network has 23 convolutional layers" (Sec. 2)
    assert [layer.output_shape[1] for layer in layers] == [
        64, 64, 128, 128, 256, 256, 512, 512, 1024, 1024,
        512, 512, 512, 256, 256, 256, 128, 128, 128, 64, 64, 64, 2]
    assert [c for c, _ in CONTRACTING] == [64, 128, 256, 512, 1024]
    assert [up for up, _, _ in EXPANDING] == [512, 256, 128, 64]  # the up-convolution halves the channels


def test_parameter_count_of_fig1():
    # Fig. 1, 1 input channel, 2 classes, every convolution and up-convolution with a bias.
    expected = 0
    channels = 1
    for c1, c2 in CONTRACTING:
        expected += 9 * channels * c1 + c1 + 9 * c1 * c2 + c2
        channels = c2
    for (up, c1, c2), skip in zip(EXPANDING, (512, 256, 128, 64)):
        expected += 4 * channels * up + up + 9 * (up + skip) * c1 + c1 + 9 * c1 * c2 + c2
        channels = c2
    expected += 64 * 2 + 2
    assert analyse(on_meta(UNet), (1, 1, 572, 572)).params == expected == 31_030_658


def test_valid_tile_sizes_are_16k_plus_124():
    model = on_meta(UNet)
    assert model.tile_rule() == (16, 124, 4)
    assert model.valid_sizes(180, 600) == [16 * k + 124 for k in range(4, 30)]
    for size in range(150, 700):
        assert (model.output_size(size) is not None) == (size in model.valid_sizes(150, 700))


@pytest.mark.parametrize("size, nearest", [(570, "556 and 572"), (573, "572 and 588"), (100, "188")])
def test_invalid_tile_size_names_the_nearest_valid_sizes(size, nearest):
    model = on_meta(UNet)
    with pytest.raises(ValueError, match=rf"16k \+ 124 pixels per side.*got {size}\. Nearest valid sizes: {nearest}$"):
        model(torch.empty(1, 1, size, 572, device="meta"))


def test_same_padding_needs_multiples_of_16():
    model = on_meta(UNet, padding="same")
    with pytest.raises(ValueError, match=r"16k pixels per side.*got 100\. Nearest valid sizes: 96 and 112"):
        model(torch.empty(1, 1, 100, 96, device="meta"))


def test_wrong_channel_count_and_rank_raise():
    model = on_meta(UNet)
    with pytest.raises(ValueError, match="expects 1 input channels"):
        model(torch.empty(1, 3, 572, 572, device="meta"))
    with pytest.raises(ValueError, match="expects a 4-D input"):
        model(torch.empty(1, 572, 572, device="meta"))
    with pytest.raises(ValueError, match='padding must be "valid"'):
        UNet(padding="full")
    with pytest.raises(ValueError, match="one row per pooling"):
        UNet(expanding=EXPANDING[:-1])


def test_dropout_sits_at_the_end_of_the_contracting_path():
    model = UNet(dropout=0.5, **SMALL).train()
    assert isinstance(model.dropout, nn.Dropout) and model.dropout.p == 0.5
    assert isinstance(UNet(**SMALL).dropout, nn.Identity)


def test_incoming_nodes_example_of_sec3():
    assert incoming_nodes(nn.Conv2d(64, 128, 3)) == 9 * 64 == 576
    assert incoming_nodes(nn.ConvTranspose2d(1024, 512, 2, stride=2)) == 1024
    assert incoming_nodes(nn.Conv3d(32, 64, 3)) == 27 * 32


def test_init_std_is_sqrt_2_over_n():
    torch.manual_seed(0)
    model = UNet()
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    z = torch.cat([(m.weight / math.sqrt(2 / incoming_nodes(m))).flatten() for m in convs])
    # 31M standard-normal draws: the std estimate has a standard error of 1/sqrt(2n) ≈ 1.3e-4.
    assert abs(z.std().item() - 1) < 1e-3 and abs(z.mean().item()) < 1e-3
    assert all(m.bias is None or not m.bias.any() for m in convs)


def test_weight_map_against_a_hand_computed_row():
    # One row: cell 1 at columns 0-2, background 3-5, cell 2 at 6-8.
    instances = np.array([[1, 1, 1, 0, 0, 0, 2, 2, 2]])
    w = weight_map(instances, w0=10, sigma=5, class_weights=np.ones((1, 9)))
    # column 4: d1 = 2 (to column 2), d2 = 2 (to column 6); column 3: d1 = 1, d2 = 3; column 0: d1 = 0, d2 = 6
    assert w[0, 4] == pytest.approx(1 + 10 * math.exp(-(2 + 2) ** 2 / 50))
    assert w[0, 3] == pytest.approx(1 + 10 * math.exp(-(1 + 3) ** 2 / 50))
    assert w[0, 0] == pytest.approx(1 + 10 * math.exp(-(0 + 6) ** 2 / 50))
    only_gap = weight_map(instances, class_weights=np.ones((1, 9)), background_only=True)
    assert only_gap[0, 0] == 1 and only_gap[0, 4] == w[0, 4]


def test_weight_map_balances_classes_and_needs_two_cells():
    instances = np.zeros((4, 4), int)
    instances[:1] = 1  # 4 foreground, 12 background pixels
    w = weight_map(instances)
    assert np.allclose(w[instances == 1], 3.0) and np.allclose(w[instances == 0], 1.0)
    with pytest.raises(ValueError, match="non-negative integer"):
        weight_map(np.full((3, 3), -1))


def test_weighted_cross_entropy_is_minus_eq1():
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # (N=1, K=2, 1, 2)
    target = torch.tensor([[[0, 1]]])
    weight = torch.tensor([[[3.0, 0.5]]])
    p0 = math.exp(2) / (math.exp(2) + 1)  # p_{l(x)} at pixel 0 (class 0)
    p1 = math.exp(1) / (1 + math.exp(1))  # at pixel 1 (class 1)
    expected = -(3.0 * math.log(p0) + 0.5 * math.log(p1))
    assert weighted_cross_entropy(logits, target, weight).item() == pytest.approx(expected)
    assert weighted_cross_entropy(logits, target, weight, "mean").item() == pytest.approx(expected / 3.5)


def test_weighted_cross_entropy_matches_torch():
    torch.manual_seed(0)
    logits, target, weight = torch.randn(2, 3, 5, 6), torch.randint(0, 3, (2, 5, 6)), torch.rand(2, 5, 6)
    reference = (F.cross_entropy(logits, target, reduction="none") * weight).sum()
    assert torch.allclose(weighted_cross_entropy(logits, target, weight), reference)


def test_mirror_pad_matches_numpy_reflect_even_wider_than_the_image():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    ours = mirror_pad(x, [(5, 2), (1, 6)])
    reference = np.pad(x.numpy(), [(0, 0), (0, 0), (5, 2), (1, 6)], mode="reflect")
    assert np.array_equal(ours.numpy(), reference)


def test_overlap_tile_prediction_equals_whole_image_prediction():
    torch.manual_seed(0)
    model = UNet(**SMALL).double().eval()
    image = torch.randn(1, 1, 50, 75, dtype=torch.float64)
    tiled, whole = predict_tiled(model, image, 124), predict_whole(model, image, 124)
    assert tiled.shape == (1, 2, 50, 75)
    assert (tiled - whole).abs().max().item() < 1e-9


def test_overlap_tile_needs_valid_convolutions_and_a_valid_tile():
    with pytest.raises(ValueError, match="needs valid convolutions"):
        predict_tiled(UNet(padding="same", **SMALL), torch.zeros(1, 1, 32, 32), 32)
    with pytest.raises(ValueError, match="8k \\+ 60 pixels per side"):
        predict_tiled(UNet(**SMALL), torch.zeros(1, 1, 32, 32), 120)
