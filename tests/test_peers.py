"""Same weights, same outputs: our models against the peer implementations people use.

timm 1.0.31 (MobileNetV1, V2 at 0.35 / 1.0 / 1.4, V3-Large at 1.0 / 0.75, V3-Small) and MONAI 1.6.1
(VNet). Each timm model is built with random weights and random batch-norm statistics, its state
dict is loaded into ours by position (``refimpl.loaders``), and both must give the same logits at
several input sizes, with the same parameter count, output shape and multiply-adds block by block.
MONAI's VNet shape cases run on our VNet, and the values the V-Net notebook states about MONAI's
VNet are recomputed from MONAI's model.

timm declares torchvision as a dependency, which does not install beside this project's torch.
timm's *package import* names a few torchvision classes (its data pipeline's datasets and
transforms, ``FrozenBatchNorm2d``) but building a MobileNet uses none of them, so
`_import_timm` lends it placeholders for exactly those modules while it imports, each of
whose names raises if it is ever called, and removes them again (see README, "Peers").
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import random
import sys
import types

import pytest
import torch
from torch import nn

from refimpl import loaders
from refimpl.analysis import analyse, on_meta, receptive_field
from refimpl.loaders import (
    CONVENTIONS,
    MONAI_VNET_CONVS,
    MONAI_VNET_RECEPTIVE_FIELDS,
    MONAI_VNET_SHAPE_CASES,
    TIMM_MODELS,
    WeightsMismatch,
    load_weights,
    map_state_dict,
)
from refimpl.mobilenet_v1 import MobileNetV1
from refimpl.mobilenet_v2 import MobileNetV2
from refimpl.mobilenet_v3 import LRASPP, MobileNetV3
from refimpl.vnet import LEFT, RIGHT, Stage, VNet

# What timm 1.0.31 imports from torchvision when `import timm` runs (grep of its sources).
_TORCHVISION_MODULES = ("torchvision", "torchvision.ops", "torchvision.ops.misc", "torchvision.datasets",
                        "torchvision.transforms", "torchvision.transforms.functional")


class _Absent(type):
    """A torchvision name timm imports but a MobileNet never uses: its attributes are absent names too; calling one raises."""

    def __getattr__(cls, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Absent(f"{cls.__name__}.{name}", (), {})

    def __call__(cls, *args, **kwargs):
        raise RuntimeError(f"{cls.__name__} is torchvision's, which is not installed here (see README, 'Peers')")


class _AbsentModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Absent(f"{self.__name__}.{name}", (), {})


def _import_timm():
    """``import timm`` without torchvision: placeholders for its torchvision imports while it imports, then removed."""
    if "timm" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        import timm

        return timm
    lent = {}
    for name in _TORCHVISION_MODULES:
        lent[name] = module = _AbsentModule(name)
        module.__path__ = []  # a package, so that its submodules import
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(lent[parent], child, module)
    sys.modules.update(lent)
    try:
        import timm
    finally:
        for name in lent:
            sys.modules.pop(name, None)
    return timm


timm = _import_timm()
import monai  # noqa: E402  (after timm: the order does not matter, but keeps the peers together)
from monai.networks.nets import VNet as MonaiVNet  # noqa: E402

SIZES = (224, 193, 160, 128)
"""Input sizes of the logit comparison: Table 7's resolutions with 192 made odd, so padding at odd sizes is covered."""


def test_the_pinned_peers_are_installed_and_torchvision_is_not():
    assert (timm.__version__, monai.__version__) == (loaders.TIMM_VERSION, loaders.MONAI_VERSION)
    assert importlib.util.find_spec("torchvision") is None  # `make install` never pulls it in
    assert "torchvision" not in sys.modules  # the placeholders lent to timm's import are gone


# --------------------------------------------------------------------------- timm


