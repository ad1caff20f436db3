"""The segmentation tier: the nuclei and brain data refused in one line when missing or wrong, the measures the
three experiments decide on checked by hand, and each experiment's smoke setting run once (1 arm, seed 0)."""

from __future__ import annotations

import importlib
import json
import math
import time
import zipfile

import numpy as np
import pytest
from scipy import ndimage

from kb.datasets import DataError, brain, nuclei
from kb.training import segment


def _have(find) -> bool:
    try:
        find()
    except DataError:
        return False
    return True


HAVE_NUCLEI = _have(nuclei.find_wheel)
HAVE_BRAIN = _have(lambda: [brain.find(name) for name in brain.SHA256])
needs_nuclei = pytest.mark.skipif(not HAVE_NUCLEI, reason="the stardist 0.9.2 wheel is not in data/ (make data)")
needs_brain = pytest.mark.skipif(not HAVE_BRAIN, reason="Debian's mricron-data is not installed (apt-get install mricron-data)")


# --------------------------------------------------------------------------- data: missing, wrong, unreadable


@pytest.fixture
def no_wheel(tmp_path, monkeypatch):
    """No wheel anywhere: KB_DATA is an empty folder and the checkout's data/ is somewhere empty."""
    monkeypatch.setenv("KB_DATA", str(tmp_path / "kb_data"))
    (tmp_path / "kb_data").mkdir()
    monkeypatch.setattr(nuclei, "CHECKOUT", tmp_path / "checkout")
    return tmp_path / "kb_data"


def _fake_wheel(folder, members: dict) -> None:
    with zipfile.ZipFile(folder / "stardist-0.9.2-py3-none-any.whl", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_missing_wheel_is_one_line_naming_the_file_and_make_data(no_wheel):
    with pytest.raises(DataError) as info:
        nuclei.load()
    message = str(info.value)
    assert "\n" not in message
    assert "stardist-0.9.2-*.whl" in message and "make data" in message and str(no_wheel) in message


def test_wheel_with_other_bytes_fails_its_checksum(no_wheel):
    _fake_wheel(no_wheel, {nuclei.IMAGE: b"not the image", nuclei.MASK: b"not the mask"})
    with pytest.raises(DataError, match=r"img2d\.tif has SHA-256 [0-9a-f]{64}, expected f9ccc157") as info:
        nuclei.load()
    assert "\n" not in str(info.value) and "make data" in str(info.value)


def test_wheel_without_the_image_is_named(no_wheel):
    _fake_wheel(no_wheel, {"stardist/__init__.py": b""})
    with pytest.raises(DataError, match=r"has no stardist/data/images/img2d\.tif"):
        nuclei.load()


def test_a_file_that_is_not_a_zip_is_refused_in_one_line(no_wheel):
    (no_wheel / "stardist-0.9.2-py3-none-any.whl").write_bytes(b"truncated download")
    with pytest.raises(DataError, match="is not a readable wheel") as info:
        nuclei.load()
    assert "\n" not in str(info.value)


@pytest.fixture
def no_templates(tmp_path, monkeypatch):
    """No MRIcron templates: KB_DATA is an empty folder and the Debian folder does not exist."""
    monkeypatch.setenv("KB_DATA", str(tmp_path / "kb_data"))
    (tmp_path / "kb_data").mkdir()
    monkeypatch.setattr(brain, "FOLDER", tmp_path / "usr-share-mricron-templates")
    return tmp_path / "kb_data"


def test_missing_nifti_is_one_line_naming_the_file_and_apt_get(no_templates):
    with pytest.raises(DataError) as info:
        brain.load()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("ch2.nii.gz not found in ") and "apt-get install mricron-data" in message


def test_nifti_with_other_bytes_fails_its_checksum(no_templates):
    (no_templates / "ch2.nii.gz").write_bytes(b"\x1f\x8b not a volume")
    with pytest.raises(DataError, match=r"ch2\.nii\.gz has SHA-256 [0-9a-f]{64}, expected a0090511") as info:
        brain.load()
    assert "\n" not in str(info.value)


def test_unknown_file_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="ch2.nii.gz, aal.nii.gz, aal.nii.txt"):
        brain.find("ch3.nii.gz")


# --------------------------------------------------------------------------- the measures, by hand


def test_separation_borders_open_a_gap_only_where_cells_touch():
    cells = np.zeros((6, 8), int)
    cells[1:5, 1:4] = 1
    cells[1:5, 4:7] = 2          # touches cell 1 along column 3 | 4
    borders = segment.separation_borders(cells)
    assert (borders[1:5, 3] == 0).all() and (borders[1:5, 4] == 0).all()      # two background columns between them
    assert (borders[1:5, 1:3] == 1).all() and (borders[1:5, 5:7] == 2).all()  # the edges next to background stay
    assert ndimage.label(borders > 0)[1] == 2 and ndimage.label(cells > 0)[1] == 1


def test_touching_pairs_are_4_neighbours():
    cells = np.array([[1, 2, 0, 3],
                      [0, 0, 4, 0]])   # 1–2 share an edge; 3 and 4 touch only at a corner
    assert segment.touching_pairs(cells) == [(1, 2)]


