r"""Weights from a peer implementation — timm, torchvision, or our own checkpoints — in our models.

A peer's state dict is mapped onto ours **by position**: the two models register their tensors in
the same order (stem, every block in the paper's order, the last layers), so tensor $i$ of the peer
goes into tensor $i$ of ours. Every pair is checked before anything is copied — same shape, and the
same kind of tensor (``weight``, ``bias``, ``running_mean``, …) — and the first pair that disagrees
stops the load with one line naming both keys and both shapes. The one reshape allowed is between a
fully connected layer and a $1 \times 1$ convolution, ``(O, I)`` ↔ ``(O, I, 1, 1)``: timm and
torchvision classify with ``nn.Linear``, MobileNetV2 and V3 here with a $1 \times 1$ convolution, as
the papers' tables do.

What a peer's *training convention* needs beyond the tensors is in [`CONVENTIONS`][refimpl.loaders.CONVENTIONS]:
batch-norm $\varepsilon$ (timm trains with PyTorch's 1e-5, we follow the TF reference's 1e-3) and, for
timm's MobileNetV1, ReLU6 instead of the paper's ReLU; and which of our options the weights need
(MobileNetV3-Small without the squeeze-and-excite that Table 2 ticks on its last 1×1 convolution).

Weights come only from memory or from a file the user gives; nothing is downloaded.

```python
from refimpl.loaders import from_peer
model, report = from_peer("timm", "mobilenetv2_100", "model.safetensors")  # a file you downloaded
print(report)  # timm mobilenetv2_100 → MobileNetV2: 314 tensors mapped, 1 reshaped (Linear ↔ 1×1 conv), ...
```
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, NamedTuple, Optional, Union

import torch
from torch import Tensor, nn

from refimpl.layers import SqueezeExcite
from refimpl.mobilenet_v1 import MobileNetV1
from refimpl.mobilenet_v2 import MobileNetV2
from refimpl.mobilenet_v3 import MobileNetV3

StateSource = Union[Mapping[str, Tensor], str, os.PathLike]

PEERS = ("refimpl", "timm", "torchvision")
"""Where weights can come from: our own ``state_dict()``, timm, torchvision."""

TIMM_VERSION = "1.0.31"
"""The timm release the conventions and the peer values below were read from (and are tested against)."""

MONAI_VERSION = "1.6.1"
"""The MONAI release whose VNet is compared with ours (tests/test_peers.py)."""

TORCH_BN_EPS = 1e-5
"""PyTorch's ``nn.BatchNorm2d`` default ε, which timm's MobileNets and torchvision's MobileNetV2 train with."""

TORCHVISION_V3_BN_EPS = 1e-3
"""torchvision's MobileNetV3 (``mobilenetv3.py``: ``partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)``)."""


class WeightsMismatch(ValueError):
    """A state dict that does not fit the model; the message names both keys and both shapes."""


class Convention(NamedTuple):
    """What weights trained by one peer need from our model, beyond the tensors."""

    batch_norm_eps: Optional[float]
    """ε every batch norm must use; ``None`` keeps ours."""
    activation: Optional[Callable[[], nn.Module]] = None
    """Replaces every ``nn.ReLU`` of the model (timm's MobileNetV1 trains with ReLU6); ``None`` keeps ours."""
    note: str = ""
    """Where the convention comes from."""


CONVENTIONS: dict[tuple[str, type[nn.Module]], Convention] = {
    ("timm", MobileNetV1): Convention(
        TORCH_BN_EPS, nn.ReLU6,
        f"timm {TIMM_VERSION} _gen_mobilenet_v1: nn.BatchNorm2d defaults, act_layer relu6 (the paper: ReLU)"),
    ("timm", MobileNetV2): Convention(TORCH_BN_EPS, None, f"timm {TIMM_VERSION} _gen_mobilenet_v2: nn.BatchNorm2d defaults"),
    ("timm", MobileNetV3): Convention(TORCH_BN_EPS, None, f"timm {TIMM_VERSION} _gen_mobilenet_v3: nn.BatchNorm2d defaults"),
    ("torchvision", MobileNetV2): Convention(TORCH_BN_EPS, None, "torchvision mobilenetv2.py: nn.BatchNorm2d defaults"),
    ("torchvision", MobileNetV3): Convention(TORCHVISION_V3_BN_EPS, None, "torchvision mobilenetv3.py: eps=0.001"),
}
"""``{(peer, our model class): Convention}``; our own checkpoints (``"refimpl"``) need none."""


