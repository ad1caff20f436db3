"""Structural analysis on the meta device."""

import torch
from torch import nn

from refimpl.analysis import analyse, count_params, layer_type, on_meta, to_meta


def test_analysis_counts_conv_and_linear_multiply_adds_exactly():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 10))
    c = analyse(model, (1, 3, 4, 4))
    assert c.madds == 3 * 3 * 3 * 8 * 4 * 4 + 8 * 16 * 10
    assert c.output_shape == (1, 10)
    assert c.params == (3 * 9 * 8 + 8) + 2 * 8 + (128 * 10 + 10)
    assert c.weight_params == 3 * 9 * 8 + 128 * 10  # no biases, no batch norm
    assert [layer.type for layer in c.layers] == ["Conv 3×3", "BatchNorm2d", "ReLU", "Flatten", "FC"]
    assert c.layers[0].input_shape == (1, 3, 4, 4) and c.layers[0].output_shape == (1, 8, 4, 4)


def test_analysis_leaves_a_real_model_untouched():
    model = nn.Conv2d(3, 4, 3)
    analyse(model, (1, 3, 8, 8))
    assert model.weight.device.type == "cpu" and model.training


def test_meta_models_allocate_nothing():
    model = on_meta(nn.Conv3d, 256, 512, 3)
    assert model.weight.device.type == "meta"
    assert to_meta(model) is model
    c = analyse(model, (1, 256, 64, 64, 64))
    assert c.madds == 256 * 512 * 27 * 62**3


def test_layer_types_follow_the_mobilenet_table2_labels():
    assert layer_type(nn.Conv2d(8, 8, 3, groups=8)) == "Conv DW 3×3"
    assert layer_type(nn.Conv2d(8, 16, 1)) == "Conv 1×1"
    assert layer_type(nn.Conv3d(1, 2, 3)) == "Conv 3×3×3"
    assert layer_type(nn.ConvTranspose2d(4, 2, 2, stride=2)) == "Up-conv 2×2"
    assert layer_type(nn.Linear(2, 3)) == "FC"


def test_by_type_groups_and_orders_by_multiply_adds():
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False), nn.Conv2d(4, 16, 1, bias=False))
    by_type = analyse(model, (1, 4, 8, 8)).by_type()
    assert list(by_type) == ["Conv 1×1", "Conv DW 3×3"]
    assert by_type["Conv DW 3×3"] == (9 * 4 * 64, 36)


def test_count_params_by_module_type():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    assert count_params(model) == 20 + 4
    assert count_params(model, [nn.BatchNorm2d]) == 4


def test_batch_norm_is_skipped_in_the_count_but_still_checks_its_channels():
    import pytest
    import torch.nn as nn

    from refimpl.analysis import analyse, on_meta

    net = on_meta(lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 4, 1)))
    cost = analyse(net, (1, 3, 10, 10))
    assert cost.madds == 3 * 8 * 9 * 8 * 8 + 8 * 4 * 8 * 8  # the two convolutions only
    assert [layer.output_shape for layer in cost.layers] == [(1, 8, 8, 8), (1, 8, 8, 8), (1, 4, 8, 8)]
    assert "forward" not in vars(net[1])  # the stand-in is gone after the analysis
    wrong = on_meta(lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(6)))
    with pytest.raises(RuntimeError, match=r"BatchNorm2d\(6\) got an input of shape \(1, 8, 8, 8\)"):
        analyse(wrong, (1, 3, 10, 10))
