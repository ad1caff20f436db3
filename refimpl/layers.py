r"""Building blocks shared by the reference implementations.

Each block lives here once; a paper's own file holds only what that paper adds.
The blocks are written for 2-D inputs by default and take ``dims=3`` where a
volumetric paper (3D U-Net, V-Net) needs the same block in three dimensions.

Every constructor checks its arguments and every ``forward`` its input (a floating-point tensor of
the block's parameter dtype, ``(N, C, *spatial)`` with the block's ``C``), refusing bad ones with one
line that names the valid values; the checks read only Python values and tensor metadata, so they
also run on the ``meta`` device.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor, nn
import torch.nn.functional as F

from refimpl import _checks

BN_EPS = 1e-3
"""Batch-norm $\\varepsilon$: the TF-slim MobileNet reference implementation's default (``batch_norm_epsilon``)."""

BN_MOMENTUM = 0.1
"""Batch-norm momentum: PyTorch's ``nn.BatchNorm2d`` default, running ← 0.9 · running + 0.1 · batch.

TensorFlow states the same update with a "decay" $d$ = 1 − momentum (0.9 here): a paper's "decay 0.99"
is momentum 0.01 (MobileNetV3 passes it).
"""

ActivationFactory = Optional[Callable[[], nn.Module]]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}


def conv_class(dims: int) -> type[nn.Module]:
    """`nn.Conv1d`, `nn.Conv2d` or `nn.Conv3d` for ``dims`` spatial dimensions.

    Args:
        dims: spatial dimensions: 1, 2 (images) or 3 (volumes).
    """
    return _pick(_CONV, dims)


def conv_transpose_class(dims: int) -> type[nn.Module]:
    """`nn.ConvTranspose{1,2,3}d` for ``dims`` spatial dimensions.

    Args:
        dims: spatial dimensions: 1, 2 (images) or 3 (volumes).
    """
    return _pick(_CONV_T, dims)


def batch_norm_class(dims: int) -> type[nn.Module]:
    """`nn.BatchNorm{1,2,3}d` for ``dims`` spatial dimensions.

    Args:
        dims: spatial dimensions: 1, 2 (images) or 3 (volumes).
    """
    return _pick(_BATCH_NORM, dims)


def max_pool_class(dims: int) -> type[nn.Module]:
    """`nn.MaxPool{1,2,3}d` for ``dims`` spatial dimensions.

    Args:
        dims: spatial dimensions: 1, 2 (images) or 3 (volumes).
    """
    return _pick(_MAX_POOL, dims)


def _pick(table: dict[int, type[nn.Module]], dims: int) -> type[nn.Module]:
    if not _checks.is_int(dims) or int(dims) not in table:
        raise ValueError(f"dims must be one of {sorted(table)} spatial dimensions; got {_checks.describe(dims)}")
    return table[int(dims)]


# --------------------------------------------------------------------------- activations


def h_sigmoid(x: Tensor) -> Tensor:
    r"""h-sigmoid, MobileNetV3 (arXiv:1905.02244v5) Sec. 5.2: $\mathrm{ReLU6}(x+3)/6$ (any floating-point dtype).

    Args:
        x: a floating-point tensor of any shape (element-wise).
    """
    _checks.floating("x", x, "h_sigmoid")
    return F.relu6(x + 3.0) / 6.0


def h_swish(x: Tensor) -> Tensor:
    r"""h-swish, MobileNetV3 (arXiv:1905.02244v5) Sec. 5.2: $x \cdot \mathrm{ReLU6}(x+3)/6$ (any floating-point dtype).

    Args:
        x: a floating-point tensor of any shape (element-wise).
    """
    _checks.floating("x", x, "h_swish")
    return x * h_sigmoid(x)


class HSigmoid(nn.Module):
    r"""Module form of [`h_sigmoid`][refimpl.layers.h_sigmoid]."""

    def forward(self, x: Tensor) -> Tensor:
        return h_sigmoid(x)


class HSwish(nn.Module):
    r"""Module form of [`h_swish`][refimpl.layers.h_swish]."""

    def forward(self, x: Tensor) -> Tensor:
        return h_swish(x)


# --------------------------------------------------------------------------- channel rounding


