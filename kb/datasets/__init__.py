r"""Real data sets the experiments train on, each read from a file that an ordinary package manager installs.

One module per data set: it finds the file, checks its SHA-256 against the value recorded when the module
was written, and says in one line how to get the file when it is missing or different
([`DataError`][kb.datasets.DataError]). Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Union

CHUNK = 1 << 20
"""Bytes read at a time while hashing (1 MiB)."""


class DataError(Exception):
    """A data file is missing, unreadable or not the expected file. The message is one line: the file and how to get it."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # one line, whatever the caller passed


def sha256_file(path: Union[str, os.PathLike, BinaryIO]) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks.

    Args:
        path: a file path, or a binary file object open for reading.
    """
    digest = hashlib.sha256()
    if hasattr(path, "read"):
        for chunk in iter(lambda: path.read(CHUNK), b""):
            digest.update(chunk)
        return digest.hexdigest()
    with open(Path(path), "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def search_path(default: Union[str, os.PathLike]) -> list[Path]:
    """Folders to look in for a data file: ``$KB_DATA`` first when it is set, then ``default``.

    Args:
        default: the folder where the package manager puts the file.
    """
    folders = [Path(os.environ["KB_DATA"])] if os.environ.get("KB_DATA") else []
    return folders + [Path(default)]
