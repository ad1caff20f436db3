r"""Segmentation at toy scale on real data: the training loops of the U-Net, V-Net and 3D U-Net experiments.

Two data sets, each split in two halves so that nothing tested was trained on:

* **2-D** ([`train_nuclei`][kb.training.segment.train_nuclei]): the StarDist nuclei image
  (`kb.datasets.nuclei`), top half for training, bottom half for testing. Objects are counted after
  connected components, as an instance segmentation is judged: object F1 at IoU 0.5
  ([`object_f1`][kb.training.segment.object_f1]) and how many pairs of touching nuclei come out as two
  objects ([`separated`][kb.training.segment.separated]).
* **3-D** ([`train_hippocampus`][kb.training.segment.train_hippocampus]): the Colin27 T1 volume with the AAL
  hippocampus (`kb.datasets.brain`) at 2 mm, left hemisphere for training, the right hemisphere
  mirrored onto it for testing ([`hemispheres`][kb.training.segment.hemispheres]).

Every loop is plain PyTorch on the CPU with Adam, random crops drawn from a NumPy generator seeded
with the run's seed, and the model initialised after ``torch.manual_seed(seed)``: two arms run with
the same seed see the same initial weights and the same crops, so their results are paired. The
thread count is the runner's (one per run).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Mapping, NamedTuple, Optional

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor, nn

from refimpl.unet import Contracting, Expanding, UNet, weight_map, weighted_cross_entropy
from refimpl.unet3d import UNLABELED

Progress = Callable[[int, int], None]

CURVE_POINTS = 20
"""Training-loss values kept per run (the mean over each twentieth of the iterations)."""


# --------------------------------------------------------------------------- shared pieces


def _curve(losses: list[float]) -> list[float]:
    """The loss curve averaged over [`CURVE_POINTS`][kb.training.segment.CURVE_POINTS] equal spans."""
    spans = np.array_split(np.asarray(losses, dtype=np.float64), min(CURVE_POINTS, len(losses)))
    return [round(float(s.mean()), 5) for s in spans]


@contextmanager
def flushed_denormals():
    """Flush denormal floats to zero while training, then restore PyTorch's default (keep them).

    Measured here: after a few dozen Adam steps the V-Net's activations and gradients fill with
    denormals and an iteration slows from 0.31 s to 1.0 s on one core; flushed, it stays at 0.31 s.
    The values flushed are below 1.2e-38 (float32), far below anything the results depend on.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _check_finite(loss: Tensor, step: int) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the training loss became {float(loss)} at iteration {step}")


def fit(model: nn.Module, next_batch: Callable[[], tuple], loss_fn: Callable[..., Tensor], iterations: int, lr: float,
        progress: Progress) -> dict[str, Any]:
    """Adam, one batch per iteration: ``loss_fn(model, *next_batch())``; the model is left in evaluation mode.

    Args:
        model: the network, initialised.
        next_batch: draws the next training batch (inputs first).
        loss_fn: the loss of a batch.
        iterations: how many batches.
        lr: Adam's learning rate.
        progress: called with ``(iteration, iterations)``.

    Returns ``{"loss_curve": …, "seconds_training": …}``.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    start = time.perf_counter()
    model.train()
    with flushed_denormals():
        for step in range(1, iterations + 1):
            loss = loss_fn(model, *next_batch())
            _check_finite(loss, step)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            progress(step, iterations)
    model.eval()
    return {"loss_curve": _curve(losses), "seconds_training": round(time.perf_counter() - start, 1)}


def uint8_image(x: np.ndarray, low: Optional[float] = None, high: Optional[float] = None) -> list:
    """``x`` scaled linearly from ``[low, high]`` (default: its range) to 0–255, as nested lists of ints (for JSON)."""
    low = float(x.min()) if low is None else low
    high = float(x.max()) if high is None else high
    scaled = np.clip((x - low) / max(high - low, 1e-12), 0, 1) * 255
    return np.round(scaled).astype(np.uint8).tolist()


def random_crop(rng: np.random.Generator, shape: tuple[int, ...], size: tuple[int, ...]) -> tuple[slice, ...]:
    """A crop of ``size`` placed uniformly at random inside ``shape``."""
    if any(s > n for s, n in zip(size, shape)):
        raise ValueError(f"crop {size} does not fit in {shape}")
    return tuple(slice(start, start + s) for start, s in
                 ((int(rng.integers(0, n - s + 1)), s) for n, s in zip(shape, size)))


# --------------------------------------------------------------------------- 2-D: touching nuclei


def separation_borders(instances: np.ndarray) -> np.ndarray:
    r"""Instances with "the small separation borders that we introduce between touching cells" (U-Net, Sec. 3).

    A cell pixel becomes background when one of its 8 neighbours belongs to another cell, so touching
    cells end up two pixels apart and the foreground mask keeps them apart. Pixels next to background
    only are untouched.

    Args:
        instances: integer labels ``(H, W)``, 0 background.
    """
    big = np.iinfo(np.int32).max
    highest = ndimage.maximum_filter(instances, size=3)
    lowest = ndimage.minimum_filter(np.where(instances > 0, instances, big), size=3)
    border = (instances > 0) & ((highest != instances) | (lowest != instances))
    return np.where(border, 0, instances)


def touching_pairs(instances: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of cells that share an edge (4-neighbours), sorted."""
    pairs = set()
    for a, b in ((instances[:, :-1], instances[:, 1:]), (instances[:-1, :], instances[1:, :])):
        contact = (a != b) & (a > 0) & (b > 0)
        pairs.update(zip(np.minimum(a, b)[contact].tolist(), np.maximum(a, b)[contact].tolist()))
    return sorted(pairs)


