"""MobileNetV3 (arXiv:1905.02244v5): Tables 1 and 2, the hard activations, SE width, counts, LR-ASPP, bad input."""

import pytest
import torch
import torch.nn.functional as F

from refimpl.analysis import analyse, on_meta
from refimpl.layers import HSwish, InvertedResidual, SqueezeExcite, h_sigmoid, h_swish
from refimpl.mobilenet_v3 import BN_MOMENTUM, LARGE, LRASPP, SMALL, MobileNetV3, squeeze_width


def cost(*args, resolution=224, **kwargs):
    return analyse(on_meta(MobileNetV3, *args, **kwargs), (1, 3, resolution, resolution))


def bnecks(model):
    return [m for m in model.features if isinstance(m, InvertedResidual)]


# ----------------------------------------------------------------------------- activations (Sec. 5.2)


def test_h_swish_and_h_sigmoid_equal_pytorch_builtins_on_a_dense_grid():
    x = torch.linspace(-10, 10, 200_001, dtype=torch.float64)
    assert torch.allclose(h_swish(x), F.hardswish(x), rtol=0, atol=1e-14)
    assert torch.allclose(h_sigmoid(x), F.hardsigmoid(x), rtol=0, atol=1e-15)


def test_h_swish_is_the_piecewise_function_zero_quadratic_identity():
    x = torch.tensor([-5.0, -3.0, -1.5, 0.0, 1.5, 3.0, 5.0], dtype=torch.float64)
    expected = torch.tensor([0.0, 0.0, -1.5 * 1.5 / 6, 0.0, 1.5 * 4.5 / 6, 3.0, 5.0], dtype=torch.float64)
    assert torch.allclose(h_swish(x), expected, rtol=0, atol=1e-15)


def test_largest_gap_between_swish_and_h_swish_is_3_sigmoid_minus_3_at_plus_minus_3():
    x = torch.linspace(-20, 20, 400_001, dtype=torch.float64)
    gap = (h_swish(x) - x * torch.sigmoid(x)).abs()
    assert gap.max().item() == pytest.approx(3 / (1 + torch.e**3), abs=1e-12)
    assert abs(abs(x[gap.argmax()].item()) - 3) < 1e-9


# ----------------------------------------------------------------------------- Tables 1 and 2


@pytest.mark.parametrize(
    "variant, spec, shapes",
    [
        # (H, C) after the stem and after every bneck row of the table, at 224²
        ("large", LARGE, [(112, 16), (112, 16), (56, 24), (56, 24), (28, 40), (28, 40), (28, 40), (14, 80), (14, 80),
                          (14, 80), (14, 80), (14, 112), (14, 112), (7, 160), (7, 160), (7, 160), (7, 960)]),
        ("small", SMALL, [(112, 16), (56, 16), (28, 24), (28, 24), (14, 40), (14, 40), (14, 40), (14, 48), (14, 48),
                          (7, 96), (7, 96), (7, 96), (7, 576), (7, 576)]),
    ],
)
def test_feature_shapes_follow_the_table_row_by_row(variant, spec, shapes):
    model = on_meta(MobileNetV3, variant)
    x = torch.empty(1, 3, 224, 224, device="meta")
    seen = []
    for layer in model.features:
        x = layer(x)
        seen.append((x.shape[2], x.shape[1]))
    assert seen == shapes


@pytest.mark.parametrize("variant, spec", [("large", LARGE), ("small", SMALL)])
def test_bneck_blocks_carry_the_tables_kernel_exp_size_se_nl_and_stride(variant, spec):
    for block, (kernel, exp_size, out, se, nl, s) in zip(bnecks(MobileNetV3(variant)), spec.bnecks, strict=True):
        dw = block.depthwise.conv
        assert (dw.kernel_size, dw.out_channels, dw.stride, block.project.conv.out_channels) == ((kernel, kernel), exp_size, (s, s), out)
        assert isinstance(block.squeeze_excite, SqueezeExcite) == se
        assert isinstance(block.depthwise.act, HSwish) == (nl == "HS")


def test_large_uses_h_swish_exactly_from_the_80_channel_rows_on():
    uses = [(b.project.conv.out_channels, isinstance(b.depthwise.act, HSwish)) for b in bnecks(MobileNetV3("large"))]
    assert all(h == (out >= 80) for out, h in uses)


@pytest.mark.parametrize("exp_size, width", [(72, 24), (120, 32), (480, 120), (672, 168), (960, 240), (16, 8), (576, 144)])
def test_squeeze_excite_is_a_quarter_of_the_expansion_rounded_to_8(exp_size, width):
    assert squeeze_width(exp_size) == width


def test_every_se_block_in_both_models_is_a_rounded_quarter_of_its_expansion():
    for variant in ("large", "small"):
        for block in bnecks(MobileNetV3(variant)):
            if isinstance(block.squeeze_excite, SqueezeExcite):
                exp = block.depthwise.conv.out_channels
                assert block.squeeze_excite.reduce.out_channels == squeeze_width(exp)
                assert abs(block.squeeze_excite.reduce.out_channels - exp / 4) < 8


def test_head_rows_have_no_batch_norm_and_small_head_is_1024_wide():
    for variant, width in (("large", 1280), ("small", 1024)):
        model = MobileNetV3(variant)
        assert model.head.conv.out_channels == width and model.head.conv.bias is not None
        assert not hasattr(model.head, "norm")


# ----------------------------------------------------------------------------- exact counts (Table 3, Sec. 5.1)


