r"""V-Net — Milletari, Navab and Ahmadi, *V-Net: Fully Convolutional Neural Networks for Volumetric
Medical Image Segmentation*, 3DV 2016, arXiv:1606.04797v1.

A compression path (left) of five stages and a decompression path (right) of four, as in Fig. 2:

* every stage is one to three 5×5×5 convolutions with PReLU, and learns a residual: the stage's
  input is added to the output of its last convolution (Sec. 2);
* between left stages a 2×2×2 convolution with stride 2 halves the size and doubles the channels,
  instead of pooling (Sec. 2, Fig. 3);
* each right stage starts with a 2×2×2 stride-2 de-convolution, whose output is concatenated with
  the features forwarded from the left stage of the same size (the horizontal connections of Fig. 2);
* a final 1×1×1 convolution gives two channels, turned into foreground/background probabilities by a
  voxel-wise soft-max (Sec. 2, Sec. 3.2).

The stage tables [`LEFT`][refimpl.vnet.LEFT] and [`RIGHT`][refimpl.vnet.RIGHT] follow Fig. 2 stage by
stage; their convolution counts are the ones Table 1's receptive fields imply (see the notebook).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import NamedTuple

import torch
from torch import Tensor, nn

from refimpl import _checks
from refimpl.layers import ConvNormActivation, check_input, conv_transpose_class


class Stage(NamedTuple):
    """One stage of Fig. 2: ``convs`` 5×5×5 convolutions of ``channels`` kernels each."""

    convs: int
    """How many 5×5×5 convolutions the stage stacks (1 to 3 in Fig. 2)."""
    channels: int
    """Kernels of each of those convolutions: the stage's output channels."""


# V-Net, arXiv:1606.04797v1, Fig. 2 — compression path, top to bottom.
#        convs  channels      input size of the stage (Table 1), for a 128 × 128 × 64 volume
LEFT: tuple[Stage, ...] = (
    Stage(1,  16),      # 128   L-Stage 1
    Stage(2,  32),      #  64   L-Stage 2
    Stage(3,  64),      #  32   L-Stage 3
    Stage(3, 128),      #  16   L-Stage 4
    Stage(3, 256),      #   8   L-Stage 5
)
"""Fig. 2's left stages, ``Stage(convs, channels)``: widths double at each stage (Sec. 2)."""

# V-Net, arXiv:1606.04797v1, Fig. 2 — decompression path, bottom to top. Each stage's input is the
# de-convolution's output (channels/2) concatenated with the forwarded left features (channels/2).
#        convs  channels      input size of the stage (Table 1)
RIGHT: tuple[Stage, ...] = (
    Stage(3, 256),      #  16   R-Stage 4
    Stage(3, 128),      #  32   R-Stage 3
    Stage(2,  64),      #  64   R-Stage 2
    Stage(1,  32),      # 128   R-Stage 1
)
"""Fig. 2's right stages, ``Stage(convs, channels)``, from R-Stage 4 up to R-Stage 1."""

KERNEL_SIZE = 5
"""Sec. 2: "volumetric kernels having size 5×5×5 voxels"."""

INPUT_SIZE = (128, 128, 64)
"""Sec. 3.1: "All the volumes processed by the network have fixed size of 128 × 128 × 64 voxels"."""

NUM_CLASSES = 2
"""Sec. 2: "a two channel volumetric segmentation" (foreground and background)."""


def prelu(channels: int) -> nn.PReLU:
    r"""PReLU, $\max(0, x) + a \min(0, x)$, with one learned slope $a$ per channel.

    Sec. 2: "PReLu non linearities are applied throughout the network". One slope per channel is
    Caffe's default (``channel_shared: false``), the framework the paper used; the initial $a$ is 0.25.

    Args:
        channels: channels of the input, one slope each.
    """
    return nn.PReLU(_checks.positive("channels", channels))