def make_divisible(value: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    r"""Round a channel count to the nearest multiple of ``divisor``, never going below 90 %.

    This is `_make_divisible` of the TensorFlow reference implementation
    (tensorflow/models, `research/slim/nets/mobilenet/mobilenet.py`), which MobileNetV2 and V3
    use to round $\alpha \cdot c$ for a width multiplier $\alpha$. The papers only say the
    multiplier scales every layer; the rounding is the released code's.

    Args:
        value: the unrounded width, e.g. $\alpha c$.
        divisor: the multiple to round to (8 in the reference code).
        min_value: the smallest width allowed (``divisor`` when omitted).
    """
    value = _checks.real("value", value, 0.0, low_open=True, hint="a channel count")
    divisor = _checks.positive("divisor", divisor, "e.g. 8 (the reference code)")
    min_value = divisor if min_value is None else _checks.positive("min_value", min_value, "or None for divisor")
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:  # never round down by more than 10 %
        rounded += divisor
    return rounded


def check_width_multiplier(width_multiplier: float) -> float:
    """Validate a width multiplier $\\alpha$: a finite number in (0, 4] (Python or NumPy, e.g. ``np.float32(0.75)``).

    Args:
        width_multiplier: $\\alpha$, e.g. 1.0, 0.75, 0.5.

    Returns:
        $\\alpha$ as a Python ``float``.
    """
    return _checks.real("width_multiplier", width_multiplier, 0.0, 4.0, low_open=True, hint="e.g. 1.0, 0.75, 0.5")


def check_input(x: Tensor, in_channels: int, dims: int, model: str, dtype: Optional[torch.dtype] = None) -> None:
    """Raise unless ``x`` is a floating-point batch ``(N, in_channels, *spatial)`` with ``dims`` non-empty spatial sizes.

    A `ValueError` for a wrong layout, a `TypeError` for something that is not a tensor (a NumPy
    array) or not floating point (integer, bool).

    Args:
        x: the input.
        in_channels: the channels $C$ the model takes.
        dims: spatial dimensions (2 for images, 3 for volumes).
        model: the model's name, for the message.
        dtype: the model's parameter dtype, which the input must have (``None``: any floating dtype).
    """
    _checks.batch(x, in_channels, dims, model, dtype)


# --------------------------------------------------------------------------- blocks


class ConvNormActivation(nn.Sequential):
    r"""Convolution → batch norm → activation, the unit every paper here stacks.

    Sub-modules are named ``conv``, ``norm`` and ``act``; ``norm`` and ``act`` are left out when
    ``norm=False`` or ``activation=None``. The convolution has a bias only when there is no norm
    (a bias before batch norm is cancelled by its mean).

    Args:
        in_channels: input channels $M$.
        out_channels: output channels $N$.
        kernel_size: $D_K$.
        stride: convolution stride.
        groups: ``in_channels`` for a depthwise convolution.
        padding: ``None`` gives "same" padding $\lfloor D_K/2 \rfloor$; ``0`` gives a valid convolution.
        norm: add batch normalisation.
        activation: a factory such as ``nn.ReLU`` or ``nn.ReLU6``, or ``None`` for a linear layer.
        dims: spatial dimensions (2 for images, 3 for volumes).
        dilation: atrous rate of the convolution (1: an ordinary convolution); "same" padding
            grows to $\lfloor D_K/2 \rfloor \cdot$ ``dilation``.
        bn_eps: batch norm's $\varepsilon$ (default [`BN_EPS`][refimpl.layers.BN_EPS], the TF-slim reference's 1e-3).
        bn_momentum: batch norm's update rate of the running statistics (PyTorch's convention: a
            TensorFlow "decay" $d$ is momentum $1 - d$); ``None`` takes the cumulative average.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        padding: Optional[int] = None,
        norm: bool = True,
        activation: ActivationFactory = nn.ReLU,
        dims: int = 2,
        dilation: int = 1,
        *,
        bn_eps: float = BN_EPS,
        bn_momentum: Optional[float] = BN_MOMENTUM,
    ) -> None:
        in_channels = _checks.positive("in_channels", in_channels)
        out_channels = _checks.positive("out_channels", out_channels)
        kernel_size = _checks.positive("kernel_size", kernel_size, "e.g. 1, 3 or 5")
        stride = _checks.positive("stride", stride)
        groups = _checks.positive("groups", groups, "1, or in_channels for a depthwise convolution")
        dilation = _checks.positive("dilation", dilation)
        if padding is not None:
            padding = _checks.integer("padding", padding, 0, hint="or None for 'same' padding")
        norm = _checks.flag("norm", norm)
        _checks.callable_or_none("activation", activation, "a module factory such as nn.ReLU, or None")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups must divide in_channels and out_channels ({in_channels} and {out_channels}); got {groups}")
        bn_eps = _checks.real("bn_eps", bn_eps, 0.0, low_open=True, hint=f"e.g. {BN_EPS}")
        if bn_momentum is not None:
            bn_momentum = _checks.real("bn_momentum", bn_momentum, 0.0, 1.0, hint=f"e.g. {BN_MOMENTUM}, or None")
        padding = kernel_size // 2 * dilation if padding is None else padding
        layers: dict[str, nn.Module] = {
            "conv": conv_class(dims)(
                in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=not norm,
                dilation=dilation,
            )
        }
        if norm:
            layers["norm"] = batch_norm_class(dims)(out_channels, eps=bn_eps, momentum=bn_momentum)
        if activation is not None:
            layers["act"] = activation()
        super().__init__()
        for name, layer in layers.items():
            self.add_module(name, layer)

    def forward(self, x: Tensor) -> Tensor:
        conv = self.conv
        _checks.batch(x, conv.in_channels, conv.weight.dim() - 2, "ConvNormActivation", conv.weight.dtype)
        return super().forward(x)


class DepthwiseSeparable(nn.Module):
    r"""Depthwise separable convolution, MobileNets (arXiv:1704.04861v1) Fig. 3 right.

    A $D_K \times D_K$ depthwise convolution (one filter per input channel) with batch norm and
    ReLU, then a $1 \times 1$ pointwise convolution with batch norm and ReLU. Its cost is
    $D_K^2 M D_F^2 + M N D_F^2$ (Eq. 5) instead of $D_K^2 M N D_F^2$ (Eq. 2).

    Args:
        in_channels: $M$.
        out_channels: $N$.
        stride: stride of the depthwise convolution.
        kernel_size: $D_K$.
        activation: factory of the non-linearity after each convolution.
        bn_eps: batch norm's $\varepsilon$.
        bn_momentum: batch norm's momentum (see [`ConvNormActivation`][refimpl.layers.ConvNormActivation]).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        kernel_size: int = 3,
        activation: ActivationFactory = nn.ReLU,
        *,
        bn_eps: float = BN_EPS,
        bn_momentum: Optional[float] = BN_MOMENTUM,
    ) -> None:
        super().__init__()
        in_channels = _checks.positive("in_channels", in_channels)
        norm = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        self.depthwise = ConvNormActivation(
            in_channels, in_channels, kernel_size, stride=stride, groups=in_channels, activation=activation, **norm
        )
        self.pointwise = ConvNormActivation(in_channels, out_channels, 1, activation=activation, **norm)

    def forward(self, x: Tensor) -> Tensor:
        conv = self.depthwise.conv
        _checks.batch(x, conv.in_channels, 2, "DepthwiseSeparable", conv.weight.dtype)
        return self.pointwise(self.depthwise(x))


