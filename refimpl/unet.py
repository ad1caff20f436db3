r"""U-Net — Ronneberger, Fischer and Brox, *U-Net: Convolutional Networks for Biomedical Image
Segmentation*, MICCAI 2015, arXiv:1505.04597v1.

[`UNet`][refimpl.unet.UNet] is one encoder/decoder for any number of spatial dimensions: the 2-D
network of Fig. 1 by default ([`CONTRACTING`][refimpl.unet.CONTRACTING] and
[`EXPANDING`][refimpl.unet.EXPANDING] are Fig. 1's widths, row for row), and the 3D U-Net of
Çiçek et al. 2016 when `refimpl.unet3d` hands it Fig. 2's widths, ``dims=3`` and batch norm.

The paper's training pieces are here too: the He initialisation of Sec. 3
([`init_weights`][refimpl.unet.init_weights]), the weight map of Eq. 2
([`weight_map`][refimpl.unet.weight_map]), the weighted pixel-wise cross-entropy of Eq. 1
([`weighted_cross_entropy`][refimpl.unet.weighted_cross_entropy]) and the overlap-tile strategy of
Fig. 2 ([`predict_tiled`][refimpl.unet.predict_tiled]). The elastic deformation of Sec. 3.1 is in
`refimpl.augment`.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor, nn

from refimpl import _checks
from refimpl.layers import batch_norm_class, check_input, conv_class, conv_transpose_class, max_pool_class


class Contracting(NamedTuple):
    """One level of the contracting path: two 3×3 convolutions with ``c1`` and ``c2`` output channels."""

    c1: int
    """Output channels of the first 3×3 convolution."""
    c2: int
    """Output channels of the second, which the level passes on (and keeps as its skip connection)."""


class Expanding(NamedTuple):
    """One level of the expanding path: a 2×2 up-convolution to ``up`` channels, concatenation with the
    cropped skip, then two 3×3 convolutions with ``c1`` and ``c2`` output channels."""

    up: int
    """Output channels of the 2×2 up-convolution."""
    c1: int
    """Output channels of the first 3×3 convolution after the concatenation."""
    c2: int
    """Output channels of the second."""


# U-Net, arXiv:1505.04597v1, Fig. 1 — the contracting path, top to bottom (the last row is the bottom
# of the "U", which has no pooling after it). Sizes are those of a 572 × 572 input tile.
#              c1     c2          input of the level
CONTRACTING: tuple[Contracting, ...] = (
    Contracting(64, 64),       # 572² × 1
    Contracting(128, 128),     # 284² × 64
    Contracting(256, 256),     # 140² × 128
    Contracting(512, 512),     # 68² × 256
    Contracting(1024, 1024),   # 32² × 512   "32x32 pixels in the lowest resolution"
)
"""Fig. 1's contracting path, ``Contracting(c1, c2)`` per level, the bottom level last."""

# U-Net, arXiv:1505.04597v1, Fig. 1 — the expanding path, bottom to top. "A 2x2 convolution
# ('up-convolution') that halves the number of feature channels" (Sec. 2).
#            up    c1    c2        input of the up-convolution
EXPANDING: tuple[Expanding, ...] = (
    Expanding(512, 512, 512),   # 28² × 1024
    Expanding(256, 256, 256),   # 52² × 512
    Expanding(128, 128, 128),   # 100² × 256
    Expanding(64, 64, 64),      # 196² × 128
)
"""Fig. 1's expanding path, ``Expanding(up, c1, c2)`` per level, from the bottom up."""

PAPER_TILE = 572
"""Fig. 1's input tile (572 × 572), whose output segmentation map is 388 × 388."""

W0 = 10.0
"""$w_0$ of Eq. 2: "In our experiments we set $w_0 = 10$ and $\\sigma \\approx 5$ pixels" (Sec. 3)."""

SIGMA = 5.0
"""$\\sigma$ of Eq. 2, in pixels (Sec. 3)."""

CAFFE_BN_EPS = 1e-5
"""Caffe's ``BatchNorm`` default ε (both papers' implementations are Caffe); only used when ``norm=True``."""

KERNEL = 3
"""Every convolution of both paths is 3×3 (3×3×3 in 3-D)."""

