r"""Segmentation losses.

The Dice loss of V-Net — Milletari et al., *V-Net: Fully Convolutional Neural Networks for
Volumetric Medical Image Segmentation*, arXiv:1606.04797v1, Sec. 3:

$$D = \frac{2\sum_i^N p_i g_i}{\sum_i^N p_i^2 + \sum_i^N g_i^2}$$

over the $N$ voxels of a predicted foreground probability $p_i$ and the binary ground truth $g_i$,
with the gradient printed in the paper,

$$\frac{\partial D}{\partial p_j} = 2\left[\frac{g_j\left(\sum_i^N p_i^2 + \sum_i^N g_i^2\right) - 2 p_j \left(\sum_i^N p_i g_i\right)}{\left(\sum_i^N p_i^2 + \sum_i^N g_i^2\right)^2}\right].$$

**Smoothing.** When both volumes are empty ($p = g = 0$) the paper's $D$ is $0/0$, undefined. Every
function here adds a smoothing constant $\varepsilon$ ([`SMOOTH`][refimpl.losses.SMOOTH]) to numerator
and denominator,

$$D_\varepsilon = \frac{2\sum_i p_i g_i + \varepsilon}{\sum_i p_i^2 + \sum_i g_i^2 + \varepsilon},$$

so that an empty prediction of an empty ground truth scores $D_\varepsilon = 1$ (and a prediction of
an empty ground truth scores $\varepsilon / (\sum_i p_i^2 + \varepsilon)$, falling to 0 as the false
positives grow). ``smooth=0`` is the paper's formula exactly, and then two empty volumes raise
`ValueError`.

**Inputs.** Predictions are floating-point tensors (any floating dtype; the result has it) with
values in $[0, 1]$; the ground truth is a bool, integer or floating tensor with values in
$[0, 1]$; [`DiceLoss`][refimpl.losses.DiceLoss] takes integer labels in $\{0, …, C-1\}$. Values
outside these ranges (a logit passed for a probability, a label beyond the classes) raise
`ValueError` instead of returning a number in the wrong range; the range checks are one reduction
per tensor and are skipped on the ``meta`` device.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from refimpl import _checks

SMOOTH = 1.0
r"""Default $\varepsilon$: one voxel's worth, the "+1" smoothing of common Dice-loss implementations.

