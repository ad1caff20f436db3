r"""3D U-Net — Çiçek, Abdulkadir, Lienkamp, Brox and Ronneberger, *3D U-Net: Learning Dense Volumetric
Segmentation from Sparse Annotation*, MICCAI 2016, arXiv:1606.06650v1.

"The proposed network extends the previous u-net architecture from Ronneberger et al. by replacing
all 2D operations with their 3D counterparts." This file holds only what the 3D paper adds: Fig. 2's
widths ([`ANALYSIS`][refimpl.unet3d.ANALYSIS], [`SYNTHESIS`][refimpl.unet3d.SYNTHESIS]), batch
normalisation before each ReLU, and the loss on sparse annotation
([`sparse_cross_entropy`][refimpl.unet3d.sparse_cross_entropy]). The network itself is
`refimpl.unet.UNet` with ``dims=3``; the smooth dense deformation is `refimpl.augment`.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from refimpl import _checks
from refimpl.unet import Contracting, Expanding, UNet, weighted_cross_entropy

# 3D U-Net, arXiv:1606.06650v1, Fig. 2 — the analysis path, top to bottom. "We double the number of
# channels already before max pooling to avoid bottlenecks": the first convolution of each level
# keeps the width of the level above, the second doubles it.
#              c1    c2        input of the level
ANALYSIS: tuple[Contracting, ...] = (
    Contracting(32, 64),      # 132 × 132 × 116 × 3
    Contracting(64, 128),     # 64 × 64 × 56 × 64
    Contracting(128, 256),    # 30 × 30 × 26 × 128
    Contracting(256, 512),    # 13 × 13 × 11 × 256   (bottom)
)
"""Fig. 2's analysis path, ``Contracting(c1, c2)`` per level, the bottom level last."""

# 3D U-Net, arXiv:1606.06650v1, Fig. 2 — the synthesis path, bottom to top. The 2×2×2 up-convolution
# keeps the number of channels (512 → 512), unlike U-Net's, which halves it.
#            up    c1   c2        input of the up-convolution
SYNTHESIS: tuple[Expanding, ...] = (
    Expanding(512, 256, 256),   # 9 × 9 × 7 × 512
    Expanding(256, 128, 128),   # 14 × 14 × 10 × 256
    Expanding(128, 64, 64),     # 24 × 24 × 16 × 128
)
"""Fig. 2's synthesis path, ``Expanding(up, c1, c2)`` per level, from the bottom up."""

IN_CHANNELS = 3
"""The Xenopus kidney volumes have three channels; Fig. 2's input is 132 × 132 × 116 × 3."""

NUM_LABELS = 3
"""Output labels: 0 "inside the tubule", 1 "tubule", 2 "background" (Sec. 3.1)."""

UNLABELED = 3
"""Label 3, "unlabeled": such voxels get weight 0 in the loss (Sec. 2 and 3.1)."""

PAPER_TILE = (132, 132, 116)
"""Fig. 2's input tile, whose output is 44 × 44 × 28 voxels."""

PAPER_PARAMS = 19_069_955
"""Sec. 2: "The architecture has 19069955 parameters in total"."""


def unet3d(
    in_channels: int = IN_CHANNELS,
    num_classes: int = NUM_LABELS,
    analysis: Sequence[Contracting] = ANALYSIS,
    synthesis: Sequence[Expanding] = SYNTHESIS,
    *,
    batch_norm: bool = True,
    norm_affine: bool = False,
    up_bias: bool = False,
    padding: str = "valid",
) -> UNet:
    r"""The 3D U-Net of Fig. 2: `refimpl.unet.UNet` with 3×3×3 valid convolutions, 2×2×2 max pooling
    and up-convolutions, batch norm "before each ReLU", and a 1×1×1 convolution to 3 labels.

    The defaults count exactly the paper's 19,069,955 parameters (Sec. 2): every 3×3×3 and the
    1×1×1 convolution has a bias, the up-convolutions have none, and batch norm has no learned
    scale or shift (Caffe's ``BatchNorm`` layer without a ``Scale`` layer). The paper does not say
    how it counts; convolutions without bias and a batch norm with a learned shift only would count
    the same.

    Args:
        in_channels: 3 for the Xenopus data.
        num_classes: 3 labels.
        analysis: Fig. 2's analysis path (rows ``Contracting(c1, c2)``).
        synthesis: Fig. 2's synthesis path (rows ``Expanding(up, c1, c2)``).
        batch_norm: ``False`` builds Table 1's "3D w/o BN" network.
        norm_affine: give batch norm a learned scale and shift (PyTorch's default; +2 per channel).
        up_bias: give the up-convolutions a bias.
        padding: ``"valid"`` (the paper) or ``"same"`` (a deviation, see `refimpl.unet.ConvUnit`).
    """
    batch_norm = _checks.flag("batch_norm", batch_norm)
    return UNet(
        in_channels,
        num_classes,
        analysis,
        synthesis,
        dims=3,
        padding=padding,
        norm=batch_norm,
        norm_affine=norm_affine,
        up_bias=up_bias,
        name="3D U-Net",
    )