def randomise(model: nn.Module, seed: int) -> nn.Module:
    """Random weights and random batch-norm statistics, so that ε, means and variances all matter; eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(module.bias.shape, generator=generator) * 0.2 - 0.1)
                module.running_mean.copy_(torch.rand(module.running_mean.shape, generator=generator) * 0.2 - 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model.eval()


@functools.lru_cache(maxsize=None)
def peer_and_ours(name: str) -> tuple[nn.Module, nn.Module, loaders.LoadReport]:
    """timm's ``name`` with random weights, and ours with those weights loaded (built once per name; do not modify)."""
    torch.manual_seed(0)
    peer = randomise(timm.create_model(name, pretrained=False), seed=1)
    ours = TIMM_MODELS[name].build()
    report = load_weights(ours, peer.state_dict(), "timm")
    return peer, ours.eval(), report


def timm_units(model: nn.Module) -> list[list[nn.Module]]:
    """timm's MobileNet as [stem, block 1, …, block n, head conv, classifier], each a list of modules."""
    units = [[model.conv_stem, model.bn1]] + [[block] for stage in model.blocks for block in stage]
    head = [m for m in (getattr(model, "conv_head", None), getattr(model, "bn2", None)) if isinstance(m, nn.Module)
            and not isinstance(m, nn.Identity)]
    return units + ([head] if head else []) + [[model.classifier]]


def our_units(model: nn.Module) -> list[list[nn.Module]]:
    """Ours, cut where timm's units are cut: stem, each block, the 1×1 conv before or after the pool, the classifier."""
    if isinstance(model, MobileNetV1):
        return [[m] for m in model.features] + [[model.classifier]]
    if isinstance(model, MobileNetV2):
        return [[model.stem]] + [[b] for b in model.bottlenecks] + [[model.last], [model.classifier]]
    return [[m] for m in model.features] + [[model.head], [model.classifier]]


def unit_shapes(model: nn.Module, units: list[list[nn.Module]], x: torch.Tensor) -> list[tuple[int, ...]]:
    """Output shape of each unit (its last module), batch dimension left out, flattened to channels."""
    shapes: list[tuple[int, ...]] = [()] * len(units)

    def keep(i: int):
        def hook(_module, _inputs, output) -> None:
            shapes[i] = (output.shape[1], output[0, 0].numel())  # channels, spatial positions

        return hook

    handles = [unit[-1].register_forward_hook(keep(i)) for i, unit in enumerate(units)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return shapes


def largest_difference(peer: nn.Module, ours: nn.Module, size: int, dtype: torch.dtype = torch.float32) -> tuple[float, float]:
    """Largest |ours − peer| over one image of ``size``², and the largest |logit| (for scale)."""
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(size), dtype=dtype)
    with torch.no_grad():
        theirs, mine = peer(x), ours(x)
    assert mine.shape == theirs.shape == (1, 1000)
    return float((mine - theirs).abs().max()), float(theirs.abs().max())


@pytest.mark.parametrize("name", sorted(TIMM_MODELS))
def test_timm_counts_are_the_recorded_ones_and_ours(name):
    peer = timm.create_model(name, pretrained=False)
    recorded = TIMM_MODELS[name]
    assert sum(p.numel() for p in peer.parameters()) == recorded.parameters  # what the notebooks state
    assert len(peer.state_dict()) == recorded.tensors
    ours = analyse(on_meta(recorded.build), (1, 3, 224, 224))
    assert ours.params == recorded.parameters
    # the same multiply-adds, counted by the same FlopCounterMode on both models
    assert ours.madds == analyse(peer, (1, 3, 224, 224)).madds


@pytest.mark.parametrize("name", sorted(TIMM_MODELS))
def test_same_weights_give_the_same_logits_at_every_size(name):
    peer, ours, report = peer_and_ours(name)
    assert report.mapped == TIMM_MODELS[name].tensors  # every tensor, batch-norm counters included
    assert [ours_key for ours_key, _ in report.reshaped] == ["classifier.weight"] * (not isinstance(ours, MobileNetV1))
    for size in SIZES:
        difference, scale = largest_difference(peer, ours, size)
        # float32 rounding only: timm's nn.Hardswish and our x·ReLU6(x+3)/6 round differently, and random
        # weights amplify that with depth (V3-Large: ~4e-5 of the largest logit); float64 below is exact.
        assert difference <= 1e-4 * max(1.0, scale), (name, size, difference, scale)


