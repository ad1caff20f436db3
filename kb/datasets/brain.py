r"""A real brain MRI with hand-drawn labels: the Colin27 T1 template and the AAL atlas on the same grid.

Debian's ``mricron-data`` package (``apt-get install mricron-data``) ships, in
``/usr/share/mricron/templates/``:

* ``ch2.nii.gz`` — "ch2", the Colin27 single-subject T1 template (Holmes et al., *Enhancement of MR
  images using registration for signal averaging*, J. Comput. Assist. Tomogr. 22, 1998), 181 × 217 × 181
  voxels of 1 mm, MNI space;
* ``aal.nii.gz`` — the Automated Anatomical Labeling atlas (Tzourio-Mazoyer et al., NeuroImage 15,
  2002), drawn by hand on that same single subject, on the same grid: 116 regions, voxel value = the
  region's number;
* ``aal.nii.txt`` — one line per region: number, name, AAL code (``37 Hippocampus_L 4101``).

Files are looked for in ``$KB_DATA`` first, then in the package's folder; each is checked against the
SHA-256 recorded when this module was written. The voxel axes are (x, y, z) = (left → right,
posterior → anterior, inferior → superior): the affine is diagonal with 1 mm steps and x = 0 mm (the
midline) at voxel 90.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from kb.datasets import DataError, search_path, sha256_file

PACKAGE = "mricron-data"
VERSION = "1.2.20211006+dfsg-4"
"""The Debian package version the checksums were taken from."""

FOLDER = Path("/usr/share/mricron/templates")
T1, ATLAS, ATLAS_NAMES = "ch2.nii.gz", "aal.nii.gz", "aal.nii.txt"

# SHA-256 of the files of mricron-data 1.2.20211006+dfsg-4 (Debian), computed when this module was written.
SHA256 = {
    T1: "a009051127f64dc3dd554d5f5b589870ea72106d9642c21b4e7093e478cfc309",
    ATLAS: "b512dcd3f36b77f56be7a9a038134096e66314b7e8c31d25875b96bcf6991454",
    ATLAS_NAMES: "1788d6556a9ec056de9867b2382cf1ce1b51b87ae4cfd9cd25de48ae4dde709e",
}

SHAPE = (181, 217, 181)
"""Voxels along x, y, z (1 mm each)."""

HOW_TO_GET = f"run `apt-get install {PACKAGE}` (or put the file in $KB_DATA)"


class Brain(NamedTuple):
    """The T1 volume, the atlas labels and the region names, on the 181 × 217 × 181 grid of 1 mm."""

    t1: np.ndarray
    """T1 intensities, float32, normalised to mean 0 and standard deviation 1 over the whole volume."""
    atlas: np.ndarray
    """AAL region number per voxel, int16 (0 outside every region)."""
    names: dict
    """Region name → region number, from ``aal.nii.txt`` (e.g. ``"Hippocampus_L": 37``)."""
    affine: np.ndarray
    """Voxel → MNI millimetres, 4 × 4."""


def find(name: str) -> Path:
    """The checked path of one of the package's files: ``$KB_DATA/name``, else ``/usr/share/mricron/templates/name``.

    Args:
        name: ``"ch2.nii.gz"``, ``"aal.nii.gz"`` or ``"aal.nii.txt"``.

    Raises:
        DataError: the file is in neither folder, or its SHA-256 differs from [`SHA256`][kb.datasets.brain.SHA256].
    """
    if name not in SHA256:
        raise ValueError(f"name must be one of {', '.join(SHA256)}; got {name!r}")
    folders = search_path(FOLDER)
    for folder in folders:
        path = folder / name
        if path.is_file():
            try:
                digest = sha256_file(path)
            except OSError as error:
                raise DataError(f"{path} is unreadable ({error.strerror}): {HOW_TO_GET}") from None
            if digest != SHA256[name]:
                raise DataError(f"{path} has SHA-256 {digest}, expected {SHA256[name]} "
                                f"({PACKAGE} {VERSION}): {HOW_TO_GET}")
            return path
    where = " or ".join(str(f) for f in folders)
    raise DataError(f"{name} not found in {where}: {HOW_TO_GET}")


def _read_volume(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import nibabel

    try:
        image = nibabel.load(path)
        data = np.asarray(image.dataobj)
    except Exception as error:  # nibabel raises many kinds (ImageFileError, EOFError, zlib.error, …)
        raise DataError(f"{path} is not a readable NIfTI volume ({type(error).__name__}): {HOW_TO_GET}") from None
    if data.shape != SHAPE:
        raise DataError(f"{path} has shape {data.shape}, expected {SHAPE}: {HOW_TO_GET}")
    return data, image.affine


def region_names() -> dict:
    """Region name → region number, read from ``aal.nii.txt`` (116 regions)."""
    path = find(ATLAS_NAMES)
    names = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit():
            names[fields[1]] = int(fields[0])  # "37 Hippocampus_L 4101": the volume stores 37
    return names


def load() -> Brain:
    """Read and check the T1 template and the atlas.

    Raises:
        DataError: a file is missing, differs from the recorded one, or cannot be read.
    """
    t1, affine = _read_volume(find(T1))
    atlas, _ = _read_volume(find(ATLAS))
    t1 = t1.astype(np.float32)
    t1 = (t1 - t1.mean()) / t1.std()
    return Brain(t1.astype(np.float32), atlas.astype(np.int16), region_names(), affine)


def structure_mask(brain: Brain, name: str) -> np.ndarray:
    """The binary mask of one AAL region, e.g. ``"Hippocampus_L"`` (number 37) or ``"Hippocampus_R"`` (38).

    Args:
        brain: what [`load`][kb.datasets.brain.load] returned.
        name: a region name of ``aal.nii.txt``.
    """
    if name not in brain.names:
        near = difflib.get_close_matches(str(name), brain.names, n=3) or sorted(brain.names)[:3]
        raise ValueError(f"{name!r} is not an AAL region; nearest names: {', '.join(near)}")
    return brain.atlas == brain.names[name]


def midline(brain: Brain) -> int:
    """The voxel index along x of the midline x = 0 mm (90 for this grid)."""
    return int(round(-brain.affine[0, 3] / brain.affine[0, 0]))


def provenance() -> dict:
    """Where the data came from, for a frozen result: package, version, file names and their SHA-256."""
    return {
        "dataset": "brain",
        "package": f"{PACKAGE} (Debian)",
        "version": VERSION,
        "licence": "Colin27 T1 (MNI, Holmes et al. 1998) and AAL atlas (Tzourio-Mazoyer et al. 2002), "
                   "redistributed by MRIcron; not redistributed here",
        "files": dict(SHA256),
    }