def sparse_weights(labels: Tensor, class_weights: Optional[Sequence[float]] = None, unlabeled: int = UNLABELED) -> Tensor:
    r"""Per-voxel loss weights for sparse annotation: 0 where ``labels == unlabeled``.

    "Setting the weights of unlabeled pixels to zero makes it possible to learn from only the labelled
    ones and, hence, to generalize to the whole volume" (Sec. 2). ``class_weights[k]`` weights the
    labelled voxels of class $k$ ("we reduce weights for the frequently seen background and increase
    weights for the inner tubule", Sec. 3.2; the paper does not give the values); ``None`` weights
    every labelled voxel 1.

    Args:
        labels: integer labels ``(N, D, H, W)`` in $\{0, …, K-1\}$ or ``unlabeled``.
        class_weights: one non-negative weight per class $k = 0, …, K-1$, or ``None``.
        unlabeled: the label of unannotated voxels (3).
    """
    _check_sparse_labels(labels, class_weights, unlabeled, "sparse_weights")
    return _sparse_weights(labels, class_weights, unlabeled)


def _sparse_weights(labels: Tensor, class_weights: Optional[Sequence[float]], unlabeled: int) -> Tensor:
    labelled = labels != unlabeled
    if class_weights is None:
        return labelled.to(torch.float32)
    table = torch.as_tensor(list(class_weights) + [0.0], dtype=torch.float32, device=labels.device)
    classes = torch.where(labelled, labels, torch.full_like(labels, len(class_weights)))
    return table[classes.long()]


def sparse_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    class_weights: Optional[Sequence[float]] = None,
    unlabeled: int = UNLABELED,
    reduction: str = "mean",
) -> Tensor:
    r"""Weighted softmax cross-entropy on sparsely annotated volumes (Sec. 2, 3.2).

    `refimpl.unet.weighted_cross_entropy` with the weights of
    [`sparse_weights`][refimpl.unet3d.sparse_weights]: an unlabeled voxel contributes
    $0 \cdot (-\log p)$, so its gradient is exactly zero. ``reduction="mean"`` divides by the total
    weight of the labelled voxels.

    Args:
        logits: ``(N, K, D, H, W)``.
        labels: ``(N, D, H, W)`` in $\{0, …, K-1\}$ or ``unlabeled``.
        class_weights: one weight per class, or ``None`` for 1 each.
        unlabeled: the label whose voxels get weight 0.
        reduction: ``"mean"`` or ``"sum"``.
    """
    _checks.floating("logits", logits, "sparse_cross_entropy")
    if logits.dim() < 2:
        raise ValueError(f"sparse_cross_entropy: logits must be (N, K, *spatial); got shape {tuple(logits.shape)}")
    _check_sparse_labels(labels, class_weights, unlabeled, "sparse_cross_entropy", classes=logits.shape[1])
    weight = _sparse_weights(labels, class_weights, unlabeled)
    target = torch.where(labels == unlabeled, torch.zeros_like(labels), labels)  # any class: its weight is 0
    return weighted_cross_entropy(logits, target, weight, reduction=reduction)


def _check_sparse_labels(labels: Tensor, class_weights: Optional[Sequence[float]], unlabeled: int, owner: str,
                         classes: Optional[int] = None) -> None:
    """Integer labels, one finite non-negative weight per class, and (except on ``meta``) every label a class or ``unlabeled``.

    The classes are $0, …, K-1$ with $K$ = ``classes`` (the logits' channels) or ``len(class_weights)``.
    """
    _checks.labels("labels", labels, owner)
    unlabeled = _checks.integer("unlabeled", unlabeled, 0, hint=f"the label of unannotated voxels, {UNLABELED} in the paper")
    if class_weights is not None:
        class_weights = _checks.sequence("class_weights", class_weights, "one non-negative weight per class, e.g. (2.0, 1.0, 0.5)", 1)
        for k, w in enumerate(class_weights):
            _checks.real(f"class_weights[{k}]", w, 0.0, hint="a non-negative weight")
        if classes is not None and len(class_weights) != classes:
            raise ValueError(f"{owner}: class_weights must give one weight per class, {classes} for {classes} logit "
                             f"channels; got {len(class_weights)}")
        classes = len(class_weights)
    if _checks.has_values(labels) and labels.numel():
        low, high = _checks.value_range(torch.where(labels == unlabeled, torch.zeros_like(labels), labels).to(torch.int64))
        if low < 0 or (classes is not None and high >= classes):
            valid = f"[0, {classes - 1}]" if classes is not None else "0, 1, 2, …"
            raise ValueError(f"{owner}: labels must be classes in {valid} or unlabeled = {unlabeled}; "
                             f"got labels from {low} to {high}")
