r"""ResNet — He K., et al., *Deep Residual Learning for Image Recognition*, CVPR 2016, arXiv:1512.03385v1.

Two families, both built from the shared blocks of [`refimpl.residual`][refimpl.residual]:

* the ImageNet networks of Table 1 ([`ResNet`][refimpl.resnet.ResNet], 18 to 152 layers): a
  $7 \times 7$ convolution, a $3 \times 3$ max pool, the four stages of
  [`STAGES`][refimpl.resnet.STAGES] (a data literal that follows Table 1 row for row), a global
  average pool and a 1000-way fully connected layer; with ``shortcut=None`` they are the "plain"
  networks of Fig. 3 (middle);
* the CIFAR-10 networks of Sec. 4.2 ([`CifarResNet`][refimpl.resnet.CifarResNet], $6n+2$ layers):
  a $3 \times 3$ convolution, three stages of $2n$ layers on $32^2$, $16^2$, $8^2$ maps with 16, 32,
  64 filters ([`CIFAR_STAGES`][refimpl.resnet.CIFAR_STAGES]), a global average pool and a 10-way
  fully connected layer; option A shortcuts.

For the complexity figures of Sec. 3.3 and Sec. 4.1 ("VGG-16/19 nets (15.3/19.6 billion FLOPs)")
[`VGG`][refimpl.resnet.VGG] builds the VGG networks (Simonyan & Zisserman 2015, configurations D and
E) that Fig. 3 (left) draws next to the 34-layer nets.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Union

from torch import Tensor, nn

from refimpl.layers import check_input
from refimpl.residual import (
    BN_EPS,
    BN_MOMENTUM,
    AttentionFactory,
    BasicBlock,
    Bottleneck,
    conv_norm,
)


class Stage(NamedTuple):
    """One residual row of Table 1: layer name, width of its $3 \\times 3$ convolutions, blocks per depth."""

    layer_name: str
    """Table 1's "layer name", e.g. ``"conv2_x"``."""
    width: int
    """Width $w$ of the stage's $3 \\times 3$ convolutions (its output is $w$, or $4w$ for a bottleneck)."""
    blocks: tuple[int, int, int, int, int]
    """The "×n" of the 18-, 34-, 50-, 101- and 152-layer columns: blocks in the stage."""


DEPTHS = (18, 34, 50, 101, 152)
"""The columns of Table 1: "18-layer", "34-layer", "50-layer", "101-layer", "152-layer"."""

STEM_CHANNELS = 64
"""Table 1, conv1: "7×7, 64, stride 2" (output size 112×112)."""

# ResNet, arXiv:1512.03385v1, Table 1 — the residual stages, top to bottom. "blocks" is the "×n" of
# the 18-, 34-, 50-, 101- and 152-layer columns; a block is [3×3, w; 3×3, w] in the first two
# columns and [1×1, w; 3×3, w; 1×1, 4w] in the others.
#       layer name  w         18 34 50 101 152     output size
STAGES: tuple[Stage, ...] = (
    Stage("conv2_x",  64, (2, 3, 3,  3,  3)),   # 56×56 (after "3×3 max pool, stride 2")
    Stage("conv3_x", 128, (2, 4, 4,  4,  8)),   # 28×28
    Stage("conv4_x", 256, (2, 6, 6, 23, 36)),   # 14×14
    Stage("conv5_x", 512, (2, 3, 3,  3,  3)),   # 7×7
)
"""Table 1's residual rows, ``Stage(layer_name, width, blocks)`` each (output sizes in the source comments)."""

BOTTLENECK_DEPTHS = (50, 101, 152)
"""Table 1: the 50-, 101- and 152-layer columns use the bottleneck block (Fig. 5 right)."""

EXPANSION = 4
"""Table 1: a bottleneck's last $1 \\times 1$ has four times the width of its $3 \\times 3$ (64 → 256, …, 512 → 2048)."""

FIRST_STRIDE = (1, 2, 2, 2)
"""Per stage, the stride of its first block: "Downsampling is performed by conv3_1, conv4_1, and conv5_1
with a stride of 2" (Table 1 caption); conv2_x follows the max pool, which has already halved the map."""

NUM_CLASSES = 1000
"""Table 1, last row: "average pool, 1000-d fc, softmax"."""


def blocks_for(depth: int) -> tuple[int, ...]:
    """Blocks per stage of the ``depth``-layer column of Table 1, e.g. ``(3, 4, 6, 3)`` for 50.

    Args:
        depth: one of [`DEPTHS`][refimpl.resnet.DEPTHS].
    """
    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of Table 1's {list(DEPTHS)}; got {depth!r}")
    column = DEPTHS.index(depth)
    return tuple(stage.blocks[column] for stage in STAGES)


