r"""A real 2-D nuclei image with instance labels: the 512 × 512 fluorescence image that StarDist ships.

The PyPI wheel ``stardist==0.9.2`` (BSD-3-Clause, © Uwe Schmidt and Martin Weigert) carries
``stardist/data/images/img2d.tif`` and ``mask2d.tif``: "Fluorescence microscopy image and mask from
the 2018 kaggle DSB challenge" (the wheel's ``stardist.data.test_image_nuclei_2d``; Caicedo et al.,
*Nucleus segmentation across imaging experiments: the 2018 Data Science Bowl*, Nature Methods 16, 2019).
The mask holds one integer label per nucleus (0 = background).

The two TIFFs are read straight out of the wheel with `zipfile` and `tifffile`; stardist itself (and
its TensorFlow dependency) is never installed. ``make data`` puts the wheel in ``data/``:

    pip download --no-deps stardist==0.9.2 -d data/
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kb.datasets import DataError, search_path

PACKAGE, VERSION = "stardist", "0.9.2"
WHEEL_GLOB = f"{PACKAGE}-{VERSION}-*.whl"
"""Any platform's wheel of this version: the data members are the same bytes in each."""

CHECKOUT = Path(__file__).resolve().parents[2]
"""The checkout's root (where ``mkdocs.yml`` and ``notebooks/`` are)."""

IMAGE = "stardist/data/images/img2d.tif"
MASK = "stardist/data/images/mask2d.tif"

# SHA-256 of the members' bytes, computed from stardist-0.9.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl
# (PyPI) when this module was written.
SHA256 = {
    IMAGE: "f9ccc1571b92c861ff87e28463068b43f61bd47357ed0503f711e5cd1eb97750",
    MASK: "59ad5e820b7982ca9d13e946fa6e7f64e2714899e00a2ae6c69aa79aad53d46f",
}

PERCENTILES = (1.0, 99.8)
"""Percentile normalisation of the intensities, the default of ``csbdeep.utils.normalize`` that StarDist's
examples apply to this image: the 1st percentile maps to 0 and the 99.8th to 1."""

HOW_TO_GET = f"run `make data` (pip download --no-deps {PACKAGE}=={VERSION} -d data/)"


class Nuclei(NamedTuple):
    """The image and its instance labels, both ``(512, 512)``."""

    image: np.ndarray
    """Intensities, float32, percentile-normalised (1st → 0, 99.8th → 1)."""
    labels: np.ndarray
    """Instance labels, int32: 0 background, 1, 2, … one per nucleus."""


def find_wheel() -> Path:
    """The stardist wheel: the first match in ``$KB_DATA``, then in ``<checkout>/data/``.

    Raises:
        DataError: no wheel in either folder.
    """
    folders = search_path(CHECKOUT / "data")
    for folder in folders:
        matches = sorted(folder.glob(WHEEL_GLOB))
        if matches:
            return matches[0]
    where = " or ".join(str(f) for f in folders)
    raise DataError(f"{WHEEL_GLOB} (the nuclei image) not found in {where}: {HOW_TO_GET}")


def _member(wheel: zipfile.ZipFile, path: Path, name: str) -> bytes:
    """The bytes of one member, checked against [`SHA256`][kb.datasets.nuclei.SHA256]."""
    try:
        data = wheel.read(name)
    except KeyError:
        raise DataError(f"{path} has no {name}: not the stardist {VERSION} wheel; {HOW_TO_GET}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise DataError(f"{path}!{name} has SHA-256 {digest}, expected {SHA256[name]}: "
                        f"delete the file and {HOW_TO_GET}")
    return data


def load() -> Nuclei:
    """Read, check and normalise the image and its instance labels.

    Raises:
        DataError: the wheel is missing, not a zip file, lacks a member, or a member's SHA-256 differs.
    """
    import tifffile

    path = find_wheel()
    try:
        with zipfile.ZipFile(path) as wheel:
            image_bytes, mask_bytes = _member(wheel, path, IMAGE), _member(wheel, path, MASK)
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f"{path} is not a readable wheel ({error}): delete it and {HOW_TO_GET}") from None
    image = tifffile.imread(io.BytesIO(image_bytes)).astype(np.float32)   # (512, 512), uint16 on disk
    labels = tifffile.imread(io.BytesIO(mask_bytes)).astype(np.int32)     # (512, 512), one id per nucleus
    low, high = np.percentile(image, PERCENTILES)
    return Nuclei(((image - low) / (high - low)).astype(np.float32), labels)


def provenance() -> dict:
    """Where the data came from, for a frozen result: package, version, wheel file name and the members' SHA-256."""
    return {
        "dataset": "nuclei",
        "package": PACKAGE,
        "version": VERSION,
        "licence": "BSD-3-Clause (stardist wheel); image from the 2018 Data Science Bowl (Caicedo et al. 2019)",
        "wheel": find_wheel().name,
        "files": dict(SHA256),
    }