@pytest.mark.parametrize("name", sorted(TIMM_MODELS))
def test_same_weights_give_the_same_logits_in_float64(name):
    peer, ours, _ = (copy.deepcopy(m).double() if isinstance(m, nn.Module) else m for m in peer_and_ours(name))
    difference, scale = largest_difference(peer, ours, 193, torch.float64)
    assert difference <= 1e-10 * max(1.0, scale), (name, difference, scale)  # a wiring difference would be O(scale)


@pytest.mark.parametrize("name", sorted(TIMM_MODELS))
def test_timm_order_is_restored_from_the_names_alone(name):
    keys = list(timm.create_model(name, pretrained=False).state_dict())
    shuffled = keys[:]
    random.Random(0).shuffle(shuffled)
    assert loaders.timm_order(shuffled) == keys  # what a .safetensors file needs: it keeps names, not order


@pytest.mark.parametrize("name", sorted(TIMM_MODELS))
def test_same_parameters_and_output_shape_block_by_block(name):
    peer, ours, _ = peer_and_ours(name)
    theirs_units, our_units_ = timm_units(peer), our_units(ours)
    count = lambda unit: sum(p.numel() for m in unit for p in m.parameters())  # noqa: E731
    assert [count(u) for u in our_units_] == [count(u) for u in theirs_units]
    x = torch.randn(1, 3, 128, 128)
    assert unit_shapes(ours, our_units_, x) == unit_shapes(peer, theirs_units, x)


def test_batch_norm_eps_is_what_makes_the_logits_agree():
    peer, ours, report = peer_and_ours("mobilenetv2_100")
    assert report.batch_norm_eps == 1e-5 == peer.bn1.eps
    ours = copy.deepcopy(ours)
    for module in ours.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 1e-3  # ours before the load: the TF reference's ε
    difference, scale = largest_difference(peer, ours, 128)
    assert difference > 1e-3 * scale


def test_timm_mobilenet_v1_trains_with_relu6_and_the_loader_sets_it():
    peer, ours, report = peer_and_ours("mobilenetv1_100")
    timm_activations = {type(m).__name__ for m in peer.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))}
    assert timm_activations == {CONVENTIONS["timm", MobileNetV1].activation.__name__} == {"ReLU6"}
    assert report.activation == "ReLU6"
    assert not any(type(m) is nn.ReLU for m in ours.modules())
    assert isinstance(MobileNetV1().features[0].act, nn.ReLU)  # the paper's, unchanged in a fresh model


def test_timm_small_without_the_ticked_se_is_refused_into_the_table_2_model():
    peer = timm.create_model("mobilenetv3_small_100", pretrained=False)
    with pytest.raises(ValueError, match=r"last_conv_se=False"):
        load_weights(MobileNetV3("small"), peer.state_dict(), "timm")


def test_a_peer_model_of_another_configuration_is_refused_naming_both_tensors():
    # timm keeps the 16-filter stem unthinned below 0.75 (fix_stem); ours thins it to 8
    peer = timm.create_model("mobilenetv3_small_050", pretrained=False)
    ours = MobileNetV3("small", 0.5, last_conv_se=False)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with pytest.raises(WeightsMismatch, match=r"^tensor 0: ours features\.0\.conv\.weight \(8, 3, 3, 3\) vs timm's "
                       r"conv_stem\.weight \(16, 3, 3, 3\): shapes differ"):
        load_weights(ours, peer.state_dict(), "timm")
    assert all(torch.equal(before[k], v) for k, v in ours.state_dict().items())  # nothing was copied


def test_timm_weights_load_from_a_torch_file_and_a_safetensors_file(tmp_path):
    from safetensors.torch import save_file

    peer = randomise(timm.create_model("mobilenetv3_small_100", pretrained=False), seed=2)
    torch.save({"state_dict": peer.state_dict(), "epoch": 3}, tmp_path / "checkpoint.pth.tar")  # a timm training checkpoint
    save_file(peer.state_dict(), str(tmp_path / "model.safetensors"))  # how timm publishes weights
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        expected = peer(x)
    for file in ("checkpoint.pth.tar", "model.safetensors"):
        model, report = loaders.from_peer("timm", "mobilenetv3_small_100", tmp_path / file)
        assert report.mapped == 244
        with torch.no_grad():
            assert (model(x) - expected).abs().max() <= 1e-5 * max(1.0, float(expected.abs().max()))