CONVS_PER_LEVEL = 2
"""Two 3×3 convolutions per level (Sec. 2)."""


class ConvUnit(nn.Sequential):
    r"""One 3×3 convolution → (batch norm) → ReLU of either path.

    Sub-modules ``conv``, ``norm`` (only when ``norm=True``) and ``act``. Unlike
    [`ConvNormActivation`][refimpl.layers.ConvNormActivation] (the TF-slim convention: no bias before
    batch norm, learned scale and shift), the convolution always has its bias and the batch norm has
    no learned parameters unless ``norm_affine``: that is Caffe's ``Convolution`` + ``BatchNorm``
    layer pair, and the convention under which the 3D U-Net paper's 19,069,955 parameters count
    (see `refimpl.unet3d`).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        padding: ``"valid"`` (the paper: unpadded) or ``"same"``.
        norm: batch normalisation before the ReLU (3D U-Net, Sec. 2).
        norm_affine: give the batch norm a learned scale and shift.
        dims: spatial dimensions.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        padding: str = "valid",
        norm: bool = False,
        norm_affine: bool = False,
        dims: int = 2,
    ) -> None:
        super().__init__()
        in_channels = _checks.positive("in_channels", in_channels)
        out_channels = _checks.positive("out_channels", out_channels)
        norm = _checks.flag("norm", norm)
        norm_affine = _checks.flag("norm_affine", norm_affine)
        # DEVIATION from Ronneberger et al. 2015 when padding="same": the output keeps the input's size.
        # padding="valid" (the default) is the paper's "unpadded convolutions", 572² → 388².
        self.add_module("conv", conv_class(dims)(in_channels, out_channels, KERNEL, padding=_padding(padding)))
        if norm:
            self.add_module("norm", batch_norm_class(dims)(out_channels, eps=CAFFE_BN_EPS, affine=norm_affine))
        self.add_module("act", nn.ReLU(inplace=True))


class ConvPair(nn.Sequential):
    """The two [`ConvUnit`][refimpl.unet.ConvUnit]s of one level, named ``conv1`` and ``conv2``.

    Args:
        in_channels: input channels of ``conv1``.
        c1: output channels of ``conv1``.
        c2: output channels of ``conv2``.
        **unit_options (Any): ``padding``, ``norm``, ``norm_affine`` and ``dims`` of both units.
    """

    def __init__(self, in_channels: int, c1: int, c2: int, **unit_options) -> None:
        super().__init__()
        c1, c2 = _checks.positive("c1", c1), _checks.positive("c2", c2)
        self.conv1 = ConvUnit(in_channels, c1, **unit_options)
        self.conv2 = ConvUnit(c1, c2, **unit_options)


def _padding(padding: str) -> int:
    if not isinstance(padding, str):
        raise ValueError(f'padding must be "valid" (the paper) or "same"; got {_checks.describe(padding)}')
    if padding == "valid":
        return 0
    if padding == "same":
        return KERNEL // 2
    raise ValueError(f'padding must be "valid" (the paper) or "same"; got {padding!r}')


def center_crop(x: Tensor, size: Sequence[int]) -> Tensor:
    """The central ``size`` of ``x``'s spatial dimensions: Sec. 2's "correspondingly cropped feature map".

    Args:
        x: ``(N, C, *spatial)``.
        size: the spatial size to keep, one side per spatial dimension, each at most ``x``'s.
    """
    _checks.tensor("x", x, "center_crop")
    size = _checks.sequence("size", size, "one side length per spatial dimension of x")
    if x.dim() < 3 or len(size) != x.dim() - 2:
        raise ValueError(f"center_crop: size must give one side per spatial dimension of x (N, C, *spatial); "
                         f"got size {size} for x of shape {tuple(x.shape)}")
    for i, (have, want) in enumerate(zip(x.shape[2:], size)):
        _checks.integer(f"size[{i}]", want, 1, int(have), hint="a crop cannot be larger than the feature map")
    slices = [slice(None), slice(None)]
    for have, want in zip(x.shape[2:], size):
        start = (have - want) // 2
        slices.append(slice(start, start + want))
    return x[tuple(slices)]


class UNet(nn.Module):
    r"""U-Net of Fig. 1, or any encoder/decoder of the same shape in 1, 2 or 3 dimensions.

    Contracting path: per level two 3×3 convolutions with ReLU, then 2×2 max pooling with stride 2;
    expanding path: per level a 2×2 up-convolution, concatenation with the centre-cropped feature map
    of the same level of the contracting path, and two 3×3 convolutions with ReLU; finally a 1×1
    convolution "to map each 64-component feature vector to the desired number of classes"
    (Sec. 2). The softmax of Sec. 3 is left to the loss, so the model returns logits.

    Weights are initialised as in Sec. 3 ([`init_weights`][refimpl.unet.init_weights]).

    Args:
        in_channels: channels of the input image (1 for the EM and light-microscopy data).
        num_classes: $K$, channels of the output map (2 in Fig. 1).
        contracting: rows ``Contracting(c1, c2)``, the bottom level last (default: Fig. 1).
        expanding: rows ``Expanding(up, c1, c2)``, from the bottom up (default: Fig. 1); one fewer
            than ``contracting``.
        dims: spatial dimensions (2 for images, 3 for volumes).
        padding: ``"valid"`` (the paper's unpadded convolutions) or ``"same"``.
        norm: batch norm before each ReLU (3D U-Net).
        norm_affine: give that batch norm a learned scale and shift.
        dropout: drop-out probability "at the end of the contracting path" (Sec. 3.1); 0 for none.
            The paper does not give the probability.
        up_bias: give the up-convolutions a bias.
        name: the model's name in error messages.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        contracting: Sequence[Contracting] = CONTRACTING,
        expanding: Sequence[Expanding] = EXPANDING,
        *,
        dims: int = 2,
        padding: str = "valid",
        norm: bool = False,
        norm_affine: bool = False,
        dropout: float = 0.0,
        up_bias: bool = True,
        name: str = "U-Net",
    ) -> None:
        super().__init__()
        contracting = _checks.rows("contracting", contracting, Contracting._fields, "Contracting(c1, c2) rows such as CONTRACTING")
        expanding = _checks.rows("expanding", expanding, Expanding._fields, "Expanding(up, c1, c2) rows such as EXPANDING",
                                 min_rows=0)
        if len(expanding) != len(contracting) - 1:
            raise ValueError(
                f"expanding needs one row per pooling, len(contracting) - 1 = {len(contracting) - 1}; got {len(expanding)}"
            )
        in_channels = _checks.positive("in_channels", in_channels, "e.g. 1 for grey-scale images")
        num_classes = _checks.positive("num_classes", num_classes, "e.g. 2")
        dropout = _checks.probability("dropout", dropout, "0 for none")
        norm, norm_affine = _checks.flag("norm", norm), _checks.flag("norm_affine", norm_affine)
        up_bias = _checks.flag("up_bias", up_bias)
        conv_class(dims)  # refuses dims other than 1, 2, 3
        dims = int(dims)
        if not isinstance(name, str):
            raise _checks.ArgumentTypeError(f"name must be a string such as 'U-Net'; got {_checks.describe(name)}")
        _padding(padding)
        self.in_channels, self.num_classes, self.dims, self.padding, self.name = in_channels, num_classes, dims, padding, name
        unit = dict(padding=padding, norm=norm, norm_affine=norm_affine, dims=dims)

        self.contract = nn.ModuleList()
        channels, skips = in_channels, []
        for c1, c2 in contracting:
            self.contract.append(ConvPair(channels, c1, c2, **unit))
            channels = c2
            skips.append(c2)
        self.pool = max_pool_class(dims)(2, stride=2)  # "2x2 max pooling operation with stride 2"
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()

        self.up = nn.ModuleList()
        self.expand = nn.ModuleList()
        for (up, c1, c2), skip in zip(expanding, reversed(skips[:-1])):
            self.up.append(conv_transpose_class(dims)(channels, up, 2, stride=2, bias=up_bias))  # "2x2 up-convolution"
            self.expand.append(ConvPair(skip + up, c1, c2, **unit))
            channels = c2
        self.head = conv_class(dims)(channels, num_classes, 1)  # "a 1x1 convolution ... to the desired number of classes"
        init_weights(self)

    @property
    def depth(self) -> int:
        """Number of 2×2 poolings (4 in Fig. 1)."""
        return len(self.up)

    def forward(self, x: Tensor) -> Tensor:
        r"""Logits $a_k(x)$, shape ``(N, K, *output size)``, for an input ``(N, in_channels, *size)`` of valid sizes."""
        check_input(x, self.in_channels, self.dims, self.name, self.head.weight.dtype)
        for size in x.shape[2:]:
            self.check_size(size)
        skips = []
        for level in self.contract[:-1]:
            x = level(x)                # (N, c2_i, S_i - 4, ...)     valid: two 3×3 convolutions
            skips.append(x)
            x = self.pool(x)            # (N, c2_i, (S_i - 4)/2, ...)
        x = self.dropout(self.contract[-1](x))  # bottom of the "U": (N, 1024, 28, 28) at 572²
        for up, level, skip in zip(self.up, self.expand, reversed(skips)):
            x = up(x)                   # (N, up_i, 2 S, ...)
            x = torch.cat([center_crop(skip, x.shape[2:]), x], dim=1)  # (N, skip_i + up_i, 2 S, ...)
            x = level(x)                # (N, c2_i, 2 S - 4, ...)
        return self.head(x)             # (N, K, 388, 388) at 572²

    # ------------------------------------------------------------------ tile sizes

    @property
    def _shrink(self) -> int:
        """Pixels one level's two convolutions take from a side length (4 valid, 0 same)."""
        return CONVS_PER_LEVEL * 2 * _padding_loss(self.padding)

    def output_size(self, size: int) -> Optional[int]:
        """Side length of the output for an input side ``size``, or ``None`` when ``size`` is not a valid tile.

        Args:
            size: input side length, pixels (voxels in 3D).
        """
        x, shrink = _checks.integer("size", size, None), self._shrink
        for _ in range(self.depth):
            x -= shrink
            if x < 1 or x % 2:          # "all 2x2 max-pooling operations are applied to a layer with an even x- and y-size"
                return None
            x //= 2
        x -= shrink                     # bottom level
        if x < 1:
            return None
        for _ in range(self.depth):
            x = 2 * x - shrink
            if x < 1:
                return None
        return x

    def tile_rule(self) -> tuple[int, int, int]:
        r"""``(a, c, k_min)``: the valid side lengths are $a k + c$ for $k \ge k_{\min}$.

        $a = 2^{\text{depth}}$; for Fig. 1 with valid convolutions this is $16k + 124$, $k \ge 4$
        (572 = 16 · 28 + 124, where 28 is the bottom level's output); with "same" padding $16k$, $k \ge 1$.
        """
        a = 2**self.depth
        c = self._shrink
        for _ in range(self.depth):
            c = 2 * c + self._shrink
        k = 0 if self._shrink else 1
        while self.output_size(a * k + c) is None:
            k += 1
        return a, c, k

    def valid_sizes(self, low: int, high: int) -> list[int]:
        """Every valid side length in ``[low, high]``.

        Args:
            low: smallest side length, included.
            high: largest side length, included.
        """
        low, high = _checks.integer("low", low, None), _checks.integer("high", high, None)
        a, c, k_min = self.tile_rule()
        return [a * k + c for k in range(k_min, (high - c) // a + 1) if a * k + c >= low]

    def nearest_valid_sizes(self, size: int) -> list[int]:
        """The valid side lengths just below and just above ``size`` (one of them if ``size`` is below the smallest).

        Args:
            size: an input side length, valid or not.
        """
        size = _checks.integer("size", size, None)
        a, c, k_min = self.tile_rule()
        k = (size - c) // a
        candidates = [a * k + c, a * (k + 1) + c]
        return [s for s in candidates if (s - c) // a >= k_min and s != size] or [a * k_min + c]

    def check_size(self, size: int) -> None:
        """Raise `ValueError`, naming the nearest valid sizes, unless ``size`` is a valid side length.

        Args:
            size: input side length, pixels (voxels in 3D).
        """
        size = _checks.integer("size", size, None)
        if self.output_size(size) is not None:
            return
        a, c, k_min = self.tile_rule()
        unit = "voxels" if self.dims == 3 else "pixels"
        near = " and ".join(str(s) for s in self.nearest_valid_sizes(size))
        rule = f"{a}k + {c}" if c else f"{a}k"
        kind = "valid (unpadded)" if self.padding == "valid" else '"same"-padded'
        pool = "×".join(["2"] * self.dims)
        raise ValueError(
            f"{self.name} with {kind} convolutions needs {rule} {unit} per side (k ≥ {k_min}), so that every "
            f"{pool} max pooling sees an even size; got {size}. Nearest valid sizes: {near}"
        )


def _padding_loss(padding: str) -> int:
    """Pixels a 3×3 convolution removes from each end of a side: 1 unpadded, 0 with "same" padding."""
    return KERNEL // 2 - _padding(padding)


# --------------------------------------------------------------------------- initialisation


def incoming_nodes(module: nn.Module) -> int:
    r"""$N$ of Sec. 3, "the number of incoming nodes of one neuron".

    For a convolution it is (input channels / groups) × kernel volume, "e.g. for a 3x3 convolution
    and 64 feature channels in the previous layer $N = 9 \cdot 64 = 576$". For a $2 \times 2$
    up-convolution with stride 2 each output neuron receives one kernel tap per input channel,
    so $N$ = input channels × kernel volume / stride volume (the paper does not discuss this case).

    Args:
        module: a convolution or up-convolution (1D, 2D or 3D).
    """
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        taps = math.prod(module.kernel_size) // math.prod(module.stride)
        return module.in_channels // module.groups * max(1, taps)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return module.in_channels // module.groups * math.prod(module.kernel_size)
    raise _checks.ArgumentTypeError(f"incoming_nodes needs a convolution or up-convolution (nn.Conv2d, "
                                    f"nn.ConvTranspose3d, …); got {type(module).__name__}")


def init_weights(model: nn.Module) -> nn.Module:
    r"""Sec. 3: weights from a Gaussian with standard deviation $\sqrt{2/N}$, biases zero.

    "Ideally the initial weights should be adapted such that each feature map in the network has
    approximately unit variance. For a network with our architecture (alternating convolution and
    ReLU layers) this can be achieved by drawing the initial weights from a Gaussian distribution
    with a standard deviation of $\sqrt{2/N}$" (He et al. 2015).

    A model on the ``meta`` device has no values to draw, so it is returned as it is (drawing on
    ``meta`` would also import PyTorch's reference kernels, about 1.5 s).

    Args:
        model: the network to initialise, in place: every convolution and up-convolution in it.

    Returns:
        ``model`` itself.
    """
    if not isinstance(model, nn.Module):
        raise _checks.ArgumentTypeError(f"init_weights needs a torch.nn.Module such as UNet(); got {_checks.describe(model)}")
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            if module.weight.device.type == "meta":
                continue
            nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / incoming_nodes(module)))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


# --------------------------------------------------------------------------- weight map and loss


def class_balance_weights(labels: np.ndarray) -> np.ndarray:
    r"""$w_c(x)$ of Eq. 2, "the weight map to balance the class frequencies".

    The paper does not give the formula; this is inverse class frequency, normalised so that the
    most frequent class has weight 1: $w_c(x) = n_{\max} / n_{l(x)}$ with $n_k$ the number of
    pixels of class $k$ in ``labels``.

    Args:
        labels: class labels, an array (or array-like) of at least one pixel.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biuf" or labels.size == 0:
        raise ValueError(f"labels must be a non-empty array of class labels (bool, integer or float); "
                         f"got shape {labels.shape} and dtype {labels.dtype}")
    classes, counts = np.unique(labels, return_counts=True)
    weight = counts.max() / counts
    return weight[np.searchsorted(classes, labels)].astype(np.float64)


def weight_map(
    instances: np.ndarray,
    w0: float = W0,
    sigma: float = SIGMA,
    class_weights: Optional[np.ndarray] = None,
    background_only: bool = False,
) -> np.ndarray:
    r"""The loss weight map of Eq. 2,

    $$w(x) = w_c(x) + w_0 \cdot \exp\left(-\frac{(d_1(x) + d_2(x))^2}{2\sigma^2}\right),$$

    "where $d_1$ denotes the distance to the border of the nearest cell and $d_2$ the distance to the
    border of the second nearest cell". Distances are Euclidean distance transforms
    (`scipy.ndimage.distance_transform_edt`) to each cell's pixels, so they are 0 inside a cell.

    Args:
        instances: integer instance labels, 0 for background and 1, 2, … for the cells (any number of
            spatial dimensions).
        w0: $w_0$ (10 in the paper).
        sigma: $\sigma$ in pixels (≈ 5 in the paper).
        class_weights: $w_c(x)$ per pixel; ``None`` uses
            [`class_balance_weights`][refimpl.unet.class_balance_weights] of foreground/background.
        background_only: add the border term on background pixels only. Eq. 2 as printed adds it
            everywhere (the default); Fig. 3d shows it where it matters, between touching cells.
    """
    instances = np.asarray(instances)
    if not np.issubdtype(instances.dtype, np.integer) or instances.ndim < 1 or instances.size == 0 or instances.min() < 0:
        raise ValueError(f"instances must be a non-empty array of non-negative integer instance labels (0 = background); "
                         f"got shape {instances.shape} and dtype {instances.dtype}")
    w0 = _checks.real("w0", w0, 0.0, hint=f"{W0:g} in the paper")
    sigma = _checks.real("sigma", sigma, 0.0, low_open=True, hint=f"pixels, {SIGMA:g} in the paper")
    background_only = _checks.flag("background_only", background_only)
    w_c = class_balance_weights(instances > 0) if class_weights is None else np.asarray(class_weights, dtype=np.float64)
    if w_c.shape != instances.shape:
        raise ValueError(f"class_weights must have the shape of instances {instances.shape}; got {w_c.shape}")
    cells = [i for i in np.unique(instances) if i != 0]
    if len(cells) < 2:  # d_2 does not exist: no pair of cells to separate
        return w_c.copy()
    distances = np.stack([ndimage.distance_transform_edt(instances != i) for i in cells])  # (n_cells, *spatial)
    d = np.partition(distances, 1, axis=0)[:2]                                              # d_1, d_2
    border = w0 * np.exp(-((d[0] + d[1]) ** 2) / (2 * sigma**2))
    if background_only:
        border = border * (instances == 0)
    return w_c + border


def weighted_cross_entropy(logits: Tensor, target: Tensor, weight: Tensor, reduction: str = "sum") -> Tensor:
    r"""Pixel-wise softmax with weighted cross-entropy, Eq. 1, as a loss to minimise.

    Eq. 1 is printed as $E = \sum_{x \in \Omega} w(x) \log(p_{\ell(x)}(x))$, without a minus sign:
    as printed it is a log-likelihood to maximise. Minimised, the loss is its negative,

    $$L = -\sum_{x \in \Omega} w(x) \log p_{\ell(x)}(x), \qquad p_k(x) = \frac{\exp a_k(x)}{\sum_{k'} \exp a_{k'}(x)}.$$

    Args:
        logits: $a_k(x)$, shape ``(N, K, *spatial)``.
        target: $\ell(x)$, class indices, shape ``(N, *spatial)``.
        weight: $w(x)$, shape ``(N, *spatial)`` (or broadcastable to it).
        reduction: ``"sum"`` (Eq. 1) or ``"mean"`` ($L / \sum_x w(x)$).

    ``target`` must be an integer tensor of classes in $\{0, …, K-1\}$ (checked, except on ``meta``).
    """
    _check_cross_entropy_inputs(logits, target, weight, reduction, "weighted_cross_entropy")
    log_p = F.log_softmax(logits, dim=1)
    log_p_true = log_p.gather(1, target.long().unsqueeze(1)).squeeze(1)  # log p_{l(x)}(x), (N, *spatial)
    weight = weight.to(log_p.dtype).expand_as(log_p_true)
    loss = -(weight * log_p_true).sum()
    if reduction == "sum":
        return loss
    return loss / weight.sum()  # "mean"


def _check_cross_entropy_inputs(logits: Tensor, target: Tensor, weight: Tensor, reduction: str, owner: str) -> None:
    """Types and shapes of a cross-entropy's logits ``(N, K, *spatial)``, target and weight ``(N, *spatial)``."""
    if not isinstance(reduction, str) or reduction not in ("sum", "mean"):
        raise ValueError(f'reduction must be "sum" or "mean"; got {_checks.describe(reduction)}')
    _checks.floating("logits", logits, owner)
    _checks.labels("target", target, owner)
    _checks.tensor("weight", weight, owner)
    if logits.dim() != target.dim() + 1:
        raise ValueError(f"logits (N, K, ...) need one more dimension than target (N, ...); got {tuple(logits.shape)} and {tuple(target.shape)}")
    if target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(f"{owner}: target must have the shape of logits without the class axis, "
                         f"{tuple(logits.shape[:1] + logits.shape[2:])}; got {tuple(target.shape)}")
    try:
        fits = torch.broadcast_shapes(weight.shape, target.shape) == target.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"{owner}: weight must have the shape of target {tuple(target.shape)} or broadcast to it; "
                         f"got {tuple(weight.shape)}")
    classes = logits.shape[1]
    if _checks.has_values(target) and target.numel():
        low, high = _checks.value_range(target.to(torch.int64) if target.dtype == torch.bool else target)
        if low < 0 or high >= classes:
            raise ValueError(f"{owner}: target must hold class indices in [0, {classes - 1}] for {classes} logit channels; "
                             f"got values from {low} to {high}")


