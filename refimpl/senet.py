r"""SENet — Hu J., Shen L., Sun G., *Squeeze-and-Excitation Networks*, CVPR 2018, arXiv:1709.01507.

Every table, equation and section number here is that of arXiv:1709.01507v4, the extended version
of the CVPR paper (IEEE TPAMI 2019, with S. Albanie and E. Wu as further authors): the block and
the networks are the CVPR paper's, and v4 extends it with the ablations of Sec. 6–7 (Tables 10–16).

The squeeze-and-excitation block [`SEBlock`][refimpl.senet.SEBlock] (Fig. 1) recalibrates the
channels of a feature map $\mathbf{U}$: *squeeze* by global average pooling (Eq. 2), *excite*
by two fully connected layers around a ReLU with a sigmoid gate (Eq. 3), *scale* each channel by
its gate (Eq. 4). SE-ResNet (Fig. 3) puts it on the residual branch of each bottleneck, "before
summation with the identity branch" (Sec. 3.3): [`SENet`][refimpl.senet.SENet] builds that from
the shared [`Bottleneck`][refimpl.residual.Bottleneck] through its ``attention`` slot. The
architectures of Table 1 are the data literals [`SE_RESNET_50`][refimpl.senet.SE_RESNET_50] and
[`SE_RESNEXT_50`][refimpl.senet.SE_RESNEXT_50]; deeper ones take ResNet's block counts
([`BLOCKS`][refimpl.senet.BLOCKS]).

Where the paper is silent the authors' released Caffe models (hujie-frank/SENet) decide: the FC
layers of the block have biases, and a bottleneck's stride sits in its first 1×1 convolution for
SE-ResNet and in the 3×3 convolution for SE-ResNeXt (the placements whose multiply-adds match
Table 2, see the notebook).
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import NamedTuple, Optional

from torch import Tensor, nn

from refimpl.layers import check_input
from refimpl.residual import STRIDE_AT, Bottleneck, conv_norm
from refimpl.resnet import BOTTLENECK_DEPTHS, blocks_for

REDUCTION = 16
"""Reduction ratio $r$: "set to 16 by default" (Sec. 5.1)."""

IN_CHANNELS = 3
"""RGB input."""

NUM_CLASSES = 1000
"""ImageNet classes: Table 1's "1000-d fc, softmax"."""

STEM_CHANNELS = 64
"""Table 1's first row, "conv, 7 × 7, 64, stride 2" (112 × 112), then "max pool, 3 × 3, stride 2" (56 × 56)."""


# --------------------------------------------------------------------------- the block