class PeerModel(NamedTuple):
    """One peer model and ours in the configuration its weights need."""

    build: Callable[[], nn.Module]
    """Our model, built with the options the weights need."""
    parameters: int
    """Parameters as the peer counts them (``sum(p.numel() for p in model.parameters())``), at the pinned version."""
    tensors: int
    """Entries of the peer's ``state_dict()``, ``num_batches_tracked`` included."""


TIMM_MODELS: dict[str, PeerModel] = {
    "mobilenetv1_100": PeerModel(lambda: MobileNetV1(1.0), 4_231_976, 164),
    "mobilenetv2_035": PeerModel(lambda: MobileNetV2(0.35), 1_677_128, 314),
    "mobilenetv2_100": PeerModel(lambda: MobileNetV2(1.0), 3_504_872, 314),
    "mobilenetv2_140": PeerModel(lambda: MobileNetV2(1.4), 6_108_776, 314),
    "mobilenetv3_large_075": PeerModel(lambda: MobileNetV3("large", 0.75), 3_993_528, 312),
    "mobilenetv3_large_100": PeerModel(lambda: MobileNetV3("large"), 5_483_032, 312),
    # timm's Small has no squeeze-and-excite on the 576-wide 1×1 conv that Table 2 ticks (nor has the TF reference).
    "mobilenetv3_small_100": PeerModel(lambda: MobileNetV3("small", last_conv_se=False), 2_542_856, 244),
}
"""timm models whose weights load into ours, with timm's own counts at [`TIMM_VERSION`][refimpl.loaders.TIMM_VERSION].

The counts are the peer's, typed in from ``timm.create_model(name)``; ``tests/test_peers.py``
recomputes each one with timm and loads every model's weights into ours. Not listed, because our
models differ: timm's ``mobilenetv3_*_050`` keep the 16-filter stem unthinned below α = 0.75
(``fix_stem``), where ours thins it to 8 (the loader refuses them, naming the stem's shapes).
"""

TORCHVISION_MODELS: dict[str, Callable[[], nn.Module]] = {
    "mobilenet_v2": lambda: MobileNetV2(1.0),
    "mobilenet_v3_large": lambda: MobileNetV3("large"),
    "mobilenet_v3_small": lambda: MobileNetV3("small", last_conv_se=False),
}
"""torchvision models whose state dicts map onto ours by position (read from torchvision's model files;
torchvision itself does not install beside this project's torch, so these are not run in the tests)."""


MONAI_VNET_CONVS = (1, 1, 2, 3, 2, 2, 2, 1, 1)
"""5×5×5 convolutions per stage of MONAI's ``VNet`` at [`MONAI_VERSION`][refimpl.loaders.MONAI_VERSION],
L-Stage 1–5 then R-Stage 4–1 (``in_tr``, ``down_tr32`` … ``down_tr256``, ``up_tr256`` … ``up_tr32``);
its output transition adds one more 5×5×5 convolution before the 1×1×1. The paper's are
`refimpl.vnet.LEFT` and `refimpl.vnet.RIGHT`: 1, 2, 3, 3, 3 and 3, 3, 2, 1."""

MONAI_VNET_RECEPTIVE_FIELDS = (5, 14, 48, 148, 284, 356, 392, 402, 407, 411)
"""Receptive fields of MONAI's ``VNet`` (voxels per side, by the recurrence Table 1 uses) after each
of those stages and after its output transition, as
[`receptive_field`][refimpl.analysis.receptive_field] computes them on MONAI's model (tests/test_peers.py)."""

MONAI_VNET_SHAPE_CASES = (
    ({"in_channels": 4, "out_channels": 1}, (1, 4, 32, 32, 32), (1, 1, 32, 32, 32)),
    ({"in_channels": 2, "out_channels": 2}, (1, 2, 32, 32, 32), (1, 2, 32, 32, 32)),
    ({"in_channels": 1, "out_channels": 3}, (1, 1, 32, 32, 32), (1, 3, 32, 32, 32)),
)
"""MONAI's three 3-D VNet shape cases (``tests/networks/nets/test_vnet.py``, ``TEST_CASE_VNET_3D_1``–``3``):
(options, input shape, expected output shape); the activation and dropout options are left out."""


