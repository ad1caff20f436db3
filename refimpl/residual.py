r"""Residual blocks of ResNet — He et al., *Deep Residual Learning for Image Recognition*, CVPR 2016,
arXiv:1512.03385v1 — shared by the papers that build on them (SENet puts its squeeze-and-excitation
block inside them).

A block computes $\mathbf{y} = \sigma(\mathcal{F}(\mathbf{x}, \{W_i\}) + \mathbf{x})$ (Eq. 1) when the
dimensions of $\mathbf{x}$ and $\mathcal{F}$ match, and $\mathbf{y} = \sigma(\mathcal{F}(\mathbf{x},
\{W_i\}) + W_s \mathbf{x})$ (Eq. 2) with a projection $W_s$ when they do not, $\sigma$ being the ReLU
applied "after the addition" (Sec. 3.2). Batch norm follows every convolution, the projection
included: "We adopt batch normalization (BN) right after each convolution and before activation"
(Sec. 3.4).

The shortcut options are those of Sec. 4.1, "Identity vs. Projection Shortcuts":

* ``"A"``: "zero-padding shortcuts are used for increasing dimensions, and all shortcuts are
  parameter-free" (see [`ZeroPadShortcut`][refimpl.residual.ZeroPadShortcut]);
* ``"B"``: "projection shortcuts are used for increasing dimensions, and other shortcuts are identity";
* ``"C"``: "all shortcuts are projections";
* ``None``: no shortcut at all, the "plain" network of Fig. 3 (middle) that Table 2 compares against.

"When the shortcuts go across feature maps of two sizes, they are performed with a stride of 2"
(Sec. 3.3), for the identity (A: every other pixel) and the projection ($1 \times 1$, stride 2) alike.
"""

from __future__ import annotations

from typing import Callable, Optional

from torch import Tensor, nn
import torch.nn.functional as F

from refimpl.layers import batch_norm_class, conv_class

BN_EPS = 1e-5
"""Batch-norm $\\epsilon$: PyTorch's default (``nn.BatchNorm2d``), also Caffe's, which the paper used."""

BN_MOMENTUM = 0.1
"""Batch-norm momentum in PyTorch's sense (weight of the new batch in the running statistics): PyTorch's default."""

SHORTCUTS = ("A", "B", "C", None)
"""The shortcut options of Sec. 4.1, and ``None`` for a plain block (see the module docstring)."""

STRIDE_AT = ("1x1", "3x3")
"""Where a bottleneck's stride sits: ``"1x1"``, the first $1 \\times 1$ convolution, as in the Caffe
models released with the paper (KaimingHe/deep-residual-networks, ``res3a_branch2a``: stride 2), or
``"3x3"``, the $3 \\times 3$ convolution, as torchvision does ("ResNet v1.5")."""

AttentionFactory = Optional[Callable[[int], nn.Module]]


