"""Tests of refimpl.loaders without a peer: reading checkpoints, positional mapping, refusals, conventions.

The loads from timm's own state dicts are in tests/test_peers.py.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict

import pytest
import torch
from torch import nn

from refimpl.loaders import (
    WeightsMismatch,
    build_for_peer,
    convention,
    load_weights,
    map_state_dict,
    read_state_dict,
)
from refimpl.mobilenet_v1 import MobileNetV1
from refimpl.mobilenet_v2 import MobileNetV2
from refimpl.mobilenet_v3 import MobileNetV3
from refimpl.vnet import VNet


def state(*entries: tuple[str, tuple[int, ...]]) -> "OrderedDict[str, torch.Tensor]":
    """A state dict of the given keys and shapes, each tensor filled with its index."""
    return OrderedDict((key, torch.full(shape, float(i))) for i, (key, shape) in enumerate(entries))


OURS = state(("stem.conv.weight", (8, 3, 3, 3)), ("stem.norm.weight", (8,)), ("stem.norm.bias", (8,)),
             ("stem.norm.running_mean", (8,)), ("stem.norm.running_var", (8,)), ("classifier.weight", (10, 8, 1, 1)),
             ("classifier.bias", (10,)))
PEER = state(("conv_stem.weight", (8, 3, 3, 3)), ("bn1.weight", (8,)), ("bn1.bias", (8,)), ("bn1.running_mean", (8,)),
             ("bn1.running_var", (8,)), ("fc.weight", (10, 8)), ("fc.bias", (10,)))


def test_tensors_are_mapped_by_position_and_a_linear_weight_becomes_a_1x1_convolution():
    mapped, reshaped = map_state_dict(OURS, PEER, "timm")
    assert list(mapped) == list(OURS)
    assert [float(t.flatten()[0]) for t in mapped.values()] == list(range(7))  # tensor i of theirs under key i of ours
    assert mapped["classifier.weight"].shape == (10, 8, 1, 1)
    assert reshaped == [("classifier.weight", "fc.weight")]


def test_a_1x1_convolution_weight_becomes_a_linear_one_too():
    ours = state(("fc.weight", (10, 8)), ("fc.bias", (10,)))
    theirs = state(("classifier.weight", (10, 8, 1, 1)), ("classifier.bias", (10,)))
    mapped, reshaped = map_state_dict(ours, theirs)
    assert mapped["fc.weight"].shape == (10, 8) and reshaped == [("fc.weight", "classifier.weight")]


def test_the_first_shape_mismatch_is_refused_naming_both_keys_and_shapes():
    theirs = OrderedDict(PEER)
    theirs["bn1.bias"] = torch.zeros(16)
    with pytest.raises(WeightsMismatch, match=r"^tensor 2: ours stem\.norm\.bias \(8,\) vs timm's bn1\.bias \(16,\): shapes differ"):
        map_state_dict(OURS, theirs, "timm")


def test_tensors_of_another_kind_in_the_same_place_are_refused():
    theirs = OrderedDict([("bn1.running_mean" if k == "bn1.bias" else k, v) for k, v in PEER.items()])
    with pytest.raises(WeightsMismatch, match=r"tensor 2: ours stem\.norm\.bias \(8,\) vs peer's bn1\.running_mean \(8,\): "
                       "not the same kind of tensor"):
        map_state_dict(OURS, theirs)


def test_a_different_number_of_tensors_names_the_first_one_left_over():
    theirs = OrderedDict(list(PEER.items())[:5])
    with pytest.raises(WeightsMismatch, match=r"^7 tensors in ours, 5 in timm's: ours has 2 more, from classifier\.weight "
                       r"\(10, 8, 1, 1\)$"):
        map_state_dict(OURS, theirs, "timm")
    longer = OrderedDict(PEER, extra=torch.zeros(3))
    with pytest.raises(WeightsMismatch, match=r"timm's has 1 more, from extra \(3,\)"):
        map_state_dict(OURS, longer, "timm")


def test_batch_norm_counters_are_copied_when_both_have_them_and_kept_when_the_checkpoint_drops_them():
    ours = OrderedDict(OURS, **{"stem.norm.num_batches_tracked": torch.tensor(0)})
    theirs = OrderedDict(PEER, **{"bn1.num_batches_tracked": torch.tensor(7)})
    assert int(map_state_dict(ours, theirs)[0]["stem.norm.num_batches_tracked"]) == 7
    assert int(map_state_dict(ours, PEER)[0]["stem.norm.num_batches_tracked"]) == 0


def test_our_own_checkpoint_round_trips_through_a_file(tmp_path):
    torch.manual_seed(0)
    trained = MobileNetV2(0.35).eval()
    torch.save(trained.state_dict(), tmp_path / "ours.pth")
    fresh = MobileNetV2(0.35).eval()
    report = load_weights(fresh, tmp_path / "ours.pth", "refimpl")
    assert report.mapped == len(trained.state_dict()) and report.reshaped == () and report.batch_norm_eps is None
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(fresh(x), trained(x))


def test_checkpoints_are_unwrapped_and_a_dataparallel_prefix_is_removed(tmp_path):
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in PEER.items()}}, tmp_path / "train.pth.tar")
    assert list(read_state_dict(tmp_path / "train.pth.tar")) == list(PEER)
    torch.save({"model": PEER}, tmp_path / "model.pt")
    assert list(read_state_dict(str(tmp_path / "model.pt"))) == list(PEER)


def test_safetensors_files_are_read(tmp_path):
    from safetensors.torch import save_file

    save_file(dict(PEER), str(tmp_path / "model.safetensors"))
    assert set(read_state_dict(tmp_path / "model.safetensors")) == set(PEER)  # names kept, order not (see timm_order)


class Payload:
    """Anything that is not tensors: ``torch.load(weights_only=True)`` must refuse to unpickle it."""


def test_bad_files_get_one_line_naming_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"^weights file .*missing\.pth does not exist"):
        read_state_dict(tmp_path / "missing.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"garbage\.pth: not a checkpoint torch\.load\(weights_only=True\) can read") as e:
        read_state_dict(tmp_path / "garbage.pth")
    assert "\n" not in str(e.value)
    with open(tmp_path / "code.pth", "wb") as f:
        pickle.dump({"x": Payload()}, f, protocol=2)
    with pytest.raises(ValueError, match=r"code\.pth: not a checkpoint"):
        read_state_dict(tmp_path / "code.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match=r"bad\.safetensors: not a readable \.safetensors file"):
        read_state_dict(tmp_path / "bad.safetensors")


def test_what_is_not_a_state_dict_is_refused():
    with pytest.raises(ValueError, match=r"entry 'epoch' is a int, not a tensor"):
        read_state_dict({"weight": torch.zeros(1), "epoch": 3})
    with pytest.raises(ValueError, match="no state dict found"):
        read_state_dict({})
    with pytest.raises(TypeError, match="a state dict or the path"):
        read_state_dict(42)


def test_nothing_changes_in_the_model_when_a_tensor_does_not_fit():
    model = MobileNetV2(0.35)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    theirs = MobileNetV2(0.5).state_dict()  # the same until the first 24-channel row: 8 channels at 0.35, 16 at 0.5
    with pytest.raises(WeightsMismatch, match=r"^tensor 25: ours bottlenecks\.1\.project\.conv\.weight \(8, 48, 1, 1\) "
                       r"vs refimpl's bottlenecks\.1\.project\.conv\.weight \(16, 48, 1, 1\): shapes differ"):
        load_weights(model, theirs, "refimpl")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_timm_conventions_set_batch_norm_eps_and_mobilenet_v1_relu6():
    v1 = MobileNetV1(0.25)
    report = load_weights(v1, MobileNetV1(0.25).state_dict(), "timm")
    assert report.batch_norm_eps == 1e-5 and report.activation == "ReLU6"
    assert {m.eps for m in v1.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-5}
    assert {type(m) for m in v1.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))} == {nn.ReLU6}
    assert str(report) == ("timm → MobileNetV1: 164 tensors mapped, 0 reshaped (Linear ↔ 1×1 conv), batch-norm ε = 1e-05, "
                           "nn.ReLU replaced by ReLU6")


def test_torchvision_mobilenet_v3_keeps_our_eps():
    assert convention("torchvision", MobileNetV3("large")).batch_norm_eps == 1e-3
    assert convention("torchvision", MobileNetV2()).batch_norm_eps == 1e-5


def test_conventions_refuse_what_cannot_fit():
    with pytest.raises(ValueError, match=r"peer must be one of refimpl, timm, torchvision; got 'keras'"):
        convention("keras", MobileNetV2())
    with pytest.raises(ValueError, match=r"no known timm convention for VNet; timm weights load into: MobileNetV1, "
                       "MobileNetV2, MobileNetV3"):
        convention("timm", VNet())
    with pytest.raises(ValueError, match=r"build MobileNetV3\('small', last_conv_se=False\)"):
        convention("torchvision", MobileNetV3("small"))


def test_models_are_built_by_peer_name():
    assert isinstance(build_for_peer("timm", "mobilenetv2_140"), MobileNetV2)
    small = build_for_peer("torchvision", "mobilenet_v3_small")
    assert not isinstance(small.features[-1], type(MobileNetV3("small").features[-1]))  # no SE on the last conv
    with pytest.raises(ValueError, match=r"no timm model 'resnet50' maps onto ours; known: mobilenetv1_100"):
        build_for_peer("timm", "resnet50")
    with pytest.raises(ValueError, match="peer must be 'timm' or 'torchvision'"):
        build_for_peer("refimpl", "x")