# --------------------------------------------------------------------------- overlap-tile prediction


def mirror_pad(x: Tensor, pads: Sequence[tuple[int, int]]) -> Tensor:
    """Pad the spatial dimensions of ``x`` (N, C, *spatial) by mirroring, ``pads[i] = (before, after)``.

    "To predict the pixels in the border region of the image, the missing context is extrapolated by
    mirroring the input image" (Sec. 1). The mirror does not repeat the edge pixel (NumPy's
    ``"reflect"``) and may be wider than the image.

    Args:
        x: ``(N, C, *spatial)``, every spatial side at least 1.
        pads: ``(before, after)`` pairs of non-negative integers, one per spatial axis (or fewer).
    """
    _checks.tensor("x", x, "mirror_pad")
    pads = _checks.sequence("pads", pads, "(before, after) pairs, one per spatial axis")
    if len(pads) > x.dim() - 2:
        raise ValueError(f"mirror_pad: pads must give at most one (before, after) pair per spatial axis of x "
                         f"(shape {tuple(x.shape)}); got {len(pads)} pairs")
    for i, pair in enumerate(pads):
        pair = _checks.sequence(f"pads[{i}]", pair, "a (before, after) pair of non-negative integers")
        if len(pair) != 2:
            raise ValueError(f"pads[{i}] must be a (before, after) pair of non-negative integers; got {pair}")
        for side in pair:
            _checks.integer(f"pads[{i}]", side, 0, hint="pixels to add before and after")
        if x.shape[2 + i] < 1:
            raise ValueError(f"mirror_pad cannot mirror an empty axis: x has shape {tuple(x.shape)}")
    for axis, (before, after) in enumerate(pads, start=2):
        n = x.shape[axis]
        idx = torch.arange(-before, n + after, device=x.device)
        period = 2 * (n - 1) if n > 1 else 1
        idx = torch.remainder(idx, period)
        idx = torch.where(idx >= n, period - idx, idx)
        x = x.index_select(axis, idx)
    return x