def _check_count(name: str, value, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, e.g. {example}; got {value!r}")
    return value


class ResNet(nn.Module):
    r"""The ImageNet networks of Table 1, residual (Fig. 3 right) or plain (Fig. 3 middle).

    Args:
        depth: 18, 34, 50, 101 or 152 (the columns of Table 1).
        num_classes: outputs of the fully connected layer (1000 for ImageNet).
        in_channels: input image channels (3 for RGB).
        shortcut: ``"A"``, ``"B"`` or ``"C"`` (Sec. 4.1; the 50/101/152-layer nets of Table 3 use
            "B"), or ``None`` for the plain network.
        stride_at: where a bottleneck's stride sits, ``"1x1"`` (the paper's released models) or
            ``"3x3"`` (torchvision); see [`STRIDE_AT`][refimpl.residual.STRIDE_AT].
        attention: ``None``, or a callable ``channels -> nn.Module`` put into every block before
            the addition (SE-ResNet, Hu et al.).
        bn_eps: batch-norm $\epsilon$.
        bn_momentum: batch-norm momentum (PyTorch's sense).

    Sub-modules are Table 1's layer names: ``conv1``, ``pool1`` (the max pool), ``conv2_x`` …
    ``conv5_x`` (one block per "×n"), ``pool5`` (the average pool) and ``fc``.
    """

    def __init__(
        self,
        depth: int = 50,
        num_classes: int = NUM_CLASSES,
        in_channels: int = 3,
        shortcut: Optional[str] = "B",
        stride_at: str = "1x1",
        attention: AttentionFactory = None,
        bn_eps: float = BN_EPS,
        bn_momentum: Optional[float] = BN_MOMENTUM,
    ) -> None:
        super().__init__()
        blocks = blocks_for(depth)
        self.in_channels = _check_count("in_channels", in_channels, "3 for RGB")
        _check_count("num_classes", num_classes, "1000")
        self.depth = depth
        norm = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        self.conv1 = conv_norm(in_channels, STEM_CHANNELS, 7, stride=2, **norm)  # "7×7, 64, stride 2"
        # "3×3 max pool, stride 2". DEVIATION from He et al. 2016: the padding is not printed; 1 keeps
        # 112 → 56 (the released Caffe model pads 0 and rounds up, also 56).
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1)
        c = STEM_CHANNELS
        for stage, n, first_stride in zip(STAGES, blocks, FIRST_STRIDE):
            layers = []
            for i in range(n):
                stride = first_stride if i == 0 else 1
                if depth in BOTTLENECK_DEPTHS:
                    block = Bottleneck(c, stage.width, stride, EXPANSION, shortcut, attention, stride_at, **norm)
                    c = EXPANSION * stage.width
                else:
                    block = BasicBlock(c, stage.width, stride, shortcut, attention, **norm)
                    c = stage.width
                layers.append(block)
            self.add_module(stage.layer_name, nn.Sequential(*layers))
        # DEVIATION from He et al. 2016: adaptive, so other input sizes work; at 224² it is the 7×7 "average pool".
        self.pool5 = nn.AdaptiveAvgPool2d(1)
        # "1000-d fc, softmax". DEVIATION from He et al. 2016: the softmax is left to the loss (logits out).
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, 2, "ResNet")
        x = self.pool1(self.conv1(x))  # (N, 64, H/4, W/4)
        for stage in STAGES:
            x = getattr(self, stage.layer_name)(x)  # conv5_x: (N, 512 or 2048, H/32, W/32)
        return self.fc(self.pool5(x).flatten(1))  # (N, num_classes)


# --------------------------------------------------------------------------- CIFAR-10 (Sec. 4.2)

# ResNet, arXiv:1512.03385v1, Sec. 4.2 — the CIFAR-10 table, one column per feature-map size.
#   output map size  # filters        # layers
CIFAR_STAGES: tuple[tuple[int, int], ...] = (
    (32, 16),   # 1+2n (the first 3×3 convolution, then 2n)
    (16, 32),   # 2n
    (8, 64),    # 2n
)
"""Sec. 4.2's table, ``(output map size, # filters)`` per column."""

CIFAR_NUM_CLASSES = 10
"""Sec. 4.2: "The network ends with a global average pooling, a 10-way fully-connected layer, and softmax"."""


