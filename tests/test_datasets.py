"""Fashion-MNIST is found where the packages and tools put it, checked, and refused in one line when absent or wrong."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from kb.datasets import DataError
from kb.datasets import fashion_mnist as fm

HAVE_DEBIAN = all((fm.DEBIAN / f"{name}.gz").is_file() for name in fm.FILES)
needs_data = pytest.mark.skipif(not HAVE_DEBIAN, reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No data anywhere: Debian's and Keras's folders point at empty places, KB_DATA unset."""
    monkeypatch.delenv("KB_DATA", raising=False)
    monkeypatch.setattr(fm, "DEBIAN", tmp_path / "debian")
    monkeypatch.setattr(fm, "KERAS", tmp_path / "keras")
    fm._load.cache_clear()
    yield tmp_path
    fm._load.cache_clear()


def test_missing_data_is_one_line_saying_how_to_get_it(nowhere):
    with pytest.raises(DataError) as info:
        fm.load("train")
    message = str(info.value)
    assert "\n" not in message
    assert "apt-get install dataset-fashion-mnist" in message and "KB_DATA" in message


def test_a_named_folder_without_the_files_is_named(nowhere):
    empty = nowhere / "mine"
    empty.mkdir()
    with pytest.raises(DataError, match=f"{empty} does not hold the four IDX files"):
        fm.load("test", folder=empty)


def fake_idx(folder, images_per_file=3):
    folder.mkdir(parents=True, exist_ok=True)
    for name in fm.FILES:
        dims = (images_per_file, 28, 28) if "images" in name else (images_per_file,)
        header = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
        with gzip.open(folder / f"{name}.gz", "wb") as f:
            f.write(header + bytes(int(np.prod(dims))))


def test_files_that_are_not_the_release_are_refused_naming_the_file(nowhere, monkeypatch):
    fake_idx(nowhere / "fake")
    monkeypatch.setenv("KB_DATA", str(nowhere / "fake"))
    with pytest.raises(DataError) as info:
        fm.load("train")
    assert "\n" not in str(info.value)
    assert "fake/train-images-idx3-ubyte.gz is not the expected file" in str(info.value)


def test_a_truncated_archive_is_one_line(nowhere, monkeypatch):
    fake_idx(nowhere / "cut")
    path = nowhere / "cut" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    monkeypatch.setenv("KB_DATA", str(nowhere / "cut"))
    with pytest.raises(DataError, match="cannot be read"):
        fm.load("train")


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        fm.load("val")


@needs_data
@pytest.mark.parametrize("layout", [".", "FashionMNIST/raw", "fashion-mnist"])
def test_torchvision_and_keras_layouts_are_read(tmp_path, monkeypatch, layout):
    where = tmp_path if layout == "." else tmp_path / layout
    where.mkdir(parents=True, exist_ok=True)
    for name in fm.FILES:
        (where / f"{name}.gz").symlink_to(fm.DEBIAN / f"{name}.gz")
    monkeypatch.setenv("KB_DATA", str(tmp_path))
    fm._load.cache_clear()
    assert fm.locate() == where
    test = fm.load("test")
    assert test.images.shape == (10_000, 28, 28) and test.labels.shape == (10_000,)
    fm._load.cache_clear()


@needs_data
def test_the_debian_data_is_the_release():
    train, test = fm.load("train"), fm.load("test")
    assert train.images.shape == (60_000, 28, 28) and train.images.dtype == np.uint8
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    provenance = fm.provenance()
    assert provenance["source"].startswith("Debian package dataset-fashion-mnist")
    assert "/" not in provenance["source"]