class SqueezeExcite(nn.Module):
    r"""Squeeze-and-excite (Hu et al. 2018) as MobileNetV3 uses it (arXiv:1905.02244v5, Sec. 5.3).

    Global average pool → $1 \times 1$ conv to ``squeeze_channels`` → ReLU → $1 \times 1$ conv
    back → gate → channel-wise rescaling. MobileNetV3 fixes ``squeeze_channels`` to 1/4 of the
    expansion width (rounded with [`make_divisible`][refimpl.layers.make_divisible]) and gates
    with h-sigmoid.

    Args:
        channels: channels of the input, rescaled one by one.
        squeeze_channels: width of the bottleneck between the two $1 \times 1$ convolutions.
        gate: the function applied to the excitation (h-sigmoid; ``torch.sigmoid`` in SENet).
    """

    def __init__(self, channels: int, squeeze_channels: int, gate: Callable[[Tensor], Tensor] = h_sigmoid) -> None:
        super().__init__()
        channels = _checks.positive("channels", channels)
        squeeze_channels = _checks.positive("squeeze_channels", squeeze_channels, "e.g. channels / 4")
        if not callable(gate):
            raise _checks.ArgumentTypeError(f"gate must be a function such as h_sigmoid or torch.sigmoid; got {_checks.describe(gate)}")
        self.reduce = nn.Conv2d(channels, squeeze_channels, 1)
        self.expand = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = gate

    def forward(self, x: Tensor) -> Tensor:
        _checks.batch(x, self.reduce.in_channels, 2, "SqueezeExcite", self.reduce.weight.dtype)
        s = F.adaptive_avg_pool2d(x, 1)  # (N, C, 1, 1)
        s = self.expand(F.relu(self.reduce(s)))
        return x * self.gate(s)