def cifar_n(depth: int) -> int:
    r"""$n$ of a CIFAR-10 network with $6n+2$ layers ("There are totally 6n+2 stacked weighted layers").

    Args:
        depth: $6n+2$, e.g. 20, 32, 44, 56, 110 or 1202.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"a CIFAR-10 ResNet has 6n+2 layers (e.g. 20, 32, 44, 56, 110, 1202); got {depth!r}")
    return (depth - 2) // 6


class CifarResNet(nn.Module):
    r"""The CIFAR-10 networks of Sec. 4.2: $6n+2$ weighted layers on $32 \times 32$ images.

    "The first layer is 3×3 convolutions. Then we use a stack of 6n layers with 3×3 convolutions on
    the feature maps of sizes {32, 16, 8} respectively, with 2n layers for each feature map size. The
    numbers of filters are {16, 32, 64} respectively. The subsampling is performed by convolutions
    with a stride of 2." The shortcuts join the pairs of $3 \times 3$ layers ($3n$ of them), and "we
    use identity shortcuts in all cases (i.e., option A)".

    Args:
        depth: $6n+2$: 20, 32, 44, 56, 110 or 1202 in Table 6.
        num_classes: outputs of the fully connected layer (10).
        in_channels: image channels (3).
        shortcut: ``"A"`` (the paper's), ``"B"``, ``"C"``, or ``None`` for the plain nets of Fig. 6.
        bn_eps: batch-norm $\epsilon$.
        bn_momentum: batch-norm momentum (PyTorch's sense).

    Sub-modules: ``conv1``, ``stages`` (three ``nn.Sequential`` of $n$ basic blocks), ``pool``, ``fc``.
    """

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = CIFAR_NUM_CLASSES,
        in_channels: int = 3,
        shortcut: Optional[str] = "A",
        bn_eps: float = BN_EPS,
        bn_momentum: Optional[float] = BN_MOMENTUM,
    ) -> None:
        super().__init__()
        n = self.n = cifar_n(depth)
        self.in_channels = _check_count("in_channels", in_channels, "3 for RGB")
        _check_count("num_classes", num_classes, "10")
        norm = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        c = CIFAR_STAGES[0][1]
        self.conv1 = conv_norm(in_channels, c, 3, **norm)  # "The first layer is 3×3 convolutions"
        stages = []
        for i, (_, filters) in enumerate(CIFAR_STAGES):
            blocks = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1  # "subsampling is performed by convolutions with a stride of 2"
                blocks.append(BasicBlock(c, filters, stride, shortcut, **norm))
                c = filters
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, 2, "CifarResNet")
        x = self.stages(self.conv1(x))  # (N, 64, H/4, W/4): 8×8 for a 32×32 image
        return self.fc(self.pool(x).flatten(1))  # (N, 10)


# --------------------------------------------------------------------------- VGG (Fig. 3 left)

# Simonyan & Zisserman, arXiv:1409.1556v6, Table 1 — configurations D (16 layers) and E (19 layers):
# 3×3 convolutions of the given widths, "M" a 2×2 max pool; then FC-4096, FC-4096, FC-1000.
VGG_CONFIGS: dict[int, tuple[Union[int, str], ...]] = {
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
"""The convolution columns of VGG's configurations D (``16``) and E (``19``)."""


class VGG(nn.Module):
    r"""VGG-16 or VGG-19 (Simonyan & Zisserman 2015), the left network of Fig. 3, for the complexity comparison.

    No batch norm, as in the original; $3 \times 3$ convolutions with bias and ReLU, 2×2 max pools,
    then three fully connected layers (4096, 4096, ``num_classes``) on the $7 \times 7 \times 512$ map.

    Args:
        depth: 16 (configuration D) or 19 (configuration E).
        num_classes: outputs of the last fully connected layer (1000).
    """

    def __init__(self, depth: int = 19, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        if depth not in VGG_CONFIGS:
            raise ValueError(f"VGG depth must be one of {sorted(VGG_CONFIGS)}; got {depth!r}")
        _check_count("num_classes", num_classes, "1000")
        layers: list[nn.Module] = []
        c = 3
        for v in VGG_CONFIGS[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(c * 7 * 7, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, 3, 2, "VGG")
        return self.classifier(self.features(x).flatten(1))  # (N, 512·7·7) → (N, num_classes); needs 224×224


# --------------------------------------------------------------------------- initialisation


def init_weights(model: nn.Module) -> nn.Module:
    r"""He initialisation, "We initialize the weights as in [13]" (Sec. 3.4): $\mathcal{N}(0, 2/n_l)$.

    $n_l = k^2 c$ is the fan-in of a convolution (He et al. 2015, Eq. 10); batch norm starts at
    $\gamma = 1, \beta = 0$ (PyTorch's default). Parameters on the ``meta`` device are left alone.

    Args:
        model: the network to initialise, in place.

    Returns:
        ``model`` itself.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.weight.device.type != "meta":
            fan_in = module.in_channels // module.groups * math.prod(module.kernel_size)
            nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_in))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


# --------------------------------------------------------------------------- counting


def weighted_layers(model: nn.Module) -> int:
    r"""The "stacked weighted layers" the paper counts in a name like "34-layer": convolutions and
    fully connected layers, projection shortcuts left out.

    Table 1's 34-layer net is conv1 + 2·(3+4+6+3) convolutions in the blocks + the fc; the
    projections of option B or C (Eq. 2's $W_s$) are not counted in the depth.

    Args:
        model: a network whose shortcut modules are named ``shortcut``, as in `refimpl.residual`.
    """
    return sum(
        isinstance(m, (nn.Conv2d, nn.Linear)) and ".shortcut." not in f".{name}."
        for name, m in model.named_modules()
    )


def projection_shortcuts(model: nn.Module) -> int:
    r"""How many shortcuts of ``model`` are projections $W_s$ (Eq. 2), i.e. carry a convolution.

    Args:
        model: a network whose shortcut modules are named ``shortcut``, as in `refimpl.residual`.
    """
    return sum(name.endswith(".shortcut") and any(True for _ in m.parameters()) for name, m in model.named_modules())