def _overlaps(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersections ``(n_truth + 1, n_predicted + 1)`` and the sizes of every object of both label images."""
    n_true, n_pred = int(truth.max()), int(predicted.max())
    joint = truth.astype(np.int64) * (n_pred + 1) + predicted
    table = np.bincount(joint.ravel(), minlength=(n_true + 1) * (n_pred + 1)).reshape(n_true + 1, n_pred + 1)
    return table, table.sum(1), table.sum(0)


def object_f1(truth: np.ndarray, predicted: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    r"""Object-level precision, recall and F1 with a match at IoU > ``threshold``.

    A true and a predicted object match when their intersection over union exceeds 0.5; at that
    threshold each object has at most one match, so no assignment is needed.
    $F_1 = 2\,TP / (2\,TP + FP + FN)$.

    Args:
        truth: true instance labels, 0 background, consecutive ``1 … n``.
        predicted: predicted instance labels (connected components), 0 background, consecutive.
        threshold: the IoU a match must exceed.
    """
    inter, true_sizes, pred_sizes = _overlaps(truth, predicted)
    inter, union = inter[1:, 1:], true_sizes[1:, None] + pred_sizes[None, 1:] - inter[1:, 1:]
    iou = inter / np.maximum(union, 1)
    tp = int((iou > threshold).sum())
    fp, fn = int(predicted.max()) - tp, int(truth.max()) - tp
    return {"f1": 2 * tp / max(2 * tp + fp + fn, 1), "tp": tp, "fp": fp, "fn": fn}


def separated(truth: np.ndarray, predicted: np.ndarray, pairs: list[tuple[int, int]], threshold: float = 0.5) -> list[bool]:
    """For each touching pair, whether both cells were found as two objects: each matched at IoU > ``threshold``.

    At IoU > 0.5 a predicted object matches at most one cell, so two matched cells are two objects; a
    prediction that merges the pair into one blob matches neither (the blob is about twice each cell).

    Args:
        truth: true instance labels, consecutive ``1 … n``.
        predicted: predicted connected components, consecutive.
        pairs: ``(i, j)`` pairs of touching true cells.
        threshold: the IoU a match must exceed.
    """
    inter, true_sizes, pred_sizes = _overlaps(truth, predicted)
    iou = inter / np.maximum(true_sizes[:, None] + pred_sizes[None, :] - inter, 1)
    found = (iou[:, 1:] > threshold).any(1)     # per true cell (row 0 is the background)
    return [bool(found[i] and found[j]) for i, j in pairs]


class NucleiHalves(NamedTuple):
    """The nuclei image split in a training and a test half, with what the loss and the metrics need."""

    train_image: np.ndarray
    train_target: np.ndarray
    """Foreground/background (1/0) with separation borders between touching cells."""
    train_instances: np.ndarray
    """Instances after the separation borders (the input of Eq. 2)."""
    test_image: np.ndarray
    test_instances: np.ndarray
    """True instances of the test half, relabelled ``1 … n`` (not eroded)."""


def nuclei_halves(split_row: int) -> NucleiHalves:
    """The StarDist nuclei image cut at ``split_row``: rows above for training, rows from it on for testing."""
    from kb.datasets import nuclei

    image, labels = nuclei.load()
    if not 0 < split_row < image.shape[0]:
        raise ValueError(f"split_row must be inside the image's {image.shape[0]} rows; got {split_row}")
    train_instances = separation_borders(labels[:split_row])
    test_instances = _relabel(labels[split_row:])
    return NucleiHalves(image[:split_row], (train_instances > 0).astype(np.int64), train_instances,
                        image[split_row:], test_instances)


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Labels made consecutive ``1 … n``, 0 staying background (``skimage.segmentation.relabel_sequential``)."""
    values, inverse = np.unique(labels, return_inverse=True)
    if values[0] != 0:   # no background pixel: every label moves up by one
        inverse = inverse + 1
    return inverse.reshape(labels.shape).astype(np.int32)


def dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 rotations/reflections of the last two axes (``k`` in 0 … 7)."""
    x = np.rot90(x, k % 4, axes=(-2, -1))
    return x[..., ::-1] if k >= 4 else x


def train_nuclei(setting: Mapping[str, Any], w0: float, seed: int, progress: Progress) -> dict[str, Any]:
    r"""Train a small 2-D U-Net on crops of the top half with the loss of Eq. 1 and the weights of Eq. 2.

    The weight map $w(x) = w_c(x) + w_0 \exp(-(d_1 + d_2)^2 / 2\sigma^2)$ is computed once on the whole
    training half (`refimpl.unet.weight_map`) and cropped with the image, so that the distances $d_1$,
    $d_2$ see cells outside the crop; ``w0=0`` leaves $w_c$, the class balance, alone.

    ``setting`` keys: ``split_row``, ``contracting``, ``expanding`` (rows of `refimpl.unet.UNet`),
    ``crop``, ``batch``, ``iterations``, ``lr``, ``sigma``, ``figure_crop`` (the test window kept
    for the figure, ``[row, col, size]``).

    Returns metrics ``f1`` (object F1 at IoU 0.5 on the test half), ``pairs_separated`` (touching
    pairs of the test half found as two objects, IoU > 0.5 each), ``precision``, ``recall``; extras: the
    loss curve, the per-pair outcome, and for seed 0 the figure window of ``figure_crop``: image and
    weight map downsampled ×2 (uint8), the true foreground with its separation borders and the
    predicted foreground at full resolution (0/1), since the borders are one or two pixels wide.
    """
    halves = nuclei_halves(setting["split_row"])
    weights = weight_map(halves.train_instances, w0=w0, sigma=setting["sigma"]).astype(np.float32)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = UNet(1, 2, [Contracting(*r) for r in setting["contracting"]], [Expanding(*r) for r in setting["expanding"]],
                 padding="same")
    size, batch = setting["crop"], setting["batch"]

    def next_batch() -> tuple[Tensor, Tensor, Tensor]:
        images, targets, maps = [], [], []
        for _ in range(batch):
            window = random_crop(rng, halves.train_image.shape, (size, size))
            k = int(rng.integers(8))   # DEVIATION from Sec. 3.1: flips and right-angle rotations, no elastic deformation
            images.append(dihedral(halves.train_image[window], k))
            targets.append(dihedral(halves.train_target[window], k))
            maps.append(dihedral(weights[window], k))
        return (torch.from_numpy(np.stack(images)[:, None].copy()),       # (N, 1, size, size)
                torch.from_numpy(np.stack(targets).copy()), torch.from_numpy(np.stack(maps).copy()))

    def loss_fn(model: nn.Module, x: Tensor, y: Tensor, w: Tensor) -> Tensor:
        return weighted_cross_entropy(model(x), y, w, reduction="mean")   # Eq. 1 with w(x) of Eq. 2, / Σ w(x)

    trained = fit(model, next_batch, loss_fn, setting["iterations"], setting["lr"], progress)

    with torch.no_grad():
        logits = model(torch.from_numpy(halves.test_image[None, None].copy()))   # (1, 2, 256, 512): the whole test half
    foreground = (logits[0].argmax(0) == 1).numpy()
    components, _ = ndimage.label(foreground)   # 4-connected objects
    scores = object_f1(halves.test_instances, components)
    pairs = touching_pairs(halves.test_instances)
    split = separated(halves.test_instances, components, pairs)
    extras: dict[str, Any] = {
        **trained, "touching_pairs": len(pairs), "pairs": [list(p) + [s] for p, s in zip(pairs, split)],
        "objects": {"true": int(halves.test_instances.max()), "predicted": int(components.max()),
                    "tp": scores["tp"], "fp": scores["fp"], "fn": scores["fn"]},
    }
    if seed == 0:
        row, col, side = setting["figure_crop"]
        window = (slice(row, row + side), slice(col, col + side))
        test_map = weight_map(separation_borders(halves.test_instances[window]), w0=w0, sigma=setting["sigma"])
        extras["figure"] = {
            "window": [row + setting["split_row"], col, side],       # in the whole image's rows and columns
            "image": uint8_image(halves.test_image[window][::2, ::2], 0.0, 1.0),   # downsampled ×2
            "weight_map": uint8_image(test_map[::2, ::2], 0.0, float(test_map.max())),  # 0–255 ↔ 0–max
            "weight_map_range": [0.0, round(float(test_map.max()), 3)],
            "truth": (separation_borders(halves.test_instances[window]) > 0).astype(np.uint8).tolist(),
            "prediction": foreground[window].astype(np.uint8).tolist(),   # full resolution: borders are 1–2 px
        }
    return {"metrics": {"f1": round(scores["f1"], 4), "pairs_separated": int(sum(split)),
                        "precision": round(scores["tp"] / max(scores["tp"] + scores["fp"], 1), 4),
                        "recall": round(scores["tp"] / max(scores["tp"] + scores["fn"], 1), 4)},
            "extras": extras}


# --------------------------------------------------------------------------- 3-D: hippocampus in two hemispheres


class Hemispheres(NamedTuple):
    """The left hemisphere for training and the right one, mirrored onto it, for testing: T1 and structure mask of each."""

    train_image: np.ndarray
    train_mask: np.ndarray
    test_image: np.ndarray
    test_mask: np.ndarray


def downsample(volume: np.ndarray, factor: int) -> np.ndarray:
    """Block means over ``factor``³ voxels (the volume is edge-padded to a multiple of ``factor`` first)."""
    if factor == 1:
        return volume.astype(np.float32)
    pad = [(0, -n % factor) for n in volume.shape]
    v = np.pad(volume.astype(np.float32), pad, mode="edge")
    d, h, w = (n // factor for n in v.shape)
    return v.reshape(d, factor, h, factor, w, factor).mean(axis=(1, 3, 5))


def hemispheres(structure: str, factor: int, shape: tuple[int, int, int]) -> Hemispheres:
    """The T1 volume and the mask of ``structure``'s left and right parts, hemisphere by hemisphere.

    The volume is averaged over ``factor``³ blocks (2: 2 mm voxels), a mask voxel is foreground when
    at least half of its block is. Each hemisphere runs from the lateral edge to the voxel before the
    midline; the right one is mirrored along x so that both have the lateral side at x = 0 and the
    same anatomy in the same place. Both are then cut to ``shape``: along x the medial end is kept
    (the lateral edge is air), along y and z the posterior and inferior ends; ``shape`` must keep the
    whole structure.

    Args:
        structure: the AAL name without its side, e.g. ``"Hippocampus"`` (``_L`` trains, ``_R`` tests).
        factor: voxels per side of a block (1 keeps 1 mm).
        shape: the hemisphere's kept size ``(x, y, z)`` after downsampling.
    """
    from kb.datasets import brain

    b = brain.load()
    t1 = downsample(b.t1, factor)
    masks = {side: downsample(brain.structure_mask(b, f"{structure}_{side}"), factor) >= 0.5 for side in "LR"}
    mid = brain.midline(b) // factor                                    # x = 0 mm
    cut = (slice(mid - shape[0], mid), slice(0, shape[1]), slice(0, shape[2]))  # each hemisphere is mid voxels wide
    left = (t1[:mid], masks["L"][:mid])                                  # lateral (x = −90 mm) first
    right = (t1[mid + 1:][::-1], masks["R"][mid + 1:][::-1])             # mirrored: lateral (x = +90 mm) first
    halves = [a[cut] for a in (*left, *right)]
    for whole, kept, side in ((masks["L"], halves[1], "L"), (masks["R"], halves[3], "R")):
        if kept.sum() != whole.sum():
            raise ValueError(f"shape {shape} cuts off part of {structure}_{side}; keep more of the hemisphere")
    return Hemispheres(*(np.ascontiguousarray(a) for a in halves))


def sparse_annotation(mask: np.ndarray, planes: int, unlabeled: int) -> tuple[np.ndarray, dict[str, list[int]]]:
    r"""Labels on ``planes`` slices per axis through the structure, ``unlabeled`` everywhere else (3D U-Net, Sec. 3).

    "Manually annotated some orthogonal xy, xz, and yz slices": per axis, ``planes`` slices evenly
    spaced inside the structure's extent (at $1/(p+1), …, p/(p+1)$ of it), each labelled whole
    (structure and background), as an annotator would label a slice that shows the structure.

    Args:
        mask: the dense binary mask.
        planes: slices per axis (0: nothing labelled; a negative number: every voxel labelled).
        unlabeled: the label of the other voxels (`refimpl.unet3d.UNLABELED`).
    """
    if planes < 0:
        return mask.astype(np.int64), {}
    labels = np.full(mask.shape, unlabeled, dtype=np.int64)
    where = np.argwhere(mask)
    chosen = {}
    for axis, name in enumerate("xyz"):
        low, high = int(where[:, axis].min()), int(where[:, axis].max())
        chosen[name] = [int(round(low + (high - low) * (k + 1) / (planes + 1))) for k in range(planes)]
        for i in chosen[name]:
            index = [slice(None)] * 3
            index[axis] = i
            labels[tuple(index)] = mask[tuple(index)]
    return labels, chosen


def dice_score(predicted: np.ndarray, truth: np.ndarray) -> float:
    r"""$2|P \cap G| / (|P| + |G|)$ of two binary volumes (1 when both are empty)."""
    total = int(predicted.sum()) + int(truth.sum())
    return 2 * int((predicted & truth).sum()) / total if total else 1.0


def iou_score(predicted: np.ndarray, truth: np.ndarray) -> float:
    r"""$|P \cap G| / |P \cup G|$ of two binary volumes, over the voxels given (1 when both are empty)."""
    union = int((predicted | truth).sum())
    return int((predicted & truth).sum()) / union if union else 1.0


def _volume(x: np.ndarray) -> Tensor:
    """``(D, H, W)`` → ``(1, 1, D, H, W)`` float32, channels-last (faster 3-D convolutions on the CPU)."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None].to(memory_format=torch.channels_last_3d)


def train_volume(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Tensor, Tensor], Tensor],
    image: np.ndarray,
    labels: np.ndarray,
    setting: Mapping[str, Any],
    seed: int,
    progress: Progress,
) -> dict[str, Any]:
    """Adam on random crops of one training volume: the loop both 3-D experiments share.

    Args:
        model: the network, initialised (after ``torch.manual_seed(seed)``).
        loss_fn: ``loss_fn(model, x, y)`` for a batch ``x`` ``(N, 1, *crop)`` and labels ``y`` ``(N, *crop)``.
        image: the training volume ``(X, Y, Z)``.
        labels: its labels (for the 3D U-Net, with unlabelled voxels).
        setting: ``crop`` ``[x, y, z]``, ``batch``, ``iterations``, ``lr``.
        seed: seeds the crops' generator.
        progress: called with ``(iteration, iterations)``.

    Returns ``{"loss_curve": …, "seconds_training": …}``; the model is left in evaluation mode.
    """
    rng = np.random.default_rng(seed)
    size, batch = tuple(setting["crop"]), setting["batch"]

    def next_batch() -> tuple[Tensor, Tensor]:
        windows = [random_crop(rng, image.shape, size) for _ in range(batch)]
        return (torch.cat([_volume(image[w]) for w in windows]),                  # (N, 1, *crop)
                torch.from_numpy(np.stack([labels[w] for w in windows])))          # (N, *crop)

    model = model.to(memory_format=torch.channels_last_3d)
    return fit(model, next_batch, loss_fn, setting["iterations"], setting["lr"], progress)


