"""Tests of refimpl.unet3d: 3D U-Net (Çiçek et al. 2016, arXiv:1606.06650v1)."""

import pytest
import torch
from torch import nn

from refimpl.analysis import analyse, on_meta
from refimpl.unet import UNet, weighted_cross_entropy
from refimpl.unet3d import ANALYSIS, PAPER_PARAMS, SYNTHESIS, sparse_cross_entropy, sparse_weights, unet3d

SHAPES = [  # (options, input shape, output shape)
    (dict(), (1, 3, 132, 132, 116), (1, 3, 44, 44, 28)),  # Fig. 2
    (dict(), (2, 3, 92, 100, 124), (2, 3, 4, 12, 36)),
    (dict(in_channels=1, num_classes=2), (1, 1, 116, 116, 116), (1, 2, 28, 28, 28)),
    (dict(padding="same"), (1, 3, 64, 32, 16), (1, 3, 64, 32, 16)),
]


@pytest.mark.parametrize("options, input_shape, output_shape", SHAPES)
def test_output_shape(options, input_shape, output_shape):
    assert analyse(on_meta(unet3d, **options), input_shape).output_shape == output_shape


def test_is_the_2d_unet_class_in_three_dimensions():
    model = on_meta(unet3d)
    assert type(model) is UNet and model.dims == 3 and model.depth == 3
    assert isinstance(model.contract[0].conv1.conv, nn.Conv3d)
    assert isinstance(model.contract[0].conv1.norm, nn.BatchNorm3d)  # "batch normalization before each ReLU"
    assert list(model.contract[0].conv1)[1:] == [model.contract[0].conv1.norm, model.contract[0].conv1.act]


def test_widths_double_before_pooling_and_up_convolutions_keep_channels():
    layers = [l for l in analyse(on_meta(unet3d), (1, 3, 132, 132, 116)).layers if l.type.startswith(("Conv", "Up"))]
    assert [l.output_shape[1] for l in layers] == [32, 64, 64, 128, 128, 256, 256, 512,
                                                   512, 256, 256, 256, 128, 128, 128, 64, 64, 3]
    assert [l.input_shape[1] for l in layers if l.type == "Conv 3×3×3"][8:] == [768, 256, 384, 128, 192, 64]
    assert [c2 for _, c2 in ANALYSIS] == [64, 128, 256, 512] and [up for up, _, _ in SYNTHESIS] == [512, 256, 128]


def test_parameter_count_is_exactly_the_papers():
    # 3 input channels, 3 labels; 3×3×3 and 1×1×1 convolutions with bias, up-convolutions without,
    # batch norm without learned scale/shift (Caffe's BatchNorm layer): Sec. 2's 19069955.
    assert analyse(on_meta(unet3d), (1, 3, 132, 132, 116)).params == PAPER_PARAMS == 19_069_955
    # the same count, split the other way: no convolution bias, but a learned shift would add the same 1 per channel
    biases = sum(m.bias.numel() for m in on_meta(unet3d).modules() if isinstance(m, nn.Conv3d) and m.kernel_size == (3, 3, 3))
    assert biases == 32 + 64 + 64 + 128 + 128 + 256 + 256 + 512 + 256 * 2 + 128 * 2 + 64 * 2
    # PyTorch defaults (affine batch norm, biased up-convolutions) count more
    assert on_meta(unet3d, norm_affine=True, up_bias=True).__class__ is UNet
    assert sum(p.numel() for p in on_meta(unet3d, norm_affine=True, up_bias=True).parameters()) == 19_069_955 + 2 * biases + 896


@pytest.mark.parametrize("shape, nearest", [((130, 132, 116), "124 and 132"), ((132, 132, 117), "116 and 124"), ((60, 132, 116), "92")])
def test_invalid_volume_size_names_the_nearest_valid_sizes(shape, nearest):
    with pytest.raises(ValueError, match=rf"8k \+ 60 voxels per side.*2×2×2 max pooling.*Nearest valid sizes: {nearest}$"):
        on_meta(unet3d)(torch.empty(1, 3, *shape, device="meta"))


def test_wrong_channels_raise():
    with pytest.raises(ValueError, match="expects 3 input channels"):
        on_meta(unet3d)(torch.empty(1, 1, 132, 132, 116, device="meta"))
    with pytest.raises(ValueError, match="expects a 5-D input"):
        on_meta(unet3d)(torch.empty(1, 3, 132, 132, device="meta"))


def test_sparse_weights_zero_on_unlabeled():
    labels = torch.tensor([[0, 1, 2, 3]])
    assert sparse_weights(labels).tolist() == [[1.0, 1.0, 1.0, 0.0]]
    assert sparse_weights(labels, class_weights=(5.0, 1.0, 0.2))[0].tolist() == pytest.approx([5.0, 1.0, 0.2, 0.0])


def test_gradient_from_unlabeled_voxels_is_exactly_zero():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4, 5, 6, requires_grad=True)
    labels = torch.randint(0, 3, (1, 4, 5, 6))
    labels[:, :, 1:4] = 3  # unlabeled
    loss = sparse_cross_entropy(logits, labels, class_weights=(2.0, 1.0, 0.5))
    loss.backward()
    assert logits.grad[:, :, :, 1:4].abs().max().item() == 0.0
    assert logits.grad[:, :, :, [0, 4]].abs().max().item() > 0
    # the loss equals the one on the labelled voxels alone
    keep = labels != 3
    w = torch.tensor([2.0, 1.0, 0.5])[labels[keep]]
    alone = weighted_cross_entropy(logits.permute(0, 2, 3, 4, 1)[keep].T.unsqueeze(0), labels[keep].unsqueeze(0), w, "mean")
    assert loss.item() == pytest.approx(alone.item())


def test_small_network_trains_from_sparse_labels_without_nans():
    torch.manual_seed(0)
    model = unet3d(1, 3, ANALYSIS[:2], SYNTHESIS[-1:], padding="same")
    x = torch.randn(2, 1, 8, 8, 8)
    labels = torch.full((2, 8, 8, 8), 3)
    labels[:, 4] = (x[:, 0, 4] > 0).long()
    loss = sparse_cross_entropy(model(x), labels)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
