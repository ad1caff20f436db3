r"""{{ short | docstring }} ({{ key }}): tests of `refimpl.{{ module }}` — shapes, exact counts, bad input.

Written by `kb new` for the starter network. When `STAGES` holds the paper's table, replace the
counts with the paper's configuration (name it in a comment) and keep the shape, differential and
error tests.
"""

import pytest
import torch
import torch.nn.functional as F

from refimpl.analysis import analyse, on_meta
from refimpl.{{ module }} import IN_CHANNELS, NUM_CLASSES, STAGES, Net, Stage


def test_starter_table_is_the_one_kb_new_wrote():
    # TODO(kb new): the counts below are for the starter rows; replace them with the paper's configuration
    assert STAGES == (Stage(3, 16, 1), Stage(3, 32, 2), Stage(3, 64, 2))
    assert (IN_CHANNELS, NUM_CLASSES) == (3, 10)


@pytest.mark.parametrize(
    "input_shape, output_shape",
    [
        ((1, 3, 32, 32), (1, 10)),
        ((2, 3, 64, 48), (2, 10)),
        ((4, 3, 7, 9), (4, 10)),  # odd sizes: "same" padding, ⌈H/s⌉ per row
    ],
)
def test_output_shape_table(input_shape, output_shape):
    assert analyse(on_meta(Net), input_shape).output_shape == output_shape


@pytest.mark.parametrize(
    "size, maps",
    [
        (32, [(16, 32), (32, 16), (64, 8)]),
        (7, [(16, 7), (32, 4), (64, 2)]),  # ⌈7/2⌉ = 4, ⌈4/2⌉ = 2
    ],
)
def test_feature_map_of_each_row_follows_its_stride(size, maps):
    convs = [layer for layer in analyse(on_meta(Net), (1, 3, size, size)).layers if layer.type.startswith("Conv")]
    assert [(layer.output_shape[1], layer.output_shape[2]) for layer in convs] == maps


def test_parameter_count_of_the_starter_configuration():
    # STAGES as `kb new` wrote them, c_0 = 3, K = 10: k² c_in c_out conv weights + 2 c_out batch norm per row,
    # then (c_L + 1) K for the classifier
    expected = (9 * 3 * 16 + 2 * 16) + (9 * 16 * 32 + 2 * 32) + (9 * 32 * 64 + 2 * 64) + (64 + 1) * 10
    assert expected == 24_346
    assert analyse(on_meta(Net), (1, 3, 32, 32)).params == expected


def test_multiply_adds_of_the_starter_configuration_at_32x32():
    # k² c_in c_out H_i W_i per row (32², 16², 8² after the strides 1, 2, 2), then c_L K for the classifier
    expected = 9 * 3 * 16 * 32 * 32 + 9 * 16 * 32 * 16 * 16 + 9 * 32 * 64 * 8 * 8 + 64 * 10
    assert expected == 2_802_304
    assert analyse(on_meta(Net), (1, 3, 32, 32)).madds == expected


def test_forward_equals_the_layers_written_out_with_torch_functional():
    torch.manual_seed(0)
    model = Net().eval()
    x = torch.randn(2, 3, 16, 16)
    y = x
    for (k, c, s), block in zip(STAGES, model.features):
        y = F.conv2d(y, block.conv.weight, stride=s, padding=k // 2)
        norm = block.norm
        y = F.batch_norm(y, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps)
        y = F.relu(y)
    y = F.linear(y.mean(dim=(2, 3)), model.classifier.weight, model.classifier.bias)
    torch.testing.assert_close(model(x), y)


def test_forward_has_no_side_effects_in_eval_mode():
    torch.manual_seed(0)
    model = Net().eval()
    state = {name: value.clone() for name, value in model.state_dict().items()}
    x = torch.randn(1, 3, 8, 8)
    first, second = model(x), model(x)
    assert torch.equal(first, second)
    assert all(torch.equal(state[name], value) for name, value in model.state_dict().items())


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 1, 32, 32), r"expects 3 input channels"),
        ((3, 32, 32), r"expects a 4-D input \(N, C, H, W\)"),
    ],
)
def test_bad_input_is_refused_with_the_expected_shape(shape, message):
    with pytest.raises(ValueError, match=message):
        Net()(torch.zeros(shape))


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(stages=()), r"at least one row"),
        (dict(stages=(Stage(4, 16, 1),)), r"positive odd integer \(1, 3, 5, 7"),
        (dict(stages=(Stage(3, 16, 0),)), r"stride s must be a positive integer"),
        (dict(num_classes=0), r"num_classes must be a positive integer"),
    ],
)
def test_bad_configuration_is_refused_naming_the_valid_values(options, message):
    with pytest.raises(ValueError, match=message):
        Net(**options)