class InvertedResidual(nn.Module):
    r"""Inverted residual with linear bottleneck, MobileNetV2 (arXiv:1801.04381v4) Table 1.

    $1 \times 1$ expansion to ``hidden_channels`` (skipped when it equals ``in_channels``) →
    $k \times k$ depthwise, stride $s$ → optional squeeze-and-excite (MobileNetV3) →
    linear $1 \times 1$ projection (no non-linearity). The input is added back when the stride
    is 1 and the widths match.

    Args:
        in_channels: $k$.
        hidden_channels: $tk$ (MobileNetV3's "exp size").
        out_channels: $k'$.
        stride: $s$.
        kernel_size: depthwise kernel (3 or 5); odd, so that "same" padding keeps the size.
        activation: non-linearity after expansion and depthwise (ReLU6 in V2; ReLU or h-swish in V3).
        squeeze_channels: width of the squeeze-and-excite bottleneck, or ``None`` for none.
        dilation: atrous rate of the depthwise convolution (MobileNetV3's LR-ASPP backbone uses 2).
        bn_eps: batch norm's $\varepsilon$.
        bn_momentum: batch norm's momentum (see [`ConvNormActivation`][refimpl.layers.ConvNormActivation]).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        stride: int = 1,
        kernel_size: int = 3,
        activation: ActivationFactory = nn.ReLU6,
        squeeze_channels: Optional[int] = None,
        dilation: int = 1,
        *,
        bn_eps: float = BN_EPS,
        bn_momentum: Optional[float] = BN_MOMENTUM,
    ) -> None:
        super().__init__()
        in_channels = _checks.positive("in_channels", in_channels)
        hidden_channels = _checks.positive("hidden_channels", hidden_channels)
        out_channels = _checks.positive("out_channels", out_channels)
        stride = _checks.choice("stride", stride, (1, 2))
        kernel_size = _checks.positive("kernel_size", kernel_size, "odd, e.g. 3 or 5")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (e.g. 3 or 5) so that 'same' padding keeps the size; got {kernel_size}")
        squeeze_channels = _checks.optional_positive("squeeze_channels", squeeze_channels)
        norm = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        self.in_channels = in_channels
        self.use_residual = stride == 1 and in_channels == out_channels
        self.expand = (
            ConvNormActivation(in_channels, hidden_channels, 1, activation=activation, **norm)
            if hidden_channels != in_channels
            else nn.Identity()
        )
        self.depthwise = ConvNormActivation(
            hidden_channels, hidden_channels, kernel_size, stride=stride, groups=hidden_channels, activation=activation,
            dilation=dilation, **norm,
        )
        self.squeeze_excite = (
            SqueezeExcite(hidden_channels, squeeze_channels) if squeeze_channels is not None else nn.Identity()
        )
        self.project = ConvNormActivation(hidden_channels, out_channels, 1, activation=None, **norm)  # linear bottleneck

    def forward(self, x: Tensor) -> Tensor:
        _checks.batch(x, self.in_channels, 2, "InvertedResidual", self.depthwise.conv.weight.dtype)
        y = self.project(self.squeeze_excite(self.depthwise(self.expand(x))))
        return x + y if self.use_residual else y