Not in the paper, which needs none: a prostate MRI always has foreground. It moves $D$ by
$\varepsilon(b - a)/(b(b + \varepsilon)) < \varepsilon / \sum_i g_i^2$ (with $a$, $b$ the paper's numerator
and denominator): less than 0.1 % once the ground truth has a thousand voxels.
"""


def _check_smooth(smooth: float) -> None:
    _checks.real("smooth", smooth, 0.0, hint=f"0: the paper's formula; default {SMOOTH}")


def _check_in_unit_interval(name: str, x: Tensor, owner: str) -> None:
    """Refuse values outside [0, 1] (or NaN); one reduction, skipped on ``meta`` and for bool tensors."""
    if x.dtype == torch.bool or not _checks.has_values(x) or x.numel() == 0:
        return
    low, high = _checks.value_range(x)
    if not (0 <= low and high <= 1):  # also False for NaN
        raise ValueError(f"{owner}: {name} must hold values in [0, 1] (probabilities; a 0/1 ground truth); "
                         f"got values from {low:g} to {high:g}")


def _check(p: Tensor, g: Tensor, smooth: float, owner: str = "dice_coefficient") -> None:
    """Types, shapes, ``smooth`` and the value ranges of a prediction ``p`` and a ground truth ``g``."""
    _checks.floating("p", p, owner)
    _checks.tensor("g", g, owner)
    if g.is_complex():
        raise _checks.ArgumentTypeError(f"{owner}: g must be a bool, integer or floating tensor; got dtype {g.dtype}")
    if p.shape != g.shape:
        raise ValueError(f"the prediction and the ground truth must have the same shape; got {tuple(p.shape)} and {tuple(g.shape)}")
    _check_smooth(smooth)
    _check_in_unit_interval("p", p, owner)
    _check_in_unit_interval("g", g, owner)


def _sums(p: Tensor, g: Tensor, smooth: float) -> tuple[Tensor, Tensor]:
    r"""Numerator $2\sum p g + \varepsilon$ and denominator $\sum p^2 + \sum g^2 + \varepsilon$ (inputs already checked)."""
    g = g.to(p.dtype)
    numerator = 2 * (p * g).sum() + smooth
    denominator = (p * p).sum() + (g * g).sum() + smooth
    if smooth == 0 and _checks.has_values(denominator) and not bool(denominator.detach().ne(0)):
        raise ValueError("both volumes are empty: the paper's Dice coefficient is 0/0 there; pass smooth > 0 "
                         f"(e.g. the default {SMOOTH}) for a defined value")
    return numerator, denominator


def dice_coefficient(p: Tensor, g: Tensor, smooth: float = SMOOTH) -> Tensor:
    r"""$D_\varepsilon$ over all voxels of ``p`` and ``g``, a scalar tensor in $[0, 1]$ for $p, g \in [0, 1]$.

    Args:
        p: predicted foreground probabilities $p_i$, any shape (one volume).
        g: ground truth $g_i$ (0/1, bool or float), the same shape as ``p``.
        smooth: $\varepsilon$; 0 gives the paper's formula.
    """
    _check(p, g, smooth, "dice_coefficient")
    return _dice(p, g, smooth)


def _dice(p: Tensor, g: Tensor, smooth: float) -> Tensor:
    numerator, denominator = _sums(p, g, smooth)
    return numerator / denominator


def dice_gradient(p: Tensor, g: Tensor, smooth: float = SMOOTH) -> Tensor:
    r"""$\partial D_\varepsilon / \partial p_j$ for every voxel $j$, by the formula of Sec. 3.

    With $\varepsilon = 0$ this is the paper's printed expression; in general it is the quotient rule
    applied to $D_\varepsilon$:
    $\left[2 g_j \left(\sum p_i^2 + \sum g_i^2 + \varepsilon\right) - 2 p_j \left(2\sum p_i g_i + \varepsilon\right)\right]
    / \left(\sum p_i^2 + \sum g_i^2 + \varepsilon\right)^2$.

    Args:
        p: predicted foreground probabilities $p_i$, any shape (one volume).
        g: ground truth $g_i$ (0/1, bool or float), the same shape as ``p``.
        smooth: $\varepsilon$; 0 gives the paper's formula.
    """
    _check(p, g, smooth, "dice_gradient")
    numerator, denominator = _sums(p, g, smooth)
    g = g.to(p.dtype)
    return (2 * g * denominator - 2 * p * numerator) / denominator**2  # same shape as p


def dice_loss(p: Tensor, g: Tensor, smooth: float = SMOOTH) -> Tensor:
    r"""$1 - \bar D_\varepsilon$: one minus the Dice coefficient of each volume, averaged over the batch.

    The paper maximises $D$; minimising $1 - D$ has the same gradient up to its sign.

    Args:
        p: foreground probabilities ``(N, *spatial)``.
        g: ground truth ``(N, *spatial)``.
        smooth: $\varepsilon$.
    """
    _check(p, g, smooth, "dice_loss")
    if p.dim() < 2 or p.shape[0] < 1:
        raise ValueError(f"dice_loss takes a batch (N, *spatial) of at least one volume; got shape {tuple(p.shape)}")
    return 1 - sum(_dice(p[n], g[n], smooth) for n in range(p.shape[0])) / p.shape[0]


class DiceLoss(nn.Module):
    r"""The Dice loss layer of Sec. 3 on a network's soft-max output.

    Takes the probabilities ``(N, 2, *spatial)`` that [`VNet`][refimpl.vnet.VNet] returns and the
    labels ``(N, *spatial)`` (0 background, 1 foreground), and returns
    [`dice_loss`][refimpl.losses.dice_loss] of the foreground channel.

    Args:
        smooth: $\varepsilon$ (0: the paper's formula).
        foreground: the channel and label of the foreground (1).

    Labels must be integer (or bool) class indices in $\{0, …, C-1\}$ for $C$ probability channels:
    a label outside them would be silently counted as background, so it raises `ValueError`.
    """

    def __init__(self, smooth: float = SMOOTH, foreground: int = 1) -> None:
        super().__init__()
        _check_smooth(smooth)
        self.smooth = smooth
        self.foreground = _checks.integer("foreground", foreground, 0, hint="the foreground channel, e.g. 1")

    def forward(self, probabilities: Tensor, labels: Tensor) -> Tensor:
        _checks.floating("probabilities", probabilities, "DiceLoss")
        _checks.labels("labels", labels, "DiceLoss")
        if probabilities.dim() != labels.dim() + 1 or probabilities.shape[2:] != labels.shape[1:] \
                or probabilities.shape[0] != labels.shape[0]:
            raise ValueError(f"DiceLoss takes probabilities (N, C, *spatial) and labels (N, *spatial) of the same N and "
                             f"spatial size; got {tuple(probabilities.shape)} and {tuple(labels.shape)}")
        classes = probabilities.shape[1]
        if not self.foreground < classes:
            raise ValueError(f"DiceLoss: foreground must be a channel of the probabilities, in [0, {classes - 1}]; "
                             f"got {self.foreground} for {classes} channels")
        if _checks.has_values(labels) and labels.numel():
            low, high = _checks.value_range(labels.to(torch.int64) if labels.dtype == torch.bool else labels)
            if low < 0 or high >= classes:
                raise ValueError(f"DiceLoss: labels must be class indices in [0, {classes - 1}] for {classes} probability "
                                 f"channels; got labels from {low} to {high}")
        return dice_loss(probabilities[:, self.foreground], labels == self.foreground, self.smooth)
