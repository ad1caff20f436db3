"""Tests of refimpl.analysis.receptive_field: known answers for simple stacks, and back-propagation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from refimpl.analysis import receptive_field
from refimpl.mobilenet_v1 import MobileNetV1


def gradient_extent(model: nn.Module, input_shape: tuple[int, ...], position: int) -> int:
    """Non-zero extent, along the first spatial axis, of d output[position] / d input (float64, random weights)."""
    torch.manual_seed(0)
    model = model.double()
    for p in model.parameters():  # keep every weight away from 0 so that no path cancels
        nn.init.uniform_(p, 0.5, 1.0)
    x = torch.randn(*input_shape, dtype=torch.float64, requires_grad=True)
    y = model(x)
    centre = tuple(n // 2 for n in y.shape[3:])
    (g,) = torch.autograd.grad(y[(0, 0, position, *centre)], x)
    nonzero = g[0, 0].abs().reshape(g.shape[2], -1).sum(1).nonzero().flatten()
    return int(nonzero.max() - nonzero.min() + 1)


# (model, input shape, expected size along each spatial axis) — answers worked out by hand.
KNOWN = [
    # one k×k convolution sees k pixels
    (lambda: nn.Conv2d(1, 1, 3, padding=1), (1, 1, 16, 16), (3, 3)),
    (lambda: nn.Conv3d(1, 1, 5, padding=2), (1, 1, 16, 16, 16), (5, 5, 5)),
    # three 3×3 convolutions: 1 + 3·2 = 7 (the VGG argument)
    (lambda: nn.Sequential(*(nn.Conv2d(1, 1, 3, padding=1) for _ in range(3))), (1, 1, 32, 32), (7, 7)),
    # 3×3 conv, 2×2 pool stride 2, 3×3 conv: 3, then 3 + 1 = 4 (j = 2), then 4 + 2·2 = 8
    (lambda: nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, padding=1)), (1, 1, 32, 32), (8, 8)),
    # dilation 2: a 3×3 kernel spans 5
    (lambda: nn.Conv2d(1, 1, 3, padding=2, dilation=2), (1, 1, 16, 16), (5, 5)),
    # anisotropic kernel (3, 1): 3 along the first axis, 1 along the second
    (lambda: nn.Conv2d(1, 1, (3, 1), padding=(1, 0)), (1, 1, 16, 16), (3, 1)),
    # 2×2 stride-2 up-convolution: each output voxel reads exactly one input voxel
    (lambda: nn.ConvTranspose2d(1, 1, 2, stride=2), (1, 1, 8, 8), (1, 1)),
    # 4-wide stride-2 up-convolution: two input voxels per output voxel
    (lambda: nn.ConvTranspose1d(1, 1, 4, stride=2, padding=1), (1, 1, 16), (2,)),
    # global average pooling sees everything
    (lambda: nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AdaptiveAvgPool2d(1)), (1, 1, 12, 12), (12, 12)),
]


@pytest.mark.parametrize("factory, shape, expected", KNOWN)
def test_receptive_field_of_simple_stacks(factory, shape, expected):
    assert receptive_field(factory(), shape)[""].size == expected


def test_recurrence_agrees_with_exact_size_without_upsampling():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(1, 1, 5, padding=2), nn.AvgPool2d(3, 2))
    rf = receptive_field(model, (1, 1, 64, 64))[""]
    # 3; pool: 4, j=2; 5×5: 4 + 4·2 = 12; 3-wide pool stride 2: 12 + 2·2 = 16, j = 4
    assert rf.size == rf.theoretical == (16, 16)
    assert rf.jump == (4, 4)


def test_recurrence_counts_an_upconvolution_as_a_convolution_on_the_finer_grid():
    # conv 3 (r=3), down 2×2/2 (r=4, j=2), up 2×2/2: exact 4, recurrence 4 + 1·1 = 5
    model = nn.Sequential(nn.Conv1d(1, 1, 3, padding=1), nn.Conv1d(1, 1, 2, stride=2), nn.ConvTranspose1d(1, 1, 2, stride=2))
    rf = receptive_field(model, (1, 1, 32))[""]
    assert rf.size == (4,)
    assert rf.theoretical == (5,)
    assert rf.jump == (1,)


class TinyUNet(nn.Module):
    """Two levels, a residual addition and a concatenated skip: the wiring receptive_field must follow."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv1d(1, 2, 5, padding=2)
        self.down = nn.Conv1d(2, 2, 2, stride=2)
        self.mid = nn.Conv1d(2, 2, 5, padding=2)
        self.up = nn.ConvTranspose1d(2, 2, 2, stride=2)
        self.dec = nn.Conv1d(4, 1, 5, padding=2)

    def forward(self, x):
        skip = self.enc(x)
        y = self.down(skip)
        y = y + self.mid(y)  # residual
        y = torch.cat([self.up(y), skip], dim=1)
        return self.dec(y)


def test_receptive_field_follows_skips_and_matches_backpropagation():
    shape = (1, 1, 128)
    rf = receptive_field(TinyUNet(), shape)
    # enc 5; down 6 (j=2); mid 6 + 4·2 = 14; up 14 (j=1); dec: 5 fine voxels → 3 coarse voxels → 14 + 2·2 = 18
    assert rf["mid"].size == (14,)
    assert rf[""].size == (18,)
    assert {gradient_extent(TinyUNet(), shape, p) for p in (63, 64)} == {18}


def test_exact_size_depends_on_position_after_several_upsamplings():
    # after two up-samplings neighbouring voxels share inputs unevenly: `size` is the largest extent
    model = nn.Sequential(
        nn.Conv1d(1, 1, 2, stride=2), nn.Conv1d(1, 1, 2, stride=2), nn.Conv1d(1, 1, 3, padding=1),
        nn.ConvTranspose1d(1, 1, 2, stride=2), nn.ConvTranspose1d(1, 1, 2, stride=2), nn.Conv1d(1, 1, 3, padding=1),
    )
    shape = (1, 1, 64)
    extents = [gradient_extent(model, shape, p) for p in range(28, 36)]
    assert receptive_field(model, shape)[""].size == (max(extents),)
    assert min(extents) < max(extents)


def test_mobilenet_v1_receptive_field_is_315():
    # Araujo et al., Distill 2019, Table 1: MobileNet v1 (at the last convolution) has a 315-pixel receptive field.
    rf = receptive_field(MobileNetV1(), (1, 3, 512, 512))
    assert rf["features"].size == (315, 315)
    assert rf["features"].theoretical == (315, 315)
    assert rf[""].size == (512, 512)  # the global pool and the FC layer see the whole image


def test_field_is_clipped_at_the_border_of_a_small_input():
    model = nn.Sequential(*(nn.Conv1d(1, 1, 5, padding=2) for _ in range(10)))  # 41 wide
    assert receptive_field(model, (1, 1, 100))[""].size == (41,)
    assert receptive_field(model, (1, 1, 20))[""].size == (20,)
    assert receptive_field(model, (1, 1, 20))[""].theoretical == (41,)


def test_unsupported_resize_raises():
    class Resize(nn.Module):
        def forward(self, x):
            return nn.functional.interpolate(x, scale_factor=2)

    with pytest.raises(ValueError, match="changes the spatial size"):
        receptive_field(Resize(), (1, 1, 8, 8))


def test_input_shape_needs_a_spatial_axis():
    with pytest.raises(ValueError, match=r"\(N, C, \*spatial\)"):
        receptive_field(nn.Linear(3, 3), (1, 3))