def predict_volume(model: nn.Module, image: np.ndarray, foreground: Callable[[Tensor], Tensor]) -> np.ndarray:
    """The binary prediction for a whole volume in one pass; ``foreground(output)`` turns the model's output into it."""
    with torch.no_grad():
        return foreground(model(_volume(image)))[0].numpy().astype(bool)


def figure_slice(image: np.ndarray, truth: np.ndarray, predicted: np.ndarray, margin: int = 4) -> dict[str, Any]:
    """The axial slice (fixed z) with the most true foreground, cut to the structure's box plus ``margin``: small JSON."""
    z = int(truth.sum(axis=(0, 1)).argmax())
    where = np.argwhere(truth[:, :, z])
    (x0, y0), (x1, y1) = where.min(0) - margin, where.max(0) + margin + 1
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    box = (slice(x0, int(x1)), slice(y0, int(y1)), z)
    return {"z": z, "x": [x0, int(x1)], "y": [y0, int(y1)], "image": uint8_image(image[box]),
            "truth": truth[box].astype(np.uint8).tolist(), "prediction": predicted[box].astype(np.uint8).tolist()}


def train_hippocampus(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Tensor, Tensor], Tensor],
    foreground: Callable[[Tensor], Tensor],
    setting: Mapping[str, Any],
    seed: int,
    progress: Progress,
    annotate: Optional[Callable[[np.ndarray], tuple[np.ndarray, Optional[np.ndarray]]]] = None,
) -> dict[str, Any]:
    """Train ``model`` on the left hippocampus and measure it on the mirrored right one: both 3-D experiments.

    Args:
        model: the network, initialised after ``torch.manual_seed(seed)``.
        loss_fn: ``loss_fn(model, x, y)``.
        foreground: the model's output → the binary prediction ``(N, *spatial)``.
        setting: ``structure``, ``factor``, ``shape`` (see [`hemispheres`][kb.training.segment.hemispheres]),
            ``crop``, ``batch``, ``iterations``, ``lr`` (see [`train_volume`][kb.training.segment.train_volume]).
        seed: the run's seed (crops; the caller seeds the weights).
        progress: called with ``(iteration, iterations)``.
        annotate: the training hemisphere's dense mask → ``(labels, held_out)``: the labels to train on and
            the voxels on which to measure ``iou_semi`` (``None``: no such metric). Default: the mask
            itself, every voxel labelled.

    Returns metrics ``dice`` and ``iou`` on the test hemisphere, ``dice_train`` on the training one,
    ``volume_ratio`` (predicted / true foreground voxels of the test hemisphere) and, with ``held_out``,
    ``iou_semi``; extras: the loss curve, the Dice that copying the training mask across the midline
    scores on the test hemisphere, the voxel counts, and for seed 0 one axial slice of the test prediction.
    """
    h = hemispheres(setting["structure"], setting["factor"], tuple(setting["shape"]))
    labels, held_out = (h.train_mask.astype(np.int64), None) if annotate is None else annotate(h.train_mask)
    extras = train_volume(model, loss_fn, h.train_image, labels, setting, seed, progress)
    test = predict_volume(model, h.test_image, foreground)
    train = predict_volume(model, h.train_image, foreground)
    metrics = {"dice": round(dice_score(test, h.test_mask), 4), "iou": round(iou_score(test, h.test_mask), 4),
               "dice_train": round(dice_score(train, h.train_mask), 4),
               "volume_ratio": round(int(test.sum()) / int(h.test_mask.sum()), 4)}
    if held_out is not None:
        metrics["iou_semi"] = round(iou_score(train[held_out], h.train_mask[held_out]), 4)
    extras["mirror_baseline_dice"] = round(dice_score(h.train_mask, h.test_mask), 4)
    extras["voxels"] = {"hemisphere": int(h.test_mask.size), "test_true": int(h.test_mask.sum()),
                        "test_predicted": int(test.sum()), "labelled": int((labels != UNLABELED).sum())}
    if seed == 0:
        extras["figure"] = figure_slice(h.test_image, h.test_mask, test)
    return {"metrics": metrics, "extras": extras}