@dataclass(frozen=True)
class LoadReport:
    """What [`load_weights`][refimpl.loaders.load_weights] did."""

    peer: str
    """Whose naming the weights followed, one of [`PEERS`][refimpl.loaders.PEERS]."""
    model: str
    """Our model class."""
    mapped: int
    """Tensors copied, ``num_batches_tracked`` included."""
    reshaped: tuple[tuple[str, str], ...]
    """(ours, theirs) pairs reshaped between a linear layer and a 1×1 convolution."""
    batch_norm_eps: Optional[float]
    """The ε every batch norm now uses, or ``None`` if left as it was."""
    activation: Optional[str]
    """The activation that replaced ``nn.ReLU``, or ``None``."""
    notes: tuple[str, ...] = field(default=())
    """Where the conventions applied come from (the [`Convention`][refimpl.loaders.Convention]'s note), if any."""

    def __str__(self) -> str:
        text = f"{self.peer} → {self.model}: {self.mapped} tensors mapped, {len(self.reshaped)} reshaped (Linear ↔ 1×1 conv)"
        if self.batch_norm_eps is not None:
            text += f", batch-norm ε = {self.batch_norm_eps:g}"
        if self.activation:
            text += f", nn.ReLU replaced by {self.activation}"
        return text


# --------------------------------------------------------------------------- reading


def read_state_dict(source: StateSource) -> "OrderedDict[str, Tensor]":
    """A state dict from memory, or from a checkpoint file the user gives.

    A ``.safetensors`` file is read with ``safetensors`` (how timm's weights are published);
    anything else with ``torch.load(..., weights_only=True)``, which loads tensors and plain
    containers only, never code. A training checkpoint that keeps the weights under
    ``"state_dict"`` or ``"model"`` is unwrapped, and a ``"module."`` prefix (``DataParallel``) removed.

    Args:
        source: a mapping of names to tensors, or the path of a checkpoint file.
    """
    if isinstance(source, Mapping):
        state: object = source
        where = "the state dict"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ValueError(f"weights file {path} does not exist (give a .pth, .pt, .bin or .safetensors file you downloaded)")
        state = _load_file(path)
    else:
        raise TypeError(f"weights must be a state dict or the path of a checkpoint file; got {type(source).__name__}")
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not state:
        raise ValueError(f"{where}: no state dict found (expected a mapping of parameter names to tensors)")
    bad = next((k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)), None)
    if bad is not None:
        raise ValueError(f"{where}: entry {bad!r} is a {type(state[bad]).__name__}, not a tensor: not a state dict")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return OrderedDict(state)


