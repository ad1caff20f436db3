"""SENet (Hu2018CVPR): tests of `refimpl.senet` — Table 1 as data, Eq. 2–5, exact counts, placement, bad input.

Numbers are those of arXiv:1709.01507v4; the configurations are named in each test.
"""

import pytest
import torch
import torch.nn.functional as F

from refimpl.analysis import analyse, on_meta
from refimpl.residual import Bottleneck
from refimpl.resnet import ResNet
from refimpl.senet import (
    BLOCKS,
    REDUCTION,
    SE_RESNET_50,
    SE_RESNEXT_50,
    NoSqueeze,
    SEBlock,
    SENet,
    Stage,
    deeper,
    se_parameters,
)

IMAGENET = (1, 3, 224, 224)
RESNET50_PARAMS = 25_557_032  # the plain ResNet-50 (torchvision's count for the same network)
C_S_N_S = ((256, 3), (512, 4), (1024, 6), (2048, 3))  # Table 1: C_s and N_s of conv2_x … conv5_x


def params(stages=SE_RESNET_50, **options):
    return analyse(on_meta(SENet, stages, **options), IMAGENET).params


# --------------------------------------------------------------------------- Table 1 as data


def test_table1_literals_are_the_papers_rows():
    assert SE_RESNET_50 == (
        Stage(64, 1, 256, (16, 256), 3),
        Stage(128, 1, 512, (32, 512), 4),
        Stage(256, 1, 1024, (64, 1024), 6),
        Stage(512, 1, 2048, (128, 2048), 3),
    )
    assert [(row.width, row.groups) for row in SE_RESNEXT_50] == [(128, 32), (256, 32), (512, 32), (1024, 32)]
    assert [row.out for row in SE_RESNEXT_50] == [row.out for row in SE_RESNET_50]
    # "fc, [16, 256]": the widths C/r and C at the default r = 16
    assert REDUCTION == 16
    assert all(row.fc == (row.out // REDUCTION, row.out) for row in SE_RESNET_50 + SE_RESNEXT_50)


def test_deeper_networks_take_resnets_block_counts():
    assert BLOCKS == {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
    assert [row.blocks for row in deeper(SE_RESNET_50, 152)] == [3, 8, 36, 3]
    assert deeper(SE_RESNET_50, 50) == SE_RESNET_50


def test_built_se_blocks_have_table1s_fc_widths():
    model = on_meta(SENet)
    for row, stage in zip(SE_RESNET_50, model.stages):
        assert len(stage) == row.blocks
        for block in stage:
            assert isinstance(block.attention, SEBlock)
            assert (block.attention.reduce.out_features, block.attention.expand.out_features) == row.fc


@pytest.mark.parametrize(
    "input_shape, output_shape",
    [((1, 3, 224, 224), (1, 1000)), ((2, 3, 64, 96), (2, 1000)), ((1, 3, 33, 33), (1, 1000))],
)
def test_output_shape_table(input_shape, output_shape):
    assert analyse(on_meta(SENet), input_shape).output_shape == output_shape
    assert analyse(on_meta(SENet, SE_RESNEXT_50), input_shape).output_shape == output_shape


def test_stage_outputs_at_224_are_table1s_output_sizes():
    layers = analyse(on_meta(SENet), IMAGENET).layers
    last = {prefix: [l for l in layers if l.name.startswith(prefix)][-1].output_shape
            for prefix in ("conv1.", "stages.conv2_x.", "stages.conv3_x.", "stages.conv4_x.", "stages.conv5_x.")}
    assert [shape[1:] for shape in last.values()] == [
        (64, 112, 112), (256, 56, 56), (512, 28, 28), (1024, 14, 14), (2048, 7, 7)]


# --------------------------------------------------------------------------- counts and Eq. 5


def test_eq5_for_se_resnet_50():
    # 2/16 · (3·256² + 4·512² + 6·1024² + 3·2048²) = 20,119,552 / 8
    assert se_parameters(C_S_N_S, 16) == 2_514_944
    assert se_parameters(C_S_N_S, 2) == 20_119_552


@pytest.mark.parametrize("r", [2, 4, 8, 16, 32])
def test_eq5_is_exactly_what_bias_free_se_blocks_add(r):
    assert params(se_stages=()) == RESNET50_PARAMS
    assert params(reduction=r, se_bias=False) - RESNET50_PARAMS == se_parameters(C_S_N_S, r)


def test_exact_counts_of_the_table2_networks_with_biased_fc_layers():
    # SE-ResNet-50, r = 16, FC biases (the released models): ResNet-50 + Eq. 5 + Σ N_s (C_s/16 + C_s)
    biases = sum(n * (c // 16 + c) for c, n in C_S_N_S)
    assert biases == 16_048
    assert params() == RESNET50_PARAMS + 2_514_944 + biases == 28_088_024
    assert params(deeper(SE_RESNET_50, 101)) == 49_326_872
    assert params(deeper(SE_RESNET_50, 152)) == 66_821_848
    assert params(SE_RESNEXT_50) == 27_559_896
    assert params(SE_RESNEXT_50, se_stages=()) == 25_028_904  # ResNeXt-50 (32 × 4d)


def test_se_fc_layers_cost_one_multiply_add_per_weight():
    plain = analyse(on_meta(SENet, se_stages=()), IMAGENET).madds
    se = analyse(on_meta(SENet, se_bias=False), IMAGENET).madds
    assert plain == 3_857_973_248  # ResNet-50, stride in the first 1 × 1
    assert se - plain == 2_514_944


def test_se_in_one_stage_and_after_the_3x3_and_nosqueeze():
    assert params(se_stages=(4,), se_bias=False) - RESNET50_PARAMS == se_parameters(((1024, 6),), 16) == 786_432
    # SE 3×3 (Table 15): on the bottleneck widths 64, 128, 256, 512 instead of 256 … 2048
    widths = ((64, 3), (128, 4), (256, 6), (512, 3))
    assert params(se_position="3x3", se_bias=False) - RESNET50_PARAMS == se_parameters(widths, 16) == 157_184
    # NoSqueeze (Table 16): the same weights, as 1 × 1 convolutions on the whole map
    nosqueeze = analyse(on_meta(SENet, squeeze=False, se_bias=False), IMAGENET)
    assert nosqueeze.params == params(se_bias=False)
    per_pixel = sum(n * 2 * c * c // 16 * side * side for (c, n), side in zip(C_S_N_S, (56, 28, 14, 7)))
    assert nosqueeze.madds - 3_857_973_248 == per_pixel == 411_041_792


def test_without_se_blocks_it_is_resnets_resnet_50():
    # differential test against He2016CVPR's ResNet-50 (refimpl.resnet): the same tensors in the same
    # order, and with the same weights the same output
    torch.manual_seed(5)
    ours, theirs = SENet(se_stages=()).eval(), ResNet(50).eval()
    assert [t.shape for t in ours.state_dict().values()] == [t.shape for t in theirs.state_dict().values()]
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.state_dict().values())))
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(ours(x), theirs(x))


def test_the_stride_sits_where_the_released_models_put_it():
    resnet_block = on_meta(SENet).stages.conv3_x[0]
    assert resnet_block.reduce.conv.stride == (2, 2) and resnet_block.conv.conv.stride == (1, 1)
    resnext_block = on_meta(SENet, SE_RESNEXT_50).stages.conv3_x[0]
    assert resnext_block.reduce.conv.stride == (1, 1) and resnext_block.conv.conv.stride == (2, 2)
    assert resnext_block.conv.conv.groups == 32
    torchvision_like = on_meta(SENet, stride_at="3x3").stages.conv3_x[0]
    assert torchvision_like.conv.conv.stride == (2, 2)


# --------------------------------------------------------------------------- the block's behaviour


def test_se_block_equals_eq2_to_4_written_out():
    torch.manual_seed(0)
    block = SEBlock(64, reduction=4).eval()
    u = torch.randn(3, 64, 9, 7)
    z = u.mean(dim=(2, 3))  # Eq. 2
    s = torch.sigmoid(F.linear(F.relu(F.linear(z, block.reduce.weight, block.reduce.bias)),
                               block.expand.weight, block.expand.bias))  # Eq. 3
    torch.testing.assert_close(block.excitation(u), s)
    torch.testing.assert_close(block(u), u * s[:, :, None, None])  # Eq. 4


def test_se_block_rescales_each_channel_by_one_factor_in_0_1():
    torch.manual_seed(1)
    block = SEBlock(32, reduction=8)
    u = torch.rand(2, 32, 5, 5) + 0.5  # positive, so that out / u is defined
    ratio = block(u) / u
    assert ratio.shape == u.shape
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))  # constant over H × W
    assert ((ratio > 0) & (ratio < 1)).all()


def test_zero_weights_give_the_half_open_gate():
    block = SEBlock(16, reduction=4)
    with torch.no_grad():
        for p in block.parameters():
            p.zero_()
    u = torch.randn(1, 16, 3, 3)
    torch.testing.assert_close(block(u), u / 2)  # σ(0) = 1/2


def test_se_acts_before_the_addition_of_the_identity_shortcut():
    torch.manual_seed(2)
    block = SENet().eval().stages.conv2_x[1]  # 256 → 256, stride 1: identity shortcut
    assert isinstance(block, Bottleneck)
    with torch.no_grad():
        block.attention.expand.weight.zero_()
        block.attention.expand.bias.fill_(-1e4)  # every gate closed: the residual branch vanishes
        x = torch.randn(2, 256, 6, 6)
        assert torch.equal(block(x), F.relu(x))


def test_nosqueeze_gates_each_pixel_from_that_pixel():
    torch.manual_seed(3)
    block = NoSqueeze(16, reduction=4).eval()
    u = torch.randn(1, 16, 4, 4)
    s = torch.sigmoid(F.conv2d(F.relu(F.conv2d(u, block.reduce.weight)), block.expand.weight))
    torch.testing.assert_close(block(u), u * s)
    changed = u.clone()
    changed[..., 0, 0] += 1.0  # another value at one pixel changes the output there only
    assert torch.equal(block(changed)[..., 1:, :], block(u)[..., 1:, :])


def test_forward_has_no_side_effects_in_eval_mode():
    torch.manual_seed(4)
    model = SENet().eval()
    state = {name: value.clone() for name, value in model.state_dict().items()}
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(model(x), model(x))
    assert all(torch.equal(state[name], value) for name, value in model.state_dict().items())


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SEBlock(250, 16), r"C = 250 channels must be a multiple of the reduction ratio r .* valid e\.g\. \[2\]"),
        (lambda: SEBlock(256, 0), r"reduction ratio r must be a positive integer"),
        (lambda: SEBlock(0), r"channels C must be a positive integer"),
        (lambda: SEBlock(256, bias=1), r"bias must be True or False"),
        (lambda: NoSqueeze(100, 16), r"must be a multiple of the reduction ratio"),
        (lambda: se_parameters(((100, 3),), 16), r"Eq\. 5: C = 100 channels must be a multiple"),
        (lambda: deeper(SE_RESNET_50, 34), r"depth must be one of \[50, 101, 152\]"),
        (lambda: SENet(se_stages=(1,)), r"se_stages must name stages among \(2, 3, 4, 5\)"),
        (lambda: SENet(se_position="post"), r"se_position must be one of \('residual', '3x3'\)"),
        (lambda: SENet(stride_at="5x5"), r"stride_at must be one of"),
        (lambda: SENet(stages=()), r"non-empty tuple of Stage"),
        (lambda: SENet(stages=(Stage(64, 1, 250, (16, 250), 3),)), r"out = 250 must be a multiple of width = 64"),
        (lambda: SENet(stages=(Stage(100, 32, 200, (16, 200), 3),)), r"width = 100 must be a multiple of groups C = 32"),
        (lambda: SENet(stages=((64, 1, 256),)), r"stages\[0\] must be a row Stage"),
        (lambda: SENet(reduction=3), r"SENet: C = 256 channels must be a multiple of the reduction ratio"),
        (lambda: SENet(num_classes=0), r"num_classes must be a positive integer"),
    ],
)
def test_bad_configuration_is_refused_naming_the_valid_values(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_plain_baseline_ignores_the_reduction_ratio():
    assert params(se_stages=(), reduction=3) == RESNET50_PARAMS


@pytest.mark.parametrize(
    "module, shape, message",
    [
        (lambda: SENet(), (1, 1, 32, 32), r"SENet expects 3 input channels"),
        (lambda: SENet(), (3, 32, 32), r"SENet expects a 4-D input \(N, C, H, W\)"),
        (lambda: SEBlock(64), (1, 32, 8, 8), r"SEBlock expects 64 input channels"),
        (lambda: NoSqueeze(64), (1, 64, 8), r"NoSqueeze expects a 4-D input"),
    ],
)
def test_bad_input_is_refused_with_the_expected_shape(module, shape, message):
    with pytest.raises(ValueError, match=message):
        module()(torch.zeros(shape))