class ResidualStage(nn.Module):
    r"""One stage of Fig. 2: ``convs`` 5×5×5 convolutions, the stage input added to the last one.

    "The input of each stage is (a) used in the convolutional layers and processed through the
    non-linearities and (b) added to the output of the last convolutional layer of that stage in
    order to enable learning a residual function" (Sec. 2). Every convolution but the last is
    followed by PReLU; the sum is followed by PReLU, as in the residual unit of He et al. [3].

    Args:
        in_channels: channels of the stage input (1 for L-Stage 1, else ``channels``).
        channels: kernels per convolution.
        convs: one to three convolutions.
        kernel_size: 5 in the paper.
    """

    def __init__(self, in_channels: int, channels: int, convs: int, kernel_size: int = KERNEL_SIZE) -> None:
        super().__init__()
        in_channels = _checks.positive("in_channels", in_channels)
        channels = _checks.positive("channels", channels)
        convs = _checks.positive("convs", convs, "one to three in the paper")
        kernel_size = _check_kernel_size(kernel_size)
        if channels % in_channels:
            raise ValueError(f"the residual repeats the input's {in_channels} channels up to {channels}: "
                             f"channels must be a multiple of in_channels; got {in_channels} → {channels}")
        self.in_channels = in_channels
        self.repeat = channels // in_channels
        widths = [in_channels] + [channels] * convs
        self.convs = nn.Sequential(*(
            ConvNormActivation(widths[i], channels, kernel_size, norm=False, dims=3,
                               activation=functools.partial(prelu, channels) if i < convs - 1 else None)
            for i in range(convs)
        ))
        self.act = prelu(channels)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, 3, "ResidualStage", self.act.weight.dtype)
        # DEVIATION from Sec. 2, which does not say how L-Stage 1 adds its 1-channel input to 16 channels:
        # the input is repeated over the channels, as public ports of the released model do.
        skip = x.repeat(1, self.repeat, 1, 1, 1) if self.repeat > 1 else x  # (N, channels, D, H, W)
        return self.act(self.convs(x) + skip)


def _check_kernel_size(kernel_size: int) -> int:
    if not _checks.is_int(kernel_size) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd so that padding keeps the size (the paper uses 5); "
                         f"got {_checks.describe(kernel_size)}")
    return int(kernel_size)


def _check_size(spatial: tuple[int, ...], factor: int) -> None:
    """Raise `ValueError` unless every side is a positive multiple of ``factor``, naming the nearest valid sides."""
    bad = [s for s in spatial if s <= 0 or s % factor]
    if bad:
        nearest = "; ".join(
            f"{s} → {' or '.join(str(v) for v in sorted({max(factor, s // factor * factor), (max(s, 0) // factor + 1) * factor}))}"
            for s in bad
        )
        raise ValueError(
            f"V-Net halves the volume {factor.bit_length() - 1} times, so each side must be divisible by {factor} "
            f"(the paper uses {INPUT_SIZE[0]} × {INPUT_SIZE[1]} × {INPUT_SIZE[2]}); got "
            f"{' × '.join(map(str, spatial))}. Nearest valid sides: {nearest}"
        )