def tiling(model: UNet, image_size: Sequence[int], tile: int, step: Optional[int] = None) -> tuple[int, int, list[int]]:
    """``(margin, step, tiles per axis)`` of [`predict_tiled`][refimpl.unet.predict_tiled] for an image of ``image_size``.

    Args:
        model: a [`UNet`][refimpl.unet.UNet] with valid convolutions.
        image_size: the image's spatial size, one side (at least 1) per spatial dimension of the model.
        tile: the input tile side length (a valid size).
        step: output pixels between tiles, or ``None`` for the largest aligned step.
    """
    if not isinstance(model, UNet):
        raise _checks.ArgumentTypeError(f"model must be a UNet (refimpl.unet.UNet); got {_checks.describe(model)}")
    image_size = _checks.sequence("image_size", image_size, f"the image's {model.dims} spatial sides")
    if len(image_size) != model.dims:
        raise ValueError(f"image_size must give the {model.dims} spatial sides of the image; got {tuple(image_size)}")
    for i, n in enumerate(image_size):
        _checks.positive(f"image_size[{i}]", n, "an image of at least one pixel per side")
    tile = _checks.integer("tile", tile, 1, hint="a valid tile side such as 572")
    if step is not None:
        step = _checks.integer("step", step, None)
    if model.padding != "valid":
        raise ValueError('overlap-tile prediction needs valid convolutions (padding="valid"): with "same" padding each tile sees zeros at its border')
    model.check_size(tile)
    out = model.output_size(tile)
    margin = (tile - out) // 2
    align = 2**model.depth
    step = out - out % align if step is None else step
    if step < 1 or step > out:
        raise ValueError(f"step must be in [1, {out}] (the output tile); got {step}")
    return margin, step, [math.ceil(n / step) for n in image_size]


