r"""{{ short | docstring }} ({{ key }}): tests of `refimpl.{{ module }}` — shapes, counts, bad input.

Written by `kb new --like {{ like }}` for the classifier skeleton. The shape tests hold for any
`STAGES`; the counts are for the skeleton's block: when `block` is the paper's, replace them with
the paper's configuration (name it in a comment), and keep the shape, differential and error tests.
"""

from math import ceil

import pytest
import torch

from refimpl.analysis import analyse, on_meta
from refimpl.{{ module }} import IN_CHANNELS, NUM_CLASSES, STAGES, STEM, VARIANTS, Net, Stage, scaled


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_gives_one_score_per_class(name):
    variant = VARIANTS[name]
    assert analyse(on_meta(Net, **variant.options), variant.input_shape).output_shape == (variant.input_shape[0], NUM_CLASSES)


@pytest.mark.parametrize("size", [224, 193, 64])
def test_each_stage_divides_the_size_by_its_stride(size):
    layers = analyse(on_meta(Net), (1, IN_CHANNELS, size, size)).layers
    expected, got = [], []
    h = ceil(size / STEM.s)  # "same" padding: ⌈H/s⌉
    for i, row in enumerate(STAGES):
        h = ceil(h / row.s)
        expected.append(h)
        got.append([layer for layer in layers if layer.name.startswith(f"stages.{i}.")][-1].output_shape[2])
    assert got == expected


def test_width_multiplier_scales_every_width():
    # the skeleton's block is one convolution; with the paper's block, compare the widths it gives
    convs = [layer for layer in analyse(on_meta(Net, 0.5), (1, IN_CHANNELS, 64, 64)).layers if layer.type.startswith("Conv")]
    widths = [STEM.c] + [row.c for row in STAGES for _ in range(row.n)]
    assert [layer.output_shape[1] for layer in convs] == [scaled(c, 0.5) for c in widths]


def test_parameter_count_of_the_skeleton_block():
    # TODO(kb new): the skeleton's 3 × 3 conv → BN → ReLU blocks; with the paper's block, the paper's count
    widths = [(IN_CHANNELS, STEM.c, STEM.k)]
    c_prev = STEM.c
    for c, n, s in STAGES:
        for _ in range(n):
            widths.append((c_prev, c, 3))
            c_prev = c
    expected = sum(k * k * c_in * c_out + 2 * c_out for c_in, c_out, k in widths) + (c_prev + 1) * NUM_CLASSES
    assert analyse(on_meta(Net), (1, IN_CHANNELS, 32, 32)).params == expected


def test_forward_has_no_side_effects_in_eval_mode():
    torch.manual_seed(0)
    model = Net(0.25, num_classes=10, stages=(Stage(16, 1, 1), Stage(32, 1, 2))).eval()
    state = {name: value.clone() for name, value in model.state_dict().items()}
    x = torch.randn(1, IN_CHANNELS, 32, 32)
    first, second = model(x), model(x)
    assert torch.equal(first, second)
    assert all(torch.equal(state[name], value) for name, value in model.state_dict().items())


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 1, 32, 32), rf"expects {IN_CHANNELS} input channels"),
        ((IN_CHANNELS, 32, 32), r"expects a 4-D input \(N, C, H, W\)"),
    ],
)
def test_bad_input_is_refused_with_the_expected_shape(shape, message):
    with pytest.raises(ValueError, match=message):
        Net(0.25, stages=(Stage(16, 1, 1),))(torch.zeros(shape))


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(stages=()), r"at least one row"),
        (dict(stages=(Stage(16, 0, 1),)), r"Stage n must be a positive integer"),
        (dict(width_multiplier=0), r"width_multiplier must be a number in \(0, 4\]"),
        (dict(num_classes=0), r"num_classes must be a positive integer"),
    ],
)
def test_bad_configuration_is_refused_naming_the_valid_values(options, message):
    with pytest.raises(ValueError, match=message):
        Net(**options)