def _positive_int(name: str, value, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, e.g. {example}; got {value!r}")
    return value


def _check_block_args(shortcut, attention, bn_eps, bn_momentum, dims) -> None:
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be 'A', 'B', 'C' (He et al. 2016, Sec. 4.1) or None (plain); got {shortcut!r}")
    if attention is not None and not callable(attention):
        raise ValueError(f"attention must be None or a callable channels -> nn.Module (e.g. an SE block); got {attention!r}")
    if isinstance(bn_eps, bool) or not isinstance(bn_eps, (int, float)) or not bn_eps > 0:
        raise ValueError(f"bn_eps must be a positive number, e.g. 1e-5 (PyTorch's default); got {bn_eps!r}")
    if bn_momentum is not None and (
        isinstance(bn_momentum, bool) or not isinstance(bn_momentum, (int, float)) or not 0 <= bn_momentum <= 1
    ):
        raise ValueError(f"bn_momentum must be a number in [0, 1] (PyTorch's default 0.1) or None; got {bn_momentum!r}")
    conv_class(dims)  # raises for dims other than 1, 2, 3


def conv_norm(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    relu: bool = True,
    bn_eps: float = BN_EPS,
    bn_momentum: Optional[float] = BN_MOMENTUM,
    dims: int = 2,
) -> nn.Sequential:
    r"""Convolution (no bias, "same" padding) → batch norm → optional ReLU, sub-modules ``conv``, ``norm``, ``act``.

    The names match [`ConvNormActivation`][refimpl.layers.ConvNormActivation]; this one takes the
    batch-norm $\epsilon$ and momentum.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: 1 or 3 in ResNet.
        stride: convolution stride.
        relu: add the ReLU (``False`` for the last layer of a residual branch and for projections).
        bn_eps: batch-norm $\epsilon$.
        bn_momentum: batch-norm momentum (PyTorch's sense), ``None`` for a cumulative average.
        dims: spatial dimensions.
    """
    layers = nn.Sequential()
    layers.add_module(
        "conv", conv_class(dims)(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
    )
    layers.add_module("norm", batch_norm_class(dims)(out_channels, eps=bn_eps, momentum=bn_momentum))
    if relu:
        layers.add_module("act", nn.ReLU())
    return layers


class ZeroPadShortcut(nn.Module):
    r"""Option A's parameter-free shortcut: identity, subsampled by ``stride``, with zero channels appended.

    "The shortcut still performs identity mapping, with extra zero entries padded for increasing
    dimensions" (Sec. 3.3). The paper does not say where the zeros go; they are appended after the
    input's channels (the parameter and multiply-add counts do not depend on it).

    Args:
        in_channels: channels of $\mathbf{x}$.
        out_channels: channels of the output ($\geq$ ``in_channels``).
        stride: spatial subsampling ("performed with a stride of 2": every other pixel).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"a zero-padding shortcut (option A) cannot reduce channels: {in_channels} → {out_channels}")
        self.extra = out_channels - in_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[(slice(None), slice(None)) + (slice(None, None, self.stride),) * (x.dim() - 2)]  # (N, C, H/s, W/s)
        if self.extra:
            # DEVIATION from He et al. 2016: the paper does not say where the zero entries go; appended last.
            x = F.pad(x, (0, 0) * (x.dim() - 2) + (0, self.extra))  # (N, C + extra, H/s, W/s)
        return x

    def extra_repr(self) -> str:
        return f"extra={self.extra}, stride={self.stride}"


def make_shortcut(
    in_channels: int,
    out_channels: int,
    stride: int,
    shortcut: Optional[str],
    bn_eps: float = BN_EPS,
    bn_momentum: Optional[float] = BN_MOMENTUM,
    dims: int = 2,
) -> Optional[nn.Module]:
    r"""The shortcut of a block from ``in_channels`` to ``out_channels`` with ``stride``, for option A, B or C.

    A: [`ZeroPadShortcut`][refimpl.residual.ZeroPadShortcut] (``nn.Identity`` when nothing changes).
    B: a $1 \times 1$ projection $W_s$ with batch norm when the channels or the size change, else identity.
    C: always the projection.
    ``None``: no shortcut (a plain block); returns ``None``.

    Args:
        in_channels: channels of $\mathbf{x}$.
        out_channels: channels of $\mathcal{F}(\mathbf{x})$.
        stride: stride of the block.
        shortcut: ``"A"``, ``"B"``, ``"C"`` or ``None``.
        bn_eps: batch-norm $\epsilon$ of the projection.
        bn_momentum: batch-norm momentum of the projection.
        dims: spatial dimensions.
    """
    if shortcut is None:
        return None
    same = in_channels == out_channels and stride == 1
    if shortcut == "C" or (shortcut == "B" and not same):
        return conv_norm(in_channels, out_channels, 1, stride, relu=False, bn_eps=bn_eps, bn_momentum=bn_momentum,
                         dims=dims)
    return nn.Identity() if same else ZeroPadShortcut(in_channels, out_channels, stride)


class _Residual(nn.Module):
    """$\\sigma(\\text{attention}(\\mathcal{F}(x)) + \\text{shortcut}(x))$ over the sub-modules a subclass sets."""

    branch: tuple[str, ...] = ()

    def _finish(self, out_channels: int, attention: AttentionFactory) -> None:
        self.attention = attention(out_channels) if attention is not None else nn.Identity()
        self.relu = nn.ReLU()  # σ "after the addition" (Sec. 3.2)

    def forward(self, x: Tensor) -> Tensor:
        y = x
        for name in self.branch:
            y = getattr(self, name)(y)  # F(x, {W_i})
        y = self.attention(y)
        return self.relu(y if self.shortcut is None else y + self.shortcut(x))


class BasicBlock(_Residual):
    r"""The two-layer building block of Fig. 2 / Fig. 5 left: $3 \times 3$ → ReLU → $3 \times 3$, plus the shortcut.

    $\mathcal{F} = W_2 \sigma(W_1 \mathbf{x})$ (Sec. 3.2), each $W_i$ a $3 \times 3$ convolution with
    batch norm; the stride sits in the first. ResNet-18/34 and the CIFAR-10 nets of Sec. 4.2 stack it.

    Args:
        in_channels: channels of $\mathbf{x}$.
        out_channels: channels of both convolutions and of $\mathbf{y}$.
        stride: stride of the first convolution and of the shortcut (2 at the first block of a stage).
        shortcut: ``"A"``, ``"B"`` or ``"C"`` (Sec. 4.1), or ``None`` for a plain block (Fig. 3 middle).
        attention: ``None``, or a callable ``channels -> nn.Module`` applied to $\mathcal{F}(\mathbf{x})$
            before the addition (SENet's SE block, Hu et al. Fig. 3).
        bn_eps: batch-norm $\epsilon$.
        bn_momentum: batch-norm momentum (PyTorch's sense).
        dims: spatial dimensions (2 for images).

    Sub-modules: ``conv1``, ``conv2`` ($W_1$, $W_2$), ``attention``, ``shortcut``, ``relu``.
    """

    branch = ("conv1", "conv2")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        shortcut: Optional[str] = "B",
        attention: AttentionFactory = None,
        bn_eps: float = BN_EPS,
        bn_momentum: Optional[float] = BN_MOMENTUM,
        dims: int = 2,
    ) -> None:
        super().__init__()
        _positive_int("in_channels", in_channels, "64")
        _positive_int("out_channels", out_channels, "64")
        _positive_int("stride", stride, "1 or 2")
        _check_block_args(shortcut, attention, bn_eps, bn_momentum, dims)
        if shortcut == "A" and out_channels < in_channels:
            raise ValueError(f"shortcut 'A' (zero-padding) cannot reduce channels {in_channels} → {out_channels}; use 'B' or 'C'")
        norm = dict(bn_eps=bn_eps, bn_momentum=bn_momentum, dims=dims)
        self.conv1 = conv_norm(in_channels, out_channels, 3, stride, **norm)
        self.conv2 = conv_norm(out_channels, out_channels, 3, relu=False, **norm)
        self.shortcut = make_shortcut(in_channels, out_channels, stride, shortcut, **norm)
        self._finish(out_channels, attention)


class Bottleneck(_Residual):
    r"""The three-layer bottleneck of Fig. 5 right: $1 \times 1$ reduce → $3 \times 3$ → $1 \times 1$ restore.

    "The three layers are 1×1, 3×3, and 1×1 convolutions, where the 1×1 layers are responsible for
    reducing and then increasing (restoring) dimensions, leaving the 3×3 layer a bottleneck with
    smaller input/output dimensions" (Sec. 4.1, "Deeper Bottleneck Architectures"). ResNet-50/101/152
    stack it with ``width`` 64, 128, 256, 512 and output $4 \times$ ``width`` (Table 1).

    Args:
        in_channels: channels of $\mathbf{x}$.
        width: channels of the $1 \times 1$ reduction and of the $3 \times 3$ convolution.
        stride: stride of the block (2 at the first block of conv3_x, conv4_x, conv5_x).
        expansion: output channels are ``expansion * width`` (4 in Table 1).
        shortcut: ``"A"``, ``"B"`` or ``"C"`` (Sec. 4.1), or ``None`` for a plain block (Fig. 3 middle).
        attention: ``None``, or a callable ``channels -> nn.Module`` applied to $\mathcal{F}(\mathbf{x})$
            before the addition (SENet's SE block, Hu et al. Fig. 3).
        stride_at: ``"1x1"`` (the paper's released Caffe models) or ``"3x3"`` (torchvision, "v1.5");
            see [`STRIDE_AT`][refimpl.residual.STRIDE_AT]. The parameters are the same; with
            ``"3x3"`` the first $1 \times 1$ runs on the full input map, $4\times$ its multiply-adds.
        bn_eps: batch-norm $\epsilon$.
        bn_momentum: batch-norm momentum (PyTorch's sense).
        dims: spatial dimensions (2 for images).

    Sub-modules: ``reduce``, ``conv``, ``restore``, ``attention``, ``shortcut``, ``relu``.
    """

    branch = ("reduce", "conv", "restore")

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        expansion: int = 4,
        shortcut: Optional[str] = "B",
        attention: AttentionFactory = None,
        stride_at: str = "1x1",
        bn_eps: float = BN_EPS,
        bn_momentum: Optional[float] = BN_MOMENTUM,
        dims: int = 2,
    ) -> None:
        super().__init__()
        _positive_int("in_channels", in_channels, "256")
        _positive_int("width", width, "64")
        _positive_int("stride", stride, "1 or 2")
        _positive_int("expansion", expansion, "4")
        _check_block_args(shortcut, attention, bn_eps, bn_momentum, dims)
        if stride_at not in STRIDE_AT:
            raise ValueError(f"stride_at must be '1x1' (the paper's Caffe models) or '3x3' (torchvision v1.5); got {stride_at!r}")
        out_channels = expansion * width
        if shortcut == "A" and out_channels < in_channels:
            raise ValueError(f"shortcut 'A' (zero-padding) cannot reduce channels {in_channels} → {out_channels}; use 'B' or 'C'")
        norm = dict(bn_eps=bn_eps, bn_momentum=bn_momentum, dims=dims)
        first, middle = (stride, 1) if stride_at == "1x1" else (1, stride)
        self.reduce = conv_norm(in_channels, width, 1, first, **norm)
        self.conv = conv_norm(width, width, 3, middle, **norm)
        self.restore = conv_norm(width, out_channels, 1, relu=False, **norm)
        self.shortcut = make_shortcut(in_channels, out_channels, stride, shortcut, **norm)
        self._finish(out_channels, attention)
