r"""{{ short | docstring }} ({{ key }}): tests of `refimpl.{{ module }}` — shapes in 2-D and 3-D, skip connections, counts, bad input.

Written by `kb new --like {{ like }}` for the encoder–decoder skeleton. The shape and skip tests hold
for any `LEVELS`; the count is for the skeleton's levels: when they are the paper's, replace it with
the paper's configuration (name it in a comment), and keep the shape, differential and error tests.
"""

import pytest
import torch

from refimpl.analysis import analyse, on_meta
from refimpl.{{ module }} import CONVS_PER_LEVEL, IN_CHANNELS, KERNEL, LEVELS, NUM_CLASSES, VARIANTS, Level, Net

STEP = 2 ** (len(LEVELS) - 1)  # every side must be a multiple of this


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_gives_a_map_of_its_input_size(name):
    variant = VARIANTS[name]
    shape = analyse(on_meta(Net, **variant.options), variant.input_shape).output_shape
    assert shape == (variant.input_shape[0], NUM_CLASSES, *variant.input_shape[2:])


@pytest.mark.parametrize(
    "dims, input_shape",
    [
        (2, (2, IN_CHANNELS, STEP, 3 * STEP)),
        (3, (1, IN_CHANNELS, STEP, 2 * STEP, STEP)),
    ],
)
def test_output_shape_table(dims, input_shape):
    assert analyse(on_meta(Net, dims=dims), input_shape).output_shape == (input_shape[0], NUM_CLASSES, *input_shape[2:])


def test_each_encoder_level_halves_the_side_and_the_decoder_reads_up_plus_skip_channels():
    layers = analyse(on_meta(Net), (1, IN_CHANNELS, 4 * STEP, 4 * STEP)).layers
    sides = [[l for l in layers if l.name.startswith(f"encoder.{i}.")][-1].output_shape[2] for i in range(len(LEVELS))]
    assert sides == [4 * STEP // 2**i for i in range(len(LEVELS))]
    reads = [l.input_shape[1] for l in layers if l.name.startswith("decoder.") and l.name.endswith(".0.conv")]
    assert reads == [2 * row.c for row in reversed(LEVELS[:-1])]


def test_parameter_count_of_the_skeleton():
    # TODO(kb new): the skeleton's levels (convolutions without bias, then batch norm); with the paper's, its count
    k = KERNEL**2
    total, c_prev = 0, IN_CHANNELS
    for row in LEVELS:  # encoder: CONVS_PER_LEVEL × (k² c_in c + 2c)
        total += k * c_prev * row.c + 2 * row.c + (CONVS_PER_LEVEL - 1) * (k * row.c * row.c + 2 * row.c)
        c_prev = row.c
    for row in reversed(LEVELS[:-1]):  # up-convolution 2×2 with bias, then the level on 2c channels
        total += 4 * c_prev * row.c + row.c
        total += k * 2 * row.c * row.c + 2 * row.c + (CONVS_PER_LEVEL - 1) * (k * row.c * row.c + 2 * row.c)
        c_prev = row.c
    total += c_prev * NUM_CLASSES + NUM_CLASSES  # the 1×1 head, with bias
    assert analyse(on_meta(Net), (1, IN_CHANNELS, STEP, STEP)).params == total


def test_forward_has_no_side_effects_in_eval_mode():
    torch.manual_seed(0)
    model = Net(levels=(Level(4), Level(8))).eval()
    state = {name: value.clone() for name, value in model.state_dict().items()}
    x = torch.randn(1, IN_CHANNELS, 8, 8)
    first, second = model(x), model(x)
    assert torch.equal(first, second)
    assert all(torch.equal(state[name], value) for name, value in model.state_dict().items())


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, IN_CHANNELS + 1, STEP, STEP), rf"expects {IN_CHANNELS} input channels"),
        ((IN_CHANNELS, STEP, STEP), r"expects a 4-D input \(N, C, H, W\)"),
        ((1, IN_CHANNELS, STEP + 1, STEP), rf"needs every side a multiple of {STEP}"),
    ],
)
def test_bad_input_is_refused_with_the_expected_shape(shape, message):
    with pytest.raises(ValueError, match=message):
        Net()(torch.zeros(shape))


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(levels=(Level(8),)), r"at least two rows"),
        (dict(dims=4), r"dims must be 2 \(images\) or 3 \(volumes\)"),
        (dict(levels=(Level(8), Level(0))), r"Level c must be a positive integer"),
        (dict(num_classes=0), r"num_classes must be a positive integer"),
    ],
)
def test_bad_configuration_is_refused_naming_the_valid_values(options, message):
    with pytest.raises(ValueError, match=message):
        Net(**options)
