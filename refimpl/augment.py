r"""Elastic (smooth dense) deformation of an image and its labels, in 2-D and 3-D.

U-Net (arXiv:1505.04597v1, Sec. 3.1): "We generate smooth deformations using random displacement
vectors on a coarse 3 by 3 grid. The displacements are sampled from a Gaussian distribution with
10 pixels standard deviation. Per-pixel displacements are then computed using bicubic
interpolation."

3D U-Net (arXiv:1606.06650v1, Sec. 3.2): "we apply a smooth dense deformation field on both data
and ground truth labels", with B-spline interpolation of the displacements.

One procedure serves both: [`random_displacement`][refimpl.augment.random_displacement] draws the
coarse grid and interpolates it with cubic B-splines (``scipy.ndimage.map_coordinates`` with
``order=3``, which passes through the grid values), and [`deform`][refimpl.augment.deform]
resamples the image (cubic) and the labels (nearest neighbour, so they stay labels) at the
displaced positions, mirroring at the borders. Arrays are NumPy, spatial axes last: a
``torch.Tensor`` is refused with the conversion to use (``x.numpy()``), like every bad argument
(a negative or NaN ``sigma``, a grid of fewer than 2 points, an image whose shape does not match).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from scipy import ndimage

from refimpl import _checks

GRID = 3
"""U-Net Sec. 3.1: "a coarse 3 by 3 grid" of control points per spatial axis."""

SIGMA = 10.0
"""U-Net Sec. 3.1: displacements "sampled from a Gaussian distribution with 10 pixels standard deviation"."""


def random_displacement(
    shape: Sequence[int],
    rng: np.random.Generator,
    grid: int | Sequence[int] = GRID,
    sigma: float = SIGMA,
) -> np.ndarray:
    r"""A smooth dense displacement field of shape ``(len(shape), *shape)``, in pixels.

    Displacement vectors $\mathcal{N}(0, \sigma^2)$ per axis are drawn on a ``grid``-point lattice
    spanning the image (corners included) and interpolated to every pixel with cubic B-splines.

    Args:
        shape: the spatial shape (2 or 3 axes).
        rng: a seeded ``numpy.random.Generator``.
        grid: control points per axis (3 in U-Net).
        sigma: standard deviation of the control-point displacements, in pixels (10 in U-Net).
    """
    rule = "a spatial shape of 2 or 3 axes of at least 2 pixels, e.g. (572, 572)"
    shape = _checks.sequence("shape", shape, rule)
    shape = tuple(_checks.integer(f"shape[{i}]", s, 2, hint=rule) for i, s in enumerate(shape))
    if len(shape) not in (2, 3):
        raise ValueError(f"shape must have 2 or 3 spatial axes of at least 2 pixels; got {shape}")
    if not isinstance(rng, np.random.Generator):
        raise _checks.ArgumentTypeError(f"rng must be a numpy.random.Generator, e.g. np.random.default_rng(0); "
                                        f"got {_checks.describe(rng)}")
    if _checks.is_int(grid):
        grid = (int(grid),) * len(shape)
    else:
        grid = _checks.sequence("grid", grid, f"an integer or {len(shape)} integers >= 2 (control points per axis)")
    if len(grid) != len(shape):
        raise ValueError(f"grid must give at least 2 control points per axis for {len(shape)} axes; got {grid}")
    grid = tuple(_checks.integer(f"grid[{i}]", g, 2, hint="control points per axis, 3 in U-Net") for i, g in enumerate(grid))
    sigma = _checks.real("sigma", sigma, 0.0, hint=f"pixels, {SIGMA:g} in U-Net")
    coarse = rng.normal(0.0, sigma, size=(len(shape), *grid))  # (dims, *grid): one vector per control point
    # position of every pixel on the control-point lattice: pixel 0 → 0, pixel n-1 → grid-1
    coords = np.meshgrid(*[np.linspace(0, g - 1, n) for g, n in zip(grid, shape)], indexing="ij")
    return np.stack([ndimage.map_coordinates(c, coords, order=3, mode="nearest") for c in coarse])


def deform(
    image: np.ndarray,
    labels: Optional[np.ndarray],
    displacement: np.ndarray,
    order: int = 3,
) -> tuple[np.ndarray, Optional[np.ndarray]]:
    r"""Warp ``image`` (``(*spatial)`` or ``(C, *spatial)``) and ``labels`` (``(*spatial)``) by one field.

    The value at pixel $x$ is read at $x + u(x)$ (``displacement`` is $u$, shape ``(dims, *spatial)``),
    mirroring outside the image. The image is interpolated with splines of ``order`` (3: cubic); the
    labels with ``order=0`` (nearest neighbour), so every output label is one of the input labels.

    Args:
        image: ``(*spatial)`` or ``(C, *spatial)``, a NumPy array of numbers.
        labels: ``(*spatial)``, or ``None``.
        displacement: $u$, ``(dims, *spatial)`` in pixels, finite; 2 or 3 spatial axes.
        order: spline order of the image interpolation, 0 to 5 (3: cubic).
    """
    for name, a in (("displacement", displacement), ("image", image), ("labels", labels)):
        if a is None and name == "labels":
            continue
        if _checks.array(name, a, "deform").dtype == np.float16:  # scipy.ndimage has no float16 kernels
            raise _checks.ArgumentTypeError(f"deform {name} must be bool, integer, float32 or float64 (scipy.ndimage "
                                            f"has no float16); got dtype float16 (convert it with .astype(np.float32))")
    order = _checks.integer("order", order, 0, 5, hint="the spline order, 3 for cubic")
    if displacement.ndim < 1:
        raise ValueError(f"displacement must have shape (dims, *spatial) with dims = len(spatial) = 2 or 3; got {displacement.shape}")
    dims = displacement.shape[0]
    spatial = displacement.shape[1:]
    if len(spatial) != dims or dims not in (2, 3):
        raise ValueError(f"displacement must have shape (dims, *spatial) with dims = len(spatial) = 2 or 3; got {displacement.shape}")
    if min(spatial) < 1:
        raise ValueError(f"displacement must cover at least one pixel per axis; got shape {displacement.shape}")
    if image.ndim not in (dims, dims + 1):
        raise ValueError(f"image must be (*spatial) or (C, *spatial) with {dims} spatial axes; got shape {image.shape}")
    if image.shape[-dims:] != spatial:
        raise ValueError(f"image's spatial shape {image.shape[-dims:]} differs from the displacement's {spatial}")
    if labels is not None and labels.shape != spatial:
        raise ValueError(f"labels must have the spatial shape {spatial}; got {labels.shape}")
    if not np.isfinite(displacement).all():
        raise ValueError("displacement must be finite; got NaN or infinite values")
    positions = np.meshgrid(*[np.arange(n) for n in spatial], indexing="ij")
    coords = [p + u for p, u in zip(positions, displacement)]

    def warp(a: np.ndarray, k: int) -> np.ndarray:
        return ndimage.map_coordinates(a, coords, order=k, mode="mirror")

    warped = warp(image, order) if image.ndim == dims else np.stack([warp(c, order) for c in image])
    return warped, (warp(labels, 0) if labels is not None else None)


def elastic_deform(
    image: np.ndarray,
    labels: Optional[np.ndarray],
    rng: np.random.Generator,
    grid: int | Sequence[int] = GRID,
    sigma: float = SIGMA,
) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Draw one [`random_displacement`][refimpl.augment.random_displacement] and [`deform`][refimpl.augment.deform] image and labels with it.

    Args:
        image: ``(*spatial)`` or ``(C, *spatial)`` (``(*spatial)`` when there are no labels).
        labels: ``(*spatial)``, or ``None``.
        rng: a seeded ``numpy.random.Generator``.
        grid: control points per axis (3 in U-Net).
        sigma: standard deviation of the control-point displacements, in pixels (10 in U-Net).
    """
    _checks.array("image", image, "elastic_deform")
    if labels is not None:
        _checks.array("labels", labels, "elastic_deform")
    spatial = labels.shape if labels is not None else image.shape
    if labels is None and image.ndim not in (2, 3):
        raise ValueError(f"without labels, image must be (H, W) or (D, H, W); got shape {image.shape}")
    return deform(image, labels, random_displacement(spatial, rng, grid, sigma))