def predict_tiled(model: UNet, image: Tensor, tile: int, step: Optional[int] = None) -> Tensor:
    r"""Segment an image of any size tile by tile: the overlap-tile strategy of Fig. 2.

    Each input tile of side ``tile`` (a valid size, e.g. 572) yields the segmentation of its centre
    (388² for 572²); the image is mirror-padded by the border width so that the outermost pixels
    have context too. Tiles advance by ``step`` output pixels; by default the largest multiple of
    $2^{\text{depth}}$ (16 for Fig. 1) that fits in the output tile, so that every tile's pooling
    grid lines up with that of one big input: the stitched result then equals
    ``model(mirror-padded image)`` cropped, up to float rounding. The model's mode (``eval()``) is
    the caller's to set.

    Args:
        model: a [`UNet`][refimpl.unet.UNet] with valid convolutions.
        image: ``(N, C, *spatial)``, any spatial size.
        tile: the input tile side length.
        step: output pixels between tiles (≤ the output tile size).
    """
    _check_image(model, image)
    margin, step, counts = tiling(model, image.shape[2:], tile, step)
    pads = [(margin, (n_tiles - 1) * step + tile - margin - size) for n_tiles, size in zip(counts, image.shape[2:])]
    padded = mirror_pad(image, pads)
    out = image.new_empty((image.shape[0], model.num_classes, *[n * step for n in counts]))
    with torch.no_grad():
        for index in itertools.product(*[range(n) for n in counts]):
            source = tuple(slice(i * step, i * step + tile) for i in index)
            target = tuple(slice(i * step, (i + 1) * step) for i in index)
            y = model(padded[(slice(None), slice(None), *source)])
            out[(slice(None), slice(None), *target)] = y[(slice(None), slice(None), *[slice(0, step)] * len(index))]
    return out[(slice(None), slice(None), *[slice(0, n) for n in image.shape[2:]])]