class VNet(nn.Module):
    r"""V-Net of Fig. 2: five compression stages, four decompression stages, 1×1×1 output and soft-max.

    ``forward`` returns the voxel-wise soft-max probabilities ``(N, 2, D, H, W)`` (channel 1:
    foreground), which is what the Dice loss of Sec. 3 takes; [`logits`][refimpl.vnet.VNet.logits]
    returns the scores before the soft-max, for a cross-entropy loss.

    Args:
        in_channels: channels of the input volume (1 for MRI).
        num_classes: output channels (2: background, foreground).
        kernel_size: of the stage convolutions (5 in the paper).
        left: the compression stages, L-Stage 1 first (default [`LEFT`][refimpl.vnet.LEFT]).
        right: the decompression stages, R-Stage 4 first (default [`RIGHT`][refimpl.vnet.RIGHT]);
            one fewer than ``left``, and R-Stage $i$ wider than L-Stage $i$, whose features it concatenates.

    Each spatial side of the input must be divisible by $2^{\text{len(left)} - 1}$ (16 for the paper's network).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = NUM_CLASSES,
        kernel_size: int = KERNEL_SIZE,
        left: tuple[Stage, ...] = LEFT,
        right: tuple[Stage, ...] = RIGHT,
    ) -> None:
        super().__init__()
        left = _checks.rows("left", left, Stage._fields, "Stage(convs, channels) rows such as LEFT")
        right = _checks.rows("right", right, Stage._fields, "Stage(convs, channels) rows such as RIGHT", min_rows=0)
        if len(right) != len(left) - 1:
            raise ValueError(f"V-Net needs one right stage fewer than left stages; got {len(left)} left and {len(right)} right")
        kernel_size = _check_kernel_size(kernel_size)
        in_channels = _checks.positive("in_channels", in_channels, "e.g. 1 for MRI")
        num_classes = _checks.positive("num_classes", num_classes, "2 in the paper")
        for convs, _ in (*left, *right):
            if not 1 <= convs <= 3:
                raise ValueError(f"each stage comprises one to three convolutional layers (Sec. 2); got {convs}")
        forwarded = [c for _, c in left[-2::-1]]  # L-Stage 4, 3, 2, 1 widths, in the order the right path uses them
        for (_, c), skip in zip(right, forwarded):
            if c <= skip:
                raise ValueError(f"a right stage of {c} channels cannot hold the {skip} forwarded channels plus a de-convolution")
        self.in_channels = in_channels
        self.factor = 2 ** (len(left) - 1)

        UpConv = conv_transpose_class(3)
        self.contract = nn.ModuleList()  # L-Stage 1 … 5
        self.down = nn.ModuleList()  # 2×2×2 stride-2 convolutions between them
        width = in_channels
        for i, (convs, c) in enumerate(left):
            if i:  # "convolution with 2 × 2 × 2 voxels wide kernels applied with stride 2" (Sec. 2)
                self.down.append(ConvNormActivation(width, c, 2, stride=2, padding=0, norm=False, dims=3,
                                                    activation=functools.partial(prelu, c)))
                width = c
            self.contract.append(ResidualStage(width, c, convs, kernel_size))
            width = c
        self.up = nn.ModuleList()  # 2×2×2 stride-2 de-convolutions
        self.expand = nn.ModuleList()  # R-Stage 4 … 1
        for (convs, c), skip in zip(right, forwarded):
            self.up.append(nn.Sequential(OrderedDict(conv=UpConv(width, c - skip, 2, stride=2), act=prelu(c - skip))))
            self.expand.append(ResidualStage(c, c, convs, kernel_size))
            width = c
        self.output = ConvNormActivation(width, num_classes, 1, norm=False, activation=None, dims=3)  # 1×1×1
        self.softmax = nn.Softmax(dim=1)  # voxel-wise

    def logits(self, x: Tensor) -> Tensor:
        """The two output channels before the soft-max, ``(N, num_classes, D, H, W)``.

        Args:
            x: a volume batch ``(N, in_channels, D, H, W)``, every side a multiple of $2^{s-1}$ for $s$ compression stages (16 for Fig. 2).
        """
        check_input(x, self.in_channels, 3, "V-Net", self.output.conv.weight.dtype)
        _check_size(tuple(x.shape[2:]), self.factor)
        forwarded = []
        for i, stage in enumerate(self.contract):
            if i:
                x = self.down[i - 1](x)  # (N, 2c, D/2, H/2, W/2)
            x = stage(x)  # L-Stage i+1: (N, c, D/2^i, H/2^i, W/2^i)
            forwarded.append(x)
        forwarded.pop()  # L-Stage 5 feeds the de-convolution, not a horizontal connection
        for up, stage in zip(self.up, self.expand):
            x = up(x)  # (N, c/2, 2D', 2H', 2W')
            x = torch.cat([x, forwarded.pop()], dim=1)  # (N, c, 2D', 2H', 2W'): "fine grained detail"
            x = stage(x)
        return self.output(x)  # (N, num_classes, D, H, W)

    def forward(self, x: Tensor) -> Tensor:
        return self.softmax(self.logits(x))  # (N, num_classes, D, H, W), sums to 1 over the channels