def _load_file(path: Path) -> object:
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:  # pragma: no cover - safetensors is pinned in requirements.lock
            raise ValueError(f"{path}: reading .safetensors needs the safetensors package (pinned in requirements.lock)") from None
        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own SafetensorError
            raise ValueError(f"{path}: not a readable .safetensors file ({_first_line(exc)})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(f"{path}: not a checkpoint torch.load(weights_only=True) can read ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# --------------------------------------------------------------------------- mapping

_COUNTER = "num_batches_tracked"


# timm's MobileNets register their tensors in this order (timm 1.0.31, efficientnet_blocks.py and
# mobilenetv3.py); a .safetensors file keeps names but not order, so the order is restored from the names.
_TIMM_RANKS = {
    "model": ("conv_stem", "bn1", "blocks", "conv_head", "norm_head", "bn2", "classifier"),
    "inverted residual": ("conv_pw", "bn1", "conv_dw", "bn2", "aa", "se", "conv_pwl", "bn3"),
    "depthwise separable": ("conv_dw", "bn1", "aa", "se", "conv_pw", "bn2"),
    "conv": ("conv", "bn1"),
    "se": ("conv_reduce", "conv_expand"),
}
_TENSOR_RANKS = ("weight", "bias", "running_mean", "running_var", _COUNTER)


def timm_order(keys: list[str]) -> list[str]:
    """timm's own registration order of a MobileNet's state-dict keys, restored from the names alone.

    A block is an inverted residual if it has a ``conv_pwl``, depthwise separable if it has a
    ``conv_dw`` and none, else a plain ``conv`` block ("cn" in timm's architecture strings).

    Args:
        keys: the keys of a timm MobileNet state dict, in any order.
    """
    members: dict[str, set[str]] = {}
    for parts in (key.split(".") for key in keys):
        if parts[0] == "blocks" and len(parts) > 4:
            members.setdefault(".".join(parts[:3]), set()).add(parts[3])
    kinds = {block: "inverted residual" if "conv_pwl" in names else "depthwise separable" if "conv_dw" in names else "conv"
             for block, names in members.items()}

    def rank(key: str) -> tuple:
        parts = key.split(".")
        ranks: list[tuple[int, int]] = []
        for i, part in enumerate(parts):
            if part.isdigit():
                ranks.append((0, int(part)))
                continue
            if i == len(parts) - 1:
                table = _TENSOR_RANKS
            elif i == 0:
                table = _TIMM_RANKS["model"]
            elif parts[0] == "blocks" and i == 3:
                table = _TIMM_RANKS[kinds.get(".".join(parts[:3]), "conv")]
            else:
                table = _TIMM_RANKS["se"] if parts[i - 1] == "se" else ()
            ranks.append((1, table.index(part) if part in table else len(table)))
        return tuple(ranks)

    return sorted(keys, key=rank)


def map_state_dict(ours: Mapping[str, Tensor], theirs: Mapping[str, Tensor], peer: str = "peer") -> tuple[
        "OrderedDict[str, Tensor]", list[tuple[str, str]]]:
    r"""Tensor $i$ of ``theirs`` under key $i$ of ``ours``, checked pair by pair.

    ``num_batches_tracked`` counters are matched among themselves (copied when both sides have the
    same number of them, else left as ours): they are training bookkeeping, and released
    checkpoints often drop them. A pair must have the same shape — or be a linear layer's weight
    ``(O, I)`` against a $1 \times 1$ convolution's ``(O, I, 1, 1)``, which is reshaped — and the
    same last name component (``weight``, ``bias``, ``running_mean``, ``running_var``).

    Args:
        ours: our model's ``state_dict()`` (its keys and shapes decide the result).
        theirs: the peer's tensors, in the peer's order.
        peer: the peer's name, for messages.

    Returns:
        The state dict to load into our model, and the (ours, theirs) key pairs that were reshaped.

    Raises:
        WeightsMismatch: on the first pair that disagrees, or when one side has tensors left over.
    """
    def split(state: Mapping[str, Tensor]) -> tuple[list[str], list[str]]:
        counters = [k for k in state if k.rsplit(".", 1)[-1] == _COUNTER]
        return [k for k in state if k.rsplit(".", 1)[-1] != _COUNTER], counters

    our_keys, our_counters = split(ours)
    their_keys, their_counters = split(theirs)
    mapped: "OrderedDict[str, Tensor]" = OrderedDict()
    reshaped: list[tuple[str, str]] = []
    for i, (mine, other) in enumerate(zip(our_keys, their_keys)):
        a, b = ours[mine], theirs[other]
        where = f"tensor {i}: ours {mine} {_shape(a)} vs {peer}'s {other} {_shape(b)}"
        if mine.rsplit(".", 1)[-1] != other.rsplit(".", 1)[-1]:
            raise WeightsMismatch(f"{where}: not the same kind of tensor, the two models are not in the same order")
        if a.shape == b.shape:
            mapped[mine] = b
        elif _linear_vs_pointwise(a, b):
            mapped[mine] = b.reshape(a.shape)
            reshaped.append((mine, other))
        else:
            raise WeightsMismatch(f"{where}: shapes differ (a different width or configuration)")
    if len(our_keys) != len(their_keys):
        n = min(len(our_keys), len(their_keys))
        side, rest = ("ours", our_keys[n:]) if len(our_keys) > n else (f"{peer}'s", their_keys[n:])
        source = ours if side == "ours" else theirs
        raise WeightsMismatch(f"{len(our_keys)} tensors in ours, {len(their_keys)} in {peer}'s: {side} has "
                              f"{len(rest)} more, from {rest[0]} {_shape(source[rest[0]])}")
    if our_counters and len(our_counters) == len(their_counters):
        for mine, other in zip(our_counters, their_counters):
            mapped[mine] = theirs[other]
    for k in our_counters:
        mapped.setdefault(k, ours[k])
    return OrderedDict((k, mapped[k]) for k in ours), reshaped


def _linear_vs_pointwise(a: Tensor, b: Tensor) -> bool:
    """``(O, I)`` against ``(O, I, 1, 1)``, in either direction."""
    small, large = (a, b) if a.dim() < b.dim() else (b, a)
    return small.dim() == 2 and large.dim() == 4 and tuple(large.shape) == (*small.shape, 1, 1)


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


# --------------------------------------------------------------------------- loading


def convention(peer: str, model: nn.Module) -> Convention:
    """The [`Convention`][refimpl.loaders.Convention] weights from ``peer`` need in ``model``; refuses what cannot fit.

    Args:
        peer: one of [`PEERS`][refimpl.loaders.PEERS].
        model: our model that is to take the weights.
    """
    if peer not in PEERS:
        raise ValueError(f"peer must be one of {', '.join(PEERS)}; got {peer!r}")
    if peer == "refimpl":
        return Convention(None, None, "our own state_dict(): nothing to change")
    found = CONVENTIONS.get((peer, type(model)))
    if found is None:
        known = ", ".join(sorted({cls.__name__ for p, cls in CONVENTIONS if p == peer}))
        raise ValueError(f"no known {peer} convention for {type(model).__name__}; {peer} weights load into: {known}")
    if isinstance(model, MobileNetV3) and isinstance(model.features[-1], SqueezeExcite):
        raise ValueError(f"{peer}'s MobileNetV3 has no squeeze-and-excite on the last 1×1 convolution (Table 2 ticks "
                         "one for Small): build MobileNetV3('small', last_conv_se=False) for these weights")
    return found


def load_weights(model: nn.Module, weights: StateSource, peer: str) -> LoadReport:
    """Load a peer's state dict into ``model`` by position, then apply the peer's convention.

    Nothing in ``model`` changes unless every tensor fits (see
    [`map_state_dict`][refimpl.loaders.map_state_dict]); then the tensors are copied, every batch
    norm gets the peer's ε and, where the peer trains with another activation (timm's MobileNetV1:
    ReLU6), every ``nn.ReLU`` is replaced by it.

    Args:
        model: our model, built in the configuration the weights need (see
            [`TIMM_MODELS`][refimpl.loaders.TIMM_MODELS] and [`TORCHVISION_MODELS`][refimpl.loaders.TORCHVISION_MODELS]).
        weights: a state dict, or the path of a checkpoint file (see [`read_state_dict`][refimpl.loaders.read_state_dict]).
        peer: ``"timm"``, ``"torchvision"`` or ``"refimpl"`` (our own ``state_dict()``).
    """
    rule = convention(peer, model)
    theirs = read_state_dict(weights)
    if peer == "timm" and {k.split(".", 1)[0] for k in theirs} <= set(_TIMM_RANKS["model"]):
        theirs = OrderedDict((k, theirs[k]) for k in timm_order(list(theirs)))  # .safetensors files lose the order
    state, reshaped = map_state_dict(model.state_dict(), theirs, peer)
    model.load_state_dict(state)
    if rule.batch_norm_eps is not None:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eps = rule.batch_norm_eps
    if rule.activation is not None:
        _replace(model, nn.ReLU, rule.activation)
    return LoadReport(peer, type(model).__name__, len(state), tuple(reshaped), rule.batch_norm_eps,
                      getattr(rule.activation, "__name__", None), (rule.note,) if rule.note else ())


def _replace(model: nn.Module, old: type[nn.Module], new: Callable[[], nn.Module]) -> None:
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if type(child) is old:
                setattr(module, child_name, new())


def build_for_peer(peer: str, name: str) -> nn.Module:
    """Our model in the configuration the peer's model ``name`` has (e.g. ``"timm"``, ``"mobilenetv2_100"``).

    Args:
        peer: ``"timm"`` or ``"torchvision"``.
        name: the peer's model name, a key of [`TIMM_MODELS`][refimpl.loaders.TIMM_MODELS] or
            [`TORCHVISION_MODELS`][refimpl.loaders.TORCHVISION_MODELS].
    """
    table = {"timm": {k: v.build for k, v in TIMM_MODELS.items()}, "torchvision": TORCHVISION_MODELS}.get(peer)
    if table is None:
        raise ValueError(f"peer must be 'timm' or 'torchvision' to build by name; got {peer!r}")
    if name not in table:
        raise ValueError(f"no {peer} model {name!r} maps onto ours; known: {', '.join(table)}")
    return table[name]()


def from_peer(peer: str, name: str, weights: StateSource) -> tuple[nn.Module, LoadReport]:
    """Build our model for the peer's ``name`` and load ``weights`` into it; in eval mode.

    Args:
        peer: ``"timm"`` or ``"torchvision"``.
        name: the peer's model name, e.g. ``"mobilenetv3_large_100"``.
        weights: the peer's state dict, or the checkpoint file you downloaded for that model.
    """
    model = build_for_peer(peer, name)
    report = load_weights(model, weights, peer)
    return model.eval(), dataclasses.replace(report, peer=f"{peer} {name}")
