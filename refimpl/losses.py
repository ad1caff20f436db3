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
"""

from __future__ import annotations

from torch import Tensor, nn

SMOOTH = 1.0
r"""Default $\varepsilon$: one voxel's worth, the "+1" smoothing of common Dice-loss implementations.

Not in the paper, which needs none: a prostate MRI always has foreground. It moves $D$ by
$\varepsilon(b - a)/(b(b + \varepsilon)) < \varepsilon / \sum_i g_i^2$ (with $a$, $b$ the paper's numerator
and denominator): less than 0.1 % once the ground truth has a thousand voxels.
"""


def _check(p: Tensor, g: Tensor, smooth: float) -> None:
    if p.shape != g.shape:
        raise ValueError(f"the prediction and the ground truth must have the same shape; got {tuple(p.shape)} and {tuple(g.shape)}")
    if smooth < 0:
        raise ValueError(f"smooth must be >= 0 (0: the paper's formula; default {SMOOTH}); got {smooth!r}")


def _sums(p: Tensor, g: Tensor, smooth: float) -> tuple[Tensor, Tensor]:
    r"""Numerator $2\sum p g + \varepsilon$ and denominator $\sum p^2 + \sum g^2 + \varepsilon$."""
    _check(p, g, smooth)
    g = g.to(p.dtype)
    numerator = 2 * (p * g).sum() + smooth
    denominator = (p * p).sum() + (g * g).sum() + smooth
    if smooth == 0 and not bool(denominator.detach().ne(0)):
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
    numerator, denominator = _sums(p, g, smooth)
    return numerator / denominator


def dice_gradient(p: Tensor, g: Tensor, smooth: float = SMOOTH) -> Tensor:
    r"""$\partial D_\varepsilon / \partial p_j$ for every voxel $j$, by the formula of Sec. 3.

    With $\varepsilon = 0$ this is the paper's printed expression; in general it is the quotient rule
    applied to $D_\varepsilon$:
    $\left[2 g_j \left(\sum p_i^2 + \sum g_i^2 + \varepsilon\right) - 2 p_j \left(2\sum p_i g_i + \varepsilon\right)\right]
    / \left(\sum p_i^2 + \sum g_i^2 + \varepsilon\right)^2$.
    """
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
    _check(p, g, smooth)
    if p.dim() < 2:
        raise ValueError(f"dice_loss takes a batch (N, *spatial); got shape {tuple(p.shape)}")
    return 1 - sum(dice_coefficient(p[n], g[n], smooth) for n in range(p.shape[0])) / p.shape[0]


class DiceLoss(nn.Module):
    r"""The Dice loss layer of Sec. 3 on a network's soft-max output.

    Takes the probabilities ``(N, 2, *spatial)`` that [`VNet`][refimpl.vnet.VNet] returns and the
    labels ``(N, *spatial)`` (0 background, 1 foreground), and returns
    [`dice_loss`][refimpl.losses.dice_loss] of the foreground channel.
    """

    def __init__(self, smooth: float = SMOOTH, foreground: int = 1) -> None:
        super().__init__()
        self.smooth = smooth
        self.foreground = foreground

    def forward(self, probabilities: Tensor, labels: Tensor) -> Tensor:
        if probabilities.dim() != labels.dim() + 1 or probabilities.shape[2:] != labels.shape[1:] \
                or probabilities.shape[0] != labels.shape[0]:
            raise ValueError(f"DiceLoss takes probabilities (N, C, *spatial) and labels (N, *spatial) of the same N and "
                             f"spatial size; got {tuple(probabilities.shape)} and {tuple(labels.shape)}")
        return dice_loss(probabilities[:, self.foreground], labels == self.foreground, self.smooth)