def predict_whole(model: UNet, image: Tensor, tile: int, step: Optional[int] = None) -> Tensor:
    """The same prediction as [`predict_tiled`][refimpl.unet.predict_tiled] from one pass over the whole mirror-padded image.

    Args:
        model: a [`UNet`][refimpl.unet.UNet] with valid convolutions.
        image: ``(N, C, *spatial)``, any spatial size.
        tile: the input tile side length whose tiling is reproduced.
        step: output pixels between tiles, as for [`predict_tiled`][refimpl.unet.predict_tiled].
    """
    _check_image(model, image)
    margin, step, counts = tiling(model, image.shape[2:], tile, step)
    pads = [(margin, (n_tiles - 1) * step + tile - margin - size) for n_tiles, size in zip(counts, image.shape[2:])]
    with torch.no_grad():
        y = model(mirror_pad(image, pads))
    return y[(slice(None), slice(None), *[slice(0, n) for n in image.shape[2:]])]


def _check_image(model: UNet, image: Tensor) -> None:
    """The model is a U-Net and ``image`` a batch it takes, of any spatial size of at least one pixel."""
    if not isinstance(model, UNet):
        raise _checks.ArgumentTypeError(f"model must be a UNet (refimpl.unet.UNet); got {_checks.describe(model)}")
    check_input(image, model.in_channels, model.dims, model.name, model.head.weight.dtype)