def test_object_f1_against_a_hand_count():
    truth = np.zeros((4, 12), int)
    truth[:, 0:3], truth[:, 4:7], truth[:, 8:12] = 1, 2, 3
    predicted = np.zeros_like(truth)
    predicted[:, 0:3] = 1            # cell 1 exactly: IoU 1
    predicted[:, 4:5] = 2            # a third of cell 2: IoU 1/3, no match
    predicted[0, 8:12] = 3           # a quarter of cell 3: no match
    # TP = 1, FP = 2, FN = 2 → F1 = 2 / (2 + 2 + 2)
    assert segment.object_f1(truth, predicted) == {"f1": pytest.approx(1 / 3), "tp": 1, "fp": 2, "fn": 2}


def test_a_merged_pair_is_not_separated_and_a_split_one_is():
    truth = np.zeros((4, 9), int)
    truth[:, 0:4], truth[:, 4:8] = 1, 2
    merged = (truth > 0).astype(int)                      # one blob: IoU 1/2 with each, not > 0.5
    split = segment.separation_borders(truth)
    split_components, _ = ndimage.label(split > 0)
    assert segment.separated(truth, merged, [(1, 2)]) == [False]
    assert segment.separated(truth, split_components, [(1, 2)]) == [True]   # each keeps 3 of 4 columns: IoU 3/4


def test_sparse_annotation_labels_whole_planes_through_the_structure():
    from refimpl.unet3d import UNLABELED

    mask = np.zeros((10, 12, 14), bool)
    mask[2:7, 3:9, 4:12] = True
    labels, planes = segment.sparse_annotation(mask, 1, UNLABELED)
    assert planes == {"x": [4], "y": [6], "z": [8]}                  # the middle of [2, 6], [3, 8], [4, 11]
    labelled = labels != UNLABELED
    expected = np.zeros_like(mask)
    expected[4], expected[:, 6], expected[:, :, 8] = True, True, True
    assert (labelled == expected).all()
    assert (labels[labelled] == mask[labelled]).all()
    dense, _ = segment.sparse_annotation(mask, -1, UNLABELED)
    assert (dense == mask).all()


def test_balanced_class_weights_give_both_classes_the_same_influence():
    cicek = importlib.import_module("experiments.Cicek2016MICCAI")
    labels = np.array([0] * 90 + [1] * 10 + [3] * 50)                   # 3: unlabelled, not counted
    w = cicek.balanced_weights(labels)
    assert w == (1.0, 9.0)
    assert 90 * w[0] == 10 * w[1]


# --------------------------------------------------------------------------- the real data's facts


@needs_nuclei
def test_nuclei_image_and_its_test_half():
    image, labels = nuclei.load()
    assert image.shape == labels.shape == (512, 512) and image.dtype == np.float32
    assert len(np.unique(labels)) - 1 == 125
    halves = segment.nuclei_halves(256)
    pairs = segment.touching_pairs(halves.test_instances)
    assert len(pairs) == 14                                               # the metric's "of 14"
    perfect, _ = ndimage.label(segment.separation_borders(halves.test_instances) > 0)
    assert sum(segment.separated(halves.test_instances, perfect, pairs)) == 14
    assert segment.object_f1(halves.test_instances, perfect)["f1"] > 0.98
    merged, _ = ndimage.label(halves.test_instances > 0)                 # touching cells as one blob
    assert sum(segment.separated(halves.test_instances, merged, pairs)) == 0


@needs_brain
def test_hippocampus_is_a_fifth_of_a_percent_of_each_hemisphere():
    b = brain.load()
    assert b.names["Hippocampus_L"] == 37 and b.names["Hippocampus_R"] == 38 and len(b.names) == 116
    assert brain.midline(b) == 90
    h = segment.hemispheres("Hippocampus", 2, (44, 108, 88))
    assert h.train_mask.sum() == 973 and h.test_mask.sum() == 977
    assert 0.002 < h.train_mask.mean() < 0.0025
    with pytest.raises(ValueError, match="nearest names: Hippocampus_R, Hippocampus_L"):
        brain.structure_mask(b, "hippocampus_l")


# --------------------------------------------------------------------------- the experiments' smoke settings

SMOKE = [("Ronneberger2015MICCAI", HAVE_NUCLEI), ("Milletari20163DV", HAVE_BRAIN), ("Cicek2016MICCAI", HAVE_BRAIN)]


@pytest.mark.parametrize("paper, have", SMOKE, ids=[p for p, _ in SMOKE])
def test_smoke_setting_runs_one_arm_and_seed_in_seconds(paper, have):
    import torch

    if not have:
        pytest.skip(f"data for {paper} not installed here")
    (experiment,) = importlib.import_module(f"experiments.{paper}").EXPERIMENTS
    arm = next(iter(experiment.arms))
    calls = []
    torch.manual_seed(0)
    start = time.perf_counter()
    out = experiment.run(experiment.configured(smoke=True), dict(experiment.arms[arm]), 0,
                         lambda done, total: calls.append((done, total)))
    assert time.perf_counter() - start < 10
    assert set(out["metrics"]) == set(experiment.metrics)
    assert all(math.isfinite(v) for v in out["metrics"].values())
    assert calls[-1] == (experiment.smoke["iterations"],) * 2
    assert len(json.dumps(out, allow_nan=False)) < 50_000          # seed 0 carries the figure: still small
