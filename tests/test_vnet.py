"""Tests of refimpl.vnet: shapes, the layers of Fig. 2, the residual stages, receptive fields and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from refimpl.analysis import analyse, on_meta, receptive_field
from refimpl.vnet import LEFT, RIGHT, ResidualStage, Stage, VNet

# A V-Net with the paper's stages but 1/16 of the widths: same layers, same receptive fields, fast on a CPU.
THIN_LEFT = tuple(Stage(n, c // 16) for n, c in LEFT)
THIN_RIGHT = tuple(Stage(n, c // 16) for n, c in RIGHT)

# (options, input shape, expected output shape)
SHAPES = [
    ({}, (1, 1, 128, 128, 64), (1, 2, 128, 128, 64)),  # Sec. 3.1: the paper's fixed volume
    ({}, (2, 1, 16, 16, 16), (2, 2, 16, 16, 16)),  # the smallest volume four halvings allow
    ({}, (1, 1, 64, 32, 48), (1, 2, 64, 32, 48)),
    ({"num_classes": 3}, (1, 1, 32, 32, 32), (1, 3, 32, 32, 32)),
    ({"in_channels": 2}, (1, 2, 32, 32, 32), (1, 2, 32, 32, 32)),
    ({"left": LEFT[:3], "right": RIGHT[2:]}, (1, 1, 12, 8, 4), (1, 2, 12, 8, 4)),  # three stages: sides divisible by 4
]


@pytest.mark.parametrize("options, shape, expected", SHAPES)
def test_output_shape(options, shape, expected):
    assert analyse(on_meta(VNet, **options), shape).output_shape == expected


def stage_inputs(model_cost, prefix: str) -> list[tuple[int, ...]]:
    """Input shape of the first convolution of each stage named ``prefix.i``."""
    return [layer.input_shape for layer in model_cost.layers if layer.name.startswith(prefix) and layer.name.endswith("convs.0.conv")]


def test_stage_sizes_and_widths_follow_fig2_and_table1():
    cost = analyse(on_meta(VNet), (1, 1, 128, 128, 64))
    # Table 1 "Input Size" column (first axis) and Fig. 2 widths; L-Stage 1 takes the 1-channel volume
    assert [s[1:3] for s in stage_inputs(cost, "contract")] == [(1, 128), (32, 64), (64, 32), (128, 16), (256, 8)]
    assert [s[1:3] for s in stage_inputs(cost, "expand")] == [(256, 16), (128, 32), (64, 64), (32, 128)]
    output = [layer for layer in cost.layers if layer.name == "output.conv"][0]
    assert output.type == "Conv 1×1×1" and output.input_shape[1] == 32 and output.output_shape[1] == 2


def test_layer_types_are_those_of_sec2():
    cost = analyse(on_meta(VNet), (1, 1, 128, 128, 64))
    types = cost.by_type()
    # 1+2+3+3+3 left and 3+3+2+1 right 5×5×5 convolutions, 4 down-convolutions, 4 de-convolutions, one 1×1×1
    counts = {t: sum(1 for layer in cost.layers if layer.type == t) for t in types}
    assert counts == {"Conv 5×5×5": 21, "Conv 2×2×2": 4, "Up-conv 2×2×2": 4, "Conv 1×1×1": 1}
    strided = [layer for layer in cost.layers if layer.type in ("Conv 2×2×2", "Up-conv 2×2×2")]
    for layer in strided:
        ratio = layer.output_shape[2] / layer.input_shape[2]
        assert ratio == (0.5 if layer.type.startswith("Conv") else 2.0)


def test_prelu_after_every_convolution_but_the_last_of_each_stage_and_the_output():
    model = VNet()
    prelus = [m for m in model.modules() if isinstance(m, nn.PReLU)]
    # 21 stage convolutions − 9 last-of-stage + 9 after the residual sums + 4 down + 4 up
    assert len(prelus) == 21 - 9 + 9 + 4 + 4
    assert all(p.num_parameters == p.weight.numel() > 1 for p in prelus)  # one slope per channel


def test_residual_stage_adds_its_input_to_the_last_convolution():
    torch.manual_seed(0)
    stage = ResidualStage(4, 4, convs=2, kernel_size=3)
    x = torch.randn(1, 4, 6, 6, 6)
    expected = stage.act(stage.convs[1].conv(stage.convs[0](x)) + x)
    assert torch.allclose(stage(x), expected)


def test_first_stage_repeats_its_one_channel_input_over_the_channels():
    stage = ResidualStage(1, 16, convs=1)
    nn.init.zeros_(stage.convs[0].conv.weight)
    nn.init.zeros_(stage.convs[0].conv.bias)
    x = torch.randn(2, 1, 4, 4, 4)
    assert torch.equal(stage(x), stage.act(x.repeat(1, 16, 1, 1, 1)))


def test_forward_returns_voxelwise_softmax_of_logits():
    torch.manual_seed(0)
    model = VNet(left=THIN_LEFT, right=THIN_RIGHT)
    x = torch.randn(1, 1, 16, 16, 16)
    p = model(x)
    assert torch.allclose(p.sum(1), torch.ones(1, 16, 16, 16))
    assert torch.allclose(p, model.logits(x).softmax(1))


def test_stage_receptive_fields():
    rf = receptive_field(on_meta(VNet), (1, 1, 640, 640, 640))
    stages = [f"contract.{i}" for i in range(5)] + [f"expand.{i}" for i in range(4)] + [""]
    # Table 1, as printed: reproduced by the recurrence that counts each de-convolution as a 2×2×2 convolution
    assert [rf[s].theoretical[0] for s in stages] == [5, 22, 72, 172, 372, 476, 528, 546, 551, 551]
    # exact: a 2×2×2 stride-2 de-convolution reads one voxel; left stages agree with Table 1
    assert [rf[s].size[0] for s in stages] == [5, 22, 72, 172, 372, 468, 516, 532, 548, 548]


def test_receptive_fields_by_backpropagation_through_the_left_stages():
    torch.manual_seed(0)
    model = VNet(left=THIN_LEFT, right=THIN_RIGHT).double()
    x = torch.randn(1, 1, 128, 16, 16, dtype=torch.float64, requires_grad=True)
    outputs = {}
    for i in range(3):
        model.contract[i].register_forward_hook(lambda m, a, out, i=i: outputs.__setitem__(i, out))
    model.logits(x)
    extents = []
    for i in range(3):
        y = outputs[i]
        (g,) = torch.autograd.grad(y[0, 0, y.shape[2] // 2, y.shape[3] // 2, y.shape[4] // 2], x, retain_graph=True)
        nonzero = g[0, 0].abs().sum((1, 2)).nonzero().flatten()
        extents.append(int(nonzero.max() - nonzero.min() + 1))
    assert extents == [5, 22, 72]  # Table 1, L-Stage 1–3


@pytest.mark.parametrize("shape, message", [
    ((1, 1, 100, 128, 64), r"divisible by 16 .* 100 → 96 or 112"),
    ((1, 1, 128, 128, 60), r"60 → 48 or 64"),
    ((1, 1, 8, 16, 16), r"8 → 16"),
])
def test_wrong_spatial_size_names_the_rule_and_nearest_sizes(shape, message):
    with pytest.raises(ValueError, match=message):
        on_meta(VNet)(torch.empty(*shape, device="meta"))


def test_three_stage_vnet_needs_sides_divisible_by_4():
    with pytest.raises(ValueError, match=r"divisible by 4 .* 6 → 4 or 8"):
        on_meta(VNet, left=LEFT[:3], right=RIGHT[2:])(torch.empty(1, 1, 8, 6, 8, device="meta"))


@pytest.mark.parametrize("shape, message", [
    ((1, 2, 16, 16, 16), "1 input channels"),
    ((1, 16, 16, 16), "5-D input"),
])
def test_wrong_input_layout_raises(shape, message):
    with pytest.raises(ValueError, match=message):
        on_meta(VNet)(torch.empty(*shape, device="meta"))


@pytest.mark.parametrize("options, message", [
    ({"right": RIGHT[:3]}, "one right stage fewer"),
    ({"left": (Stage(4, 16), *LEFT[1:])}, "one to three convolutional layers"),
    ({"kernel_size": 4}, "kernel_size must be odd"),
    ({"right": (Stage(3, 128), *RIGHT[1:])}, "cannot hold the 128 forwarded channels"),
])
def test_invalid_stage_tables_raise(options, message):
    with pytest.raises(ValueError, match=message):
        on_meta(VNet, **options)
