r"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, MIT licence): 60,000 + 10,000 grey images, 28 × 28, 10 classes.

Read from the original IDX files, gzipped or not, found in this order:

1. the folder given as ``folder=`` (``kb reproduce --data DIR``) or in ``$KB_DATA``;
2. Debian's package ``dataset-fashion-mnist``: ``/usr/share/datasets/fashion-mnist/``;
3. Keras's cache, ``~/.keras/datasets/fashion-mnist/``.

In each folder the files may lie directly, under ``FashionMNIST/raw/`` (torchvision's layout, read
as a convention: torchvision is not needed) or under ``fashion-mnist/`` (Keras's). Each file's
*decompressed* content is checked against the SHA-256 below (Debian recompresses the archives, so the
``.gz`` bytes differ from the original release's while the images are the same). Nothing is
downloaded: when the files are missing or differ, [`DataError`][kb.datasets.DataError] says in one
line where they were looked for and how to get them.
"""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from kb.datasets import DataError

NAME = "Fashion-MNIST"

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` installs the four files."""

KERAS = Path("~/.keras/datasets/fashion-mnist")
"""Keras's cache folder for ``keras.datasets.fashion_mnist``."""

LAYOUTS = (".", "FashionMNIST/raw", "fashion-mnist")
"""Sub-folders of a candidate folder that may hold the files: as is, torchvision's, Keras's."""

# SHA-256 of each file's decompressed bytes, computed from Debian's dataset-fashion-mnist
# 0.0~git20200523.55506a9-1 (the same images and labels as the original release).
FILES = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
"""The four IDX files and the SHA-256 of their decompressed content."""

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

HOW_TO_GET = ("install Debian's package (apt-get install dataset-fashion-mnist), or put the four IDX files "
              f"({', '.join(f + '.gz' for f in FILES)}) in a folder and name it with --data DIR or KB_DATA=DIR")


class Split(NamedTuple):
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64."""

    images: np.ndarray
    labels: np.ndarray


def candidates(folder: Optional[os.PathLike] = None) -> list[Path]:
    """The folders searched, in order."""
    first = [Path(folder)] if folder else ([Path(os.environ["KB_DATA"])] if os.environ.get("KB_DATA") else [])
    return [*first, DEBIAN, KERAS.expanduser()]


def locate(folder: Optional[os.PathLike] = None) -> Path:
    """The first folder that holds all four files (gzipped or not)."""
    searched = []
    for base in candidates(folder):
        for layout in LAYOUTS:
            where = (base / layout) if layout != "." else base
            searched.append(where)
            if all(_file(where, name) for name in FILES):
                return where
        if folder is not None and base == Path(folder):
            raise DataError(f"{NAME}: {base} does not hold the four IDX files ({', '.join(FILES)}, .gz or not, "
                            f"directly or under {' or '.join(LAYOUTS[1:])}); {HOW_TO_GET}")
    raise DataError(f"{NAME} not found (looked in {', '.join(str(s) for s in searched[::len(LAYOUTS)])}); {HOW_TO_GET}")


def _file(where: Path, name: str) -> Optional[Path]:
    for candidate in (where / f"{name}.gz", where / name):
        if candidate.is_file():
            return candidate
    return None


def _read(path: Path) -> bytes:
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            return f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{NAME}: {path} cannot be read ({exc.__class__.__name__}: {exc}); {HOW_TO_GET}") from exc


def _parse(path: Path, data: bytes) -> np.ndarray:
    import hashlib

    name = path.name.removesuffix(".gz")
    if hashlib.sha256(data).hexdigest() != FILES[name]:
        raise DataError(f"{NAME}: {path} is not the expected file (its content's SHA-256 differs from the "
                        f"release's {FILES[name][:12]}…); {HOW_TO_GET}")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


@lru_cache(maxsize=4)
def _load(where: str) -> dict[str, Split]:
    arrays = {name: _parse(_file(Path(where), name), _read(_file(Path(where), name))) for name in FILES}
    return {
        "train": Split(arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"].astype(np.int64)),
        "test": Split(arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"].astype(np.int64)),
    }


def load(split: str, folder: Optional[os.PathLike] = None) -> Split:
    """The ``"train"`` (60,000) or ``"test"`` (10,000) split, checked.

    Args:
        split: ``"train"`` or ``"test"``.
        folder: a folder to look in first (else ``$KB_DATA``, Debian's, Keras's).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return _load(str(locate(folder)))[split]


def provenance(folder: Optional[os.PathLike] = None) -> dict[str, object]:
    """What was read: the data set, where it came from (a package name, never a local path), its files' checksums."""
    where = locate(folder)
    source = "Debian package dataset-fashion-mnist" if where == DEBIAN else "a folder the user named"
    if where == DEBIAN:
        version = _debian_version()
        source += f" {version}" if version else ""
    return {"name": NAME, "source": source, "sha256": dict(FILES)}


def _debian_version() -> Optional[str]:
    import subprocess

    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "dataset-fashion-mnist"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