def _positive_int(name: str, value: object, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, e.g. {example}; got {value!r}")
    return value


def _check_reduction(channels: int, reduction: object, owner: str) -> int:
    _positive_int(f"{owner} reduction ratio r", reduction, "16")
    if channels % reduction:
        valid = [r for r in (2, 4, 8, 16, 32) if channels % r == 0]
        raise ValueError(f"{owner}: C = {channels} channels must be a multiple of the reduction ratio r (W1 has C/r rows); "
                         f"got r = {reduction}, valid e.g. {valid}")
    return reduction


class SEBlock(nn.Module):
    r"""The squeeze-and-excitation block of Fig. 1: squeeze (Eq. 2) → excitation (Eq. 3) → scale (Eq. 4).

    Squeeze: $z_c = \frac{1}{H \times W} \sum_{i=1}^{H} \sum_{j=1}^{W} u_c(i, j)$ (Eq. 2).
    Excitation: $\mathbf{s} = \sigma(\mathbf{W}_2\, \delta(\mathbf{W}_1 \mathbf{z}))$ with
    $\mathbf{W}_1 \in \mathbb{R}^{\frac{C}{r} \times C}$, $\mathbf{W}_2 \in \mathbb{R}^{C \times \frac{C}{r}}$,
    $\delta$ the ReLU and $\sigma$ the sigmoid (Eq. 3). Scale: $\tilde{\mathbf{x}}_c = s_c\, \mathbf{u}_c$ (Eq. 4).
    The block costs $2C^2/r$ weights (each term of Eq. 5) and keeps the shape of its input.

    Args:
        channels: $C$, the channels of $\mathbf{U}$.
        reduction: $r$; $C$ must be a multiple of it.
        bias: give both FC layers a bias. Eq. 3 is written without, and the ablations of Sec. 6
            remove them ("removing the biases of the FC layers in the excitation operation
            facilitates the modelling of channel dependencies"); the released models have them.

    Sub-modules: ``squeeze`` ($F_{sq}$), ``reduce`` ($\mathbf{W}_1$), ``relu`` ($\delta$),
    ``expand`` ($\mathbf{W}_2$), ``gate`` ($\sigma$).
    """

    # DEVIATION from Hu et al. (Eq. 3 has no biases): bias=True by default, as in the released models;
    # bias=False is the paper's equation and its Sec. 6 ablations.
    def __init__(self, channels: int, reduction: int = REDUCTION, bias: bool = True) -> None:
        super().__init__()
        _positive_int("SEBlock channels C", channels, "256")
        _check_reduction(channels, reduction, "SEBlock")
        if not isinstance(bias, bool):
            raise ValueError(f"SEBlock bias must be True or False; got {bias!r}")
        self.channels = channels
        self.squeeze = nn.AdaptiveAvgPool2d(1)  # global average pooling over whatever H × W comes in
        self.reduce = nn.Linear(channels, channels // reduction, bias=bias)  # W1: C → C/r
        self.relu = nn.ReLU()
        self.expand = nn.Linear(channels // reduction, channels, bias=bias)  # W2: C/r → C
        self.gate = nn.Sigmoid()

    def excitation(self, u: Tensor) -> Tensor:
        r"""The channel weights $\mathbf{s} \in (0, 1)^C$ of each image, shape ``(N, C)`` (Eq. 2 and 3).

        Args:
            u: the block's input $\mathbf{U}$, shape ``(N, C, H, W)``.
        """
        check_input(u, self.channels, 2, "SEBlock")
        z = self.squeeze(u).flatten(1)  # (N, C): z = F_sq(U)
        return self.gate(self.expand(self.relu(self.reduce(z))))  # (N, C): s = σ(W2 δ(W1 z))

    def forward(self, u: Tensor) -> Tensor:
        s = self.excitation(u)
        return u * s[:, :, None, None]  # (N, C, H, W): x̃_c = s_c u_c


class NoSqueeze(nn.Module):
    r"""The "NoSqueeze" variant of Sec. 7.1 (Table 16): the excitation without the global pooling.

    "We remove the pooling operation and replace the two FC layers with corresponding 1 × 1
    convolutions with identical channel dimensions in the excitation operator ... where the
    excitation output maintains the spatial dimensions as input": the same $2C^2/r$ weights, but
    a gate per pixel, computed from that pixel alone.

    Args:
        channels: $C$.
        reduction: $r$; $C$ must be a multiple of it.
        bias: give both 1 × 1 convolutions a bias (Sec. 6's ablations have none).
    """

    def __init__(self, channels: int, reduction: int = REDUCTION, bias: bool = False) -> None:
        super().__init__()
        _positive_int("NoSqueeze channels C", channels, "256")
        _check_reduction(channels, reduction, "NoSqueeze")
        self.channels = channels
        self.reduce = nn.Conv2d(channels, channels // reduction, 1, bias=bias)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(channels // reduction, channels, 1, bias=bias)
        self.gate = nn.Sigmoid()

    def forward(self, u: Tensor) -> Tensor:
        check_input(u, self.channels, 2, "NoSqueeze")
        return u * self.gate(self.expand(self.relu(self.reduce(u))))  # (N, C, H, W): a gate per pixel


def se_parameters(channels_and_blocks: tuple[tuple[int, int], ...], reduction: int = REDUCTION) -> int:
    r"""The weights SE blocks add to a network, Eq. 5: $\frac{2}{r} \sum_{s=1}^{S} N_s \cdot C_s^2$.

    "$S$ refers to the number of stages ..., $C_s$ denotes the dimension of the output channels and
    $N_s$ denotes the number of repeated blocks for stage $s$" (Sec. 4). Biases are not counted
    ("when bias terms are used in FC layers, the introduced parameters ... are typically negligible").

    Args:
        channels_and_blocks: $(C_s, N_s)$ for each stage $s$ that carries SE blocks.
        reduction: $r$.
    """
    total = 0
    for c, n in channels_and_blocks:
        _positive_int("C_s", c, "256")
        _positive_int("N_s", n, "3")
        _check_reduction(c, reduction, "Eq. 5")
        total += 2 * n * c * (c // reduction)  # two FC layers of C_s × C_s/r weights, N_s times
    return total


# --------------------------------------------------------------------------- the networks


class Stage(NamedTuple):
    """One stage of Table 1: ``blocks`` × [conv 1×1, ``width``; conv 3×3, ``width``, C = ``groups``; conv 1×1, ``out``; fc, ``fc``]."""

    width: int
    """Channels of the first 1 × 1 and of the 3 × 3 convolution."""
    groups: int
    """"C = 32": the groups (cardinality) of the 3 × 3 convolution in SE-ResNeXt; 1 in SE-ResNet."""
    out: int
    """Channels of the last 1 × 1 convolution: $C_s$ of Eq. 5."""
    fc: tuple[int, int]
    """"fc, [16, 256]": the output widths of the SE block's two FC layers, $C_s / r$ and $C_s$, at $r = 16$."""
    blocks: int
    """The "× 3" outside the brackets: $N_s$ of Eq. 5."""


# SE-ResNet-50, arXiv:1709.01507v4, Table 1 (middle): conv2_x … conv5_x, top to bottom.
#       width  C   out   fc            ×N       output size
SE_RESNET_50: tuple[Stage, ...] = (
    Stage(64,  1,  256,  (16, 256),    3),   # 56 × 56
    Stage(128, 1,  512,  (32, 512),    4),   # 28 × 28
    Stage(256, 1,  1024, (64, 1024),   6),   # 14 × 14
    Stage(512, 1,  2048, (128, 2048),  3),   # 7 × 7
)
"""Table 1, middle column: SE-ResNet-50."""

# SE-ResNeXt-50 (32 × 4d), arXiv:1709.01507v4, Table 1 (right).
#       width  C   out   fc            ×N       output size
SE_RESNEXT_50: tuple[Stage, ...] = (
    Stage(128,  32, 256,  (16, 256),    3),   # 56 × 56
    Stage(256,  32, 512,  (32, 512),    4),   # 28 × 28
    Stage(512,  32, 1024, (64, 1024),   6),   # 14 × 14
    Stage(1024, 32, 2048, (128, 2048),  3),   # 7 × 7
)
"""Table 1, right column: SE-ResNeXt-50 with the 32 × 4d template."""

BLOCKS: dict[int, tuple[int, ...]] = {depth: blocks_for(depth) for depth in BOTTLENECK_DEPTHS}
"""$N_s$ of conv2_x … conv5_x for 50, 101 and 152 layers: He et al. 2016 (arXiv:1512.03385v1), Table 1
(read from [`refimpl.resnet`][refimpl.resnet.blocks_for]).

Table 2 of SENet adds SE blocks to ResNet-50/101/152 and ResNeXt-50/101; Table 1 lists the 50-layer ones only.
"""


def deeper(stages: tuple[Stage, ...], depth: int) -> tuple[Stage, ...]:
    """``stages`` with the block counts of ResNet-``depth`` ([`BLOCKS`][refimpl.senet.BLOCKS]), e.g. SE-ResNet-101.

    Args:
        stages: a four-stage table, [`SE_RESNET_50`][refimpl.senet.SE_RESNET_50] or [`SE_RESNEXT_50`][refimpl.senet.SE_RESNEXT_50].
        depth: 50, 101 or 152.
    """
    if depth not in BLOCKS:
        raise ValueError(f"depth must be one of {sorted(BLOCKS)} (He et al. 2016, Table 1); got {depth!r}")
    if len(stages) != 4:
        raise ValueError(f"deeper() needs the four stages conv2_x … conv5_x of Table 1; got {len(stages)} rows")
    return tuple(row._replace(blocks=n) for row, n in zip(stages, BLOCKS[depth]))


SE_POSITIONS = ("residual", "3x3")
"""Where a bottleneck carries its SE block: ``"residual"``, on the residual branch's output before the
addition (Fig. 3, the standard design); ``"3x3"``, "directly after the 3 × 3 convolutional layer"
(Sec. 6.5, Table 15)."""


class SENet(nn.Module):
    r"""SE-ResNet or SE-ResNeXt (Table 1): stem, four stages of bottlenecks with SE blocks, pool, classifier.

    conv1 ("conv, 7 × 7, 64, stride 2", batch norm, ReLU) → "max pool, 3 × 3, stride 2" → the rows of
    ``stages`` as conv2_x … conv5_x (the first block of conv3_x … conv5_x has stride 2) → "global
    average pool, 1000-d fc" (the softmax is left to the loss). A 224 × 224 image leaves the stages
    at 56, 28, 14 and 7 pixels. Each block is a [`Bottleneck`][refimpl.residual.Bottleneck] with a
    projection shortcut where the shape changes (option B), and the SE block in its ``attention``
    slot: $\mathbf{y} = \mathrm{ReLU}(\mathrm{SE}(\mathcal{F}(\mathbf{x})) + \mathbf{x})$.

    Args:
        stages: the rows of Table 1, e.g. [`SE_RESNET_50`][refimpl.senet.SE_RESNET_50] or
            ``deeper(SE_RESNET_50, 101)``.
        reduction: $r$ of every SE block.
        se_stages: which stages carry SE blocks, numbered as the paper does (2 = conv2_x … 5 =
            conv5_x, Sec. 6.4); ``()`` gives the plain ResNet / ResNeXt baseline.
        se_position: ``"residual"`` (Fig. 3) or ``"3x3"`` (Table 15), see
            [`SE_POSITIONS`][refimpl.senet.SE_POSITIONS].
        se_bias: biases in the SE blocks' FC layers (released models: yes; Sec. 6's ablations: no).
        squeeze: ``False`` swaps every SE block for [`NoSqueeze`][refimpl.senet.NoSqueeze] (Table 16).
        stride_at: ``"1x1"`` or ``"3x3"``, where a bottleneck's stride sits; ``None`` chooses as the
            released models do: ``"1x1"`` for SE-ResNet, ``"3x3"`` for SE-ResNeXt (groups > 1).
        num_classes: outputs of the classifier.
        in_channels: input channels.
    """

    def __init__(
        self,
        stages: tuple[Stage, ...] = SE_RESNET_50,
        reduction: int = REDUCTION,
        se_stages: tuple[int, ...] = (2, 3, 4, 5),
        se_position: str = "residual",
        se_bias: bool = True,
        squeeze: bool = True,
        stride_at: Optional[str] = None,
        num_classes: int = NUM_CLASSES,
        in_channels: int = IN_CHANNELS,
    ) -> None:
        super().__init__()
        stages = _check_stages(stages)
        numbers = tuple(range(2, 2 + len(stages)))
        if not isinstance(se_stages, (tuple, list)) or any(s not in numbers for s in se_stages):
            raise ValueError(f"se_stages must name stages among {numbers} (2 = conv2_x, …); got {se_stages!r}")
        if se_position not in SE_POSITIONS:
            raise ValueError(f"se_position must be one of {SE_POSITIONS} (Fig. 3 / Table 15); got {se_position!r}")
        if stride_at is not None and stride_at not in STRIDE_AT:
            raise ValueError(f"stride_at must be one of {STRIDE_AT} or None (as the released models); got {stride_at!r}")
        if not isinstance(se_bias, bool) or not isinstance(squeeze, bool):
            raise ValueError(f"se_bias and squeeze must be True or False; got {se_bias!r}, {squeeze!r}")
        _positive_int("num_classes", num_classes, "1000")
        _positive_int("in_channels", in_channels, "3")
        for number, row in zip(numbers, stages):
            if number in se_stages:
                _check_reduction(row.out if se_position == "residual" else row.width, reduction, "SENet")
        self.in_channels = in_channels
        excite = NoSqueeze if not squeeze else SEBlock
        self.conv1 = conv_norm(in_channels, STEM_CHANNELS, 7, stride=2)  # (N, 64, H/2, W/2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)  # (N, 64, H/4, W/4)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_prev = STEM_CHANNELS
        for number, row in zip(numbers, stages):
            se = partial(excite, reduction=reduction, bias=se_bias) if number in se_stages else None
            blocks = []
            for i in range(row.blocks):
                stride = 2 if i == 0 and number > 2 else 1  # "downsampling is performed by conv3_1, conv4_1, and conv5_1"
                blocks.append(_bottleneck(c_prev, row, stride, se, se_position, stride_at))
                c_prev = row.out
            layers[f"conv{number}_x"] = nn.Sequential(*blocks)
        self.stages = nn.Sequential(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_prev, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, 2, "SENet")
        x = self.pool(self.conv1(x))  # (N, 64, H/4, W/4)
        x = self.stages(x)  # (N, C_5, H/32, W/32)
        return self.fc(self.avgpool(x).flatten(1))  # (N, num_classes)


def _bottleneck(in_channels: int, row: Stage, stride: int, se, se_position: str, stride_at: Optional[str]) -> Bottleneck:
    """One block of ``row``: the shared bottleneck, its 3 × 3 grouped for ResNeXt, with the SE block where asked."""
    # DEVIATION from Hu et al. (silent on it): the stride sits where the released models put it, in the
    # first 1 × 1 for SE-ResNet and in the 3 × 3 for SE-ResNeXt.
    stride_at = stride_at or ("1x1" if row.groups == 1 else "3x3")
    attention = se if se_position == "residual" else None
    block = Bottleneck(in_channels, row.width, stride, expansion=row.out // row.width, attention=attention,
                       stride_at=stride_at)
    # The shared block has no groups: ResNeXt's grouped 3 × 3 replaces its dense one.
    if row.groups > 1:  # ResNeXt: "conv, 3 × 3, 128, C = 32", the 3 × 3 in 32 groups (Xie et al. 2017, Fig. 3c)
        dense = block.conv.conv
        block.conv.conv = nn.Conv2d(row.width, row.width, 3, stride=dense.stride, padding=1, groups=row.groups, bias=False)
    if se is not None and se_position == "3x3":  # SE 3×3 (Table 15): after the 3 × 3's ReLU, on width channels
        block.conv.add_module("se", se(row.width))
    return block


def _check_stages(stages: object) -> tuple[Stage, ...]:
    if not isinstance(stages, (tuple, list)) or not stages:
        raise ValueError(f"stages must be a non-empty tuple of Stage(width, groups, out, fc, blocks) rows (Table 1); got {stages!r}")
    rows = []
    for i, row in enumerate(stages):
        if not isinstance(row, (tuple, list)) or len(row) != 5:
            raise ValueError(f"stages[{i}] must be a row Stage(width, groups, out, fc, blocks); got {row!r}")
        row = Stage(*row)
        for name in ("width", "groups", "out", "blocks"):
            _positive_int(f"stages[{i}].{name}", getattr(row, name), str(getattr(SE_RESNET_50[0], name)))
        if row.out % row.width:
            raise ValueError(f"stages[{i}]: out = {row.out} must be a multiple of width = {row.width} (e.g. 256 and 64)")
        if row.width % row.groups:
            raise ValueError(f"stages[{i}]: width = {row.width} must be a multiple of groups C = {row.groups} (e.g. 128 and 32)")
        rows.append(row)
    return tuple(rows)