def test_lraspp_backbone_taps_equal_timm_large_features_at_one_eighth_and_one_thirty_second():
    # Where LR-ASPP is comparable with timm: without RF2 and atrous convolution its backbone is
    # MobileNetV3-Large's. The head has no peer here (torchvision's LR-ASPP does not install).
    peer, _, _ = peer_and_ours("mobilenetv3_large_100")
    model = LRASPP("large", reduce_filters=False, atrous=False).eval()
    theirs = {k: v for k, v in peer.state_dict().items() if not k.startswith(("conv_head.", "classifier."))}
    state, _ = map_state_dict(model.backbone.state_dict(), theirs, "timm")
    model.backbone.load_state_dict(state)
    for module in model.backbone.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 1e-5
    taps: dict[str, torch.Tensor] = {}
    hooks = [peer.blocks[2].register_forward_hook(lambda m, i, o: taps.__setitem__("timm 1/8", o)),
             peer.blocks[6].register_forward_hook(lambda m, i, o: taps.__setitem__("timm 1/32", o)),
             model.backbone[model.low_index].register_forward_hook(lambda m, i, o: taps.__setitem__("ours 1/8", o)),
             model.backbone[-1].register_forward_hook(lambda m, i, o: taps.__setitem__("ours 1/32", o))]
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        peer(x), model(x)
    for h in hooks:
        h.remove()
    for stride in ("1/8", "1/32"):
        theirs_, ours_ = taps[f"timm {stride}"], taps[f"ours {stride}"]
        assert ours_.shape == theirs_.shape
        assert (ours_ - theirs_).abs().max() <= 1e-4 * max(1.0, float(theirs_.abs().max()))


# --------------------------------------------------------------------------- MONAI


@pytest.mark.parametrize("options, input_shape, expected", MONAI_VNET_SHAPE_CASES)
def test_monai_vnet_shape_cases_hold_for_monai_and_for_our_vnet(options, input_shape, expected):
    theirs = analyse(on_meta(MonaiVNet, spatial_dims=3, **options), input_shape).output_shape
    ours = analyse(on_meta(VNet, in_channels=options["in_channels"], num_classes=options["out_channels"]), input_shape)
    assert theirs == ours.output_shape == expected


MONAI_STAGES = ("in_tr", "down_tr32", "down_tr64", "down_tr128", "down_tr256", "up_tr256", "up_tr128", "up_tr64", "up_tr32")


def test_monai_vnet_has_the_recorded_convolutions_per_stage():
    model = MonaiVNet(spatial_dims=3, in_channels=1, out_channels=2)
    convs = [1 if name == "in_tr" else len(model.get_submodule(name).ops) for name in MONAI_STAGES]
    assert tuple(convs) == MONAI_VNET_CONVS
    assert model.out_tr.conv_block.conv.kernel_size == (5, 5, 5)  # one more 5×5×5 before the 1×1×1
    assert tuple(c for c, _ in LEFT + RIGHT) == (1, 2, 3, 3, 3, 3, 3, 2, 1)  # ours: what Table 1's fields need


def test_monai_vnet_receptive_fields_are_the_recorded_ones():
    fields = receptive_field(on_meta(MonaiVNet, spatial_dims=3, in_channels=1, out_channels=2), (1, 1, 640, 640, 640))
    assert tuple(fields[name].theoretical[0] for name in (*MONAI_STAGES, "out_tr")) == MONAI_VNET_RECEPTIVE_FIELDS


def test_our_vnet_with_monais_stage_depths_has_monais_receptive_fields():
    left = tuple(Stage(n, c) for n, (_, c) in zip(MONAI_VNET_CONVS[:5], LEFT))
    right = tuple(Stage(n, c) for n, (_, c) in zip(MONAI_VNET_CONVS[5:], RIGHT))
    fields = receptive_field(on_meta(VNet, left=left, right=right), (1, 1, 640, 640, 640))
    stages = [f"contract.{i}" for i in range(5)] + [f"expand.{i}" for i in range(4)]
    assert tuple(fields[s].theoretical[0] for s in stages) == MONAI_VNET_RECEPTIVE_FIELDS[:9]