@pytest.mark.parametrize(
    "variant, alpha, options, madds, params",
    [
        # Large 1.0, Table 1: 216.6M MAdds (TF README: 217M, paper: 219M); 5 483 032 params = torchvision's count
        ("large", 1.0, {}, 216_589_760, 5_483_032),
        # Large 0.75, 1280-wide row after the pool kept: Table 3's 155M / 4.0M
        ("large", 0.75, {}, 154_560_624, 3_993_528),
        # Small 1.0, Table 2 as printed (SE ticked on the 576 conv)
        ("small", 1.0, {}, 56_676_288, 2_709_464),
        # Small 1.0 without that SE (reference code): 2 542 856 params = torchvision's count; Table 3 v5: 2.5M
        ("small", 1.0, {"last_conv_se": False}, 56_510_400, 2_542_856),
        # Small 0.75 without that SE: Table 3 v5's 2.0M
        ("small", 0.75, {"last_conv_se": False}, 43_399_344, 2_041_872),
    ],
)
def test_exact_counts_for_the_named_configuration(variant, alpha, options, madds, params):
    c = cost(variant, alpha, **options)
    assert (c.madds, c.params) == (madds, params)


def test_efficient_last_stage_saves_34_million_madds_against_fig5_original():
    saved = cost("large", last_stage="original").madds - cost("large").madds
    assert saved == 34_317_760  # paper: "30 millions MAdds"


def test_16_filter_stem_saves_about_10_million_madds_against_32():
    assert round((cost("large", stem_channels=32).madds - cost("large").madds) / 1e6) == 10


def test_thin_features_thins_the_row_after_the_pool_like_the_reference_default():
    assert MobileNetV3("large", 0.75, thin_features=True).head.conv.out_channels == 960
    assert MobileNetV3("large", 0.75).head.conv.out_channels == 1280


# ----------------------------------------------------------------------------- forward pass and LR-ASPP


@pytest.mark.parametrize(
    "model, input_shape, output_shape",
    [
        (("large",), (2, 3, 224, 224), (2, 1000)),
        (("small", 0.75), (2, 3, 160, 160), (2, 1000)),
        (("large", 1.0, 10, 1), (1, 1, 96, 96), (1, 10)),
    ],
)
def test_classifier_output_shapes(model, input_shape, output_shape):
    assert analyse(on_meta(MobileNetV3, *model), input_shape).output_shape == output_shape


def test_real_forward_pass_is_finite_and_residual_block_keeps_shape():
    torch.manual_seed(0)
    model = MobileNetV3("small", 0.5).eval()
    y = model(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 1000) and torch.isfinite(y).all()


@pytest.mark.parametrize(
    "variant, options, input_shape, output_shape",
    [
        ("large", {}, (1, 3, 1024, 2048), (1, 19, 128, 256)),  # Cityscapes frame → 1/8 (Fig. 10)
        ("small", {}, (1, 3, 512, 1024), (1, 19, 64, 128)),
        ("large", {"atrous": False, "num_classes": 21}, (2, 3, 224, 224), (2, 21, 28, 28)),
    ],
)
def test_lraspp_predicts_at_one_eighth(variant, options, input_shape, output_shape):
    assert analyse(on_meta(LRASPP, variant, **options), input_shape).output_shape == output_shape


def test_lraspp_real_forward_on_a_small_input():
    torch.manual_seed(0)
    y = LRASPP("small", num_classes=3).eval()(torch.randn(1, 3, 96, 128))
    assert y.shape == (1, 3, 12, 16) and torch.isfinite(y).all()


# ----------------------------------------------------------------------------- bad input


def test_unknown_variant_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"\['large', 'small'\].*'medium'"):
        MobileNetV3("medium")
    with pytest.raises(ValueError, match=r"\['large', 'small'\]"):
        LRASPP("Large")


@pytest.mark.parametrize("alpha", [0, -0.5, 5.0, "1.0", True])
def test_invalid_width_multiplier_is_rejected(alpha):
    with pytest.raises(ValueError, match=r"width_multiplier must be"):
        MobileNetV3("large", alpha)


def test_wrong_input_channels_say_what_is_expected():
    with pytest.raises(ValueError, match=r"MobileNetV3-Large expects 3 input channels.*got 1"):
        MobileNetV3("large")(torch.empty(1, 1, 32, 32, device="meta"))
    with pytest.raises(ValueError, match=r"expects a 4-D input"):
        MobileNetV3("small")(torch.empty(3, 32, 32))


def test_other_bad_options_are_rejected():
    with pytest.raises(ValueError, match="stem_channels must be 16"):
        MobileNetV3(stem_channels=24)
    with pytest.raises(ValueError, match="last_stage must be 'efficient' or 'original'"):
        MobileNetV3(last_stage="v2")
    with pytest.raises(ValueError, match="use variant='large'"):
        MobileNetV3("small", last_stage="original")


# ----------------------------------------------------------------------------- batch norm (Sec. 6.1.1)


@pytest.mark.parametrize("factory, kwargs", [
    (MobileNetV3, {"variant": "large"}),
    (MobileNetV3, {"variant": "small"}),
    (MobileNetV3, {"variant": "large", "last_stage": "original"}),
    (LRASPP, {"variant": "large"}),
    (LRASPP, {"variant": "small", "reduce_filters": False, "atrous": False}),
])
def test_every_batch_norm_has_the_papers_average_decay_of_0_99(factory, kwargs):
    # "All our convolutional layers use batch-normalization layers with average decay of 0.99":
    # PyTorch's momentum is 1 − decay = 0.01; ε stays the reference code's 1e-3
    norms = [m for m in on_meta(factory, **kwargs).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and {(m.momentum, m.eps) for m in norms} == {(BN_MOMENTUM, 1e-3)} and BN_MOMENTUM == 0.01
