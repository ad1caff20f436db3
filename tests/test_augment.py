"""Tests of refimpl.augment: the elastic deformation of U-Net Sec. 3.1 and 3D U-Net Sec. 3.2."""

import numpy as np
import pytest
from scipy import ndimage

from refimpl.augment import GRID, SIGMA, deform, elastic_deform, random_displacement


def test_displacement_passes_through_the_3x3_control_vectors():
    shape = (65, 81)
    field = random_displacement(shape, np.random.default_rng(1))
    coarse = np.random.default_rng(1).normal(0, SIGMA, size=(2, GRID, GRID))  # the same draws
    corners_and_centre = field[:, ::32, ::40]  # pixels 0, 32, 64 and 0, 40, 80 are the control points
    assert np.allclose(corners_and_centre, coarse)


def test_displacement_is_smooth_and_has_the_papers_scale():
    rng = np.random.default_rng(0)
    fields = [random_displacement((64, 64), rng) for _ in range(200)]
    assert fields[0].shape == (2, 64, 64)
    assert np.std([f[:, 0, 0] for f in fields]) == pytest.approx(SIGMA, rel=0.1)  # a control point: N(0, 10²)
    steepest = max(np.abs(np.diff(f, axis=a)).max() for f in fields for a in (1, 2))
    assert steepest < 3  # neighbouring pixels move nearly together (3 control points over 64 pixels)


def test_zero_displacement_is_the_identity():
    image = np.random.default_rng(0).random((3, 10, 12))
    labels = (image[0] > 0.5).astype(int)
    warped, warped_labels = deform(image, labels, np.zeros((2, 10, 12)))
    assert np.allclose(warped, image) and np.array_equal(warped_labels, labels)


def test_integer_shift_moves_image_and_labels_together():
    image = np.arange(100.0).reshape(10, 10)
    labels = (np.arange(100).reshape(10, 10) % 7)
    shift = np.stack([np.full((10, 10), 2.0), np.zeros((10, 10))])  # read two rows further down
    warped, warped_labels = deform(image, labels, shift)
    assert np.allclose(warped[:8], image[2:]) and np.array_equal(warped_labels[:8], labels[2:])


@pytest.mark.parametrize("shape", [(48, 40), (20, 24, 16)])
def test_deformation_keeps_labels_in_the_label_set(shape):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=shape)  # 3 = "unlabeled" stays a label too
    labels = ndimage.median_filter(labels, size=5)
    image = labels.astype(float) + rng.normal(0, 0.1, shape)
    warped, warped_labels = elastic_deform(image, labels, rng, sigma=4.0)
    assert warped.shape == shape and warped_labels.shape == shape
    assert warped_labels.dtype == labels.dtype
    assert set(np.unique(warped_labels)) <= set(np.unique(labels))
    # the image follows the labels: where a label is kept, the image is near its value
    assert np.mean(np.abs(np.round(warped) - warped_labels) == 0) > 0.9


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="2 or 3 spatial axes"):
        random_displacement((10,), np.random.default_rng(0))
    with pytest.raises(ValueError, match="spatial shape"):
        deform(np.zeros((5, 5)), None, np.zeros((2, 6, 6)))
