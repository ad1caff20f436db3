"""Tests of refimpl.evaluate (``kb evaluate``): preprocessing, the image folder, top-1 end to end on synthetic
images with random weights, the plain "skipped" without data, and one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from kb.cli import main as kb
from refimpl.evaluate import IMAGENET_MEAN, IMAGENET_STD, TARGETS, image_folder, preprocess, top1


def test_a_plain_colour_becomes_its_normalised_value_everywhere(tmp_path):
    colour = (200, 100, 50)
    Image.new("RGB", (400, 300), colour).save(tmp_path / "plain.png")
    x = preprocess(tmp_path / "plain.png", 224)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    expected = [(c / 255 - m) / s for c, m, s in zip(colour, IMAGENET_MEAN, IMAGENET_STD)]
    assert np.abs(x - np.array(expected, np.float32)[:, None, None]).max() < 1e-5


def test_the_shorter_side_becomes_256_and_the_centre_224_is_cropped(tmp_path):
    # 512 × 256: no resize is needed; the crop starts at x = (512 − 224)/2 = 144, so the black/white edge
    # at x = 256 falls on crop column 112, and the rows are the middle 224 of 256
    pixels = np.zeros((256, 512, 3), np.uint8)
    pixels[:, 256:] = 255
    pixels[:16] = 128  # a grey band at the top, entirely outside the crop (rows 16 … 239 are kept)
    Image.fromarray(pixels).save(tmp_path / "edge.png")
    x = preprocess(tmp_path / "edge.png", 224)[0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]  # back to [0, 1]
    assert np.allclose(x[:, :112], 0, atol=1e-5) and np.allclose(x[:, 112:], 1, atol=1e-5)


def test_a_portrait_image_is_resized_on_its_width(tmp_path):
    Image.new("RGB", (128, 512), (0, 0, 0)).save(tmp_path / "tall.jpg")
    assert preprocess(tmp_path / "tall.jpg", 160).shape == (3, 160, 160)  # 128 → 183 wide, 732 tall, then cropped


def make_folder(root, placed: dict[int, int], classes: int = 1000, size=(96, 80)) -> list:
    """An ImageFolder of ``classes`` folders; image i (random noise, seeded) goes into class ``placed[i]``."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"c{c:04d}").mkdir(parents=True)
    images = []
    for i, c in placed.items():
        path = root / f"c{c:04d}" / f"img{i}.JPEG"
        Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(path)
        images.append(path)
    return images


def test_class_indices_are_the_sorted_folder_names(tmp_path):
    make_folder(tmp_path, {0: 7, 1: 7, 2: 999}, classes=1000)
    (tmp_path / "c0007" / "notes.txt").write_text("not an image")
    samples = image_folder(tmp_path)
    assert [(p.name, label) for p, label in samples] == [("img0.JPEG", 7), ("img1.JPEG", 7), ("img2.JPEG", 999)]


def test_top1_end_to_end_with_random_weights_on_a_synthetic_folder(tmp_path):
    torch.manual_seed(0)
    model = TARGETS["Howard2019arxiv"]["small-1.0"].build().eval()
    torch.save(model.state_dict(), tmp_path / "random.pth")
    # Where the random model's predictions are known, put 4 of 6 images into their predicted class and 2 elsewhere.
    staging = tmp_path / "staging"
    staged = make_folder(staging, {i: 0 for i in range(6)}, classes=1)
    with torch.no_grad():
        predicted = [int(model(torch.from_numpy(preprocess(p, 224))[None]).argmax()) for p in staged]
    placed = {i: predicted[i] if i < 4 else (predicted[i] + 1) % 1000 for i in range(6)}
    make_folder(tmp_path / "val", placed)
    assert top1(model, image_folder(tmp_path / "val"), 224, batch_size=4) == (4, 6)

    output = tmp_path / "record.json"
    status = kb(["evaluate", "Howard2019arxiv", "--model", "small-1.0", "--weights", str(tmp_path / "random.pth"),
                 "--peer", "refimpl", "--imagenet", str(tmp_path / "val"), "--batch-size", "4", "--output", str(output)])
    assert status == 0
    record = json.loads(output.read_text())
    assert record["correct"] == 4 and record["images"] == 6
    assert record["measured_top1"] == pytest.approx(100 * 4 / 6)
    assert (record["reported_top1"], record["source"]) == (67.4, "Table 3")  # the paper's printed value, arXiv v5
    assert record["difference"] == pytest.approx(100 * 4 / 6 - 67.4)
    assert record["load"].startswith("refimpl → MobileNetV3: 244 tensors mapped")


def test_without_data_the_evaluation_says_plainly_it_is_skipped(capsys):
    assert kb(["evaluate", "Howard2017arxiv", "--model", "1.0-224"]) == 0
    out = capsys.readouterr().out
    assert out == ("kb evaluate: skipped Howard2017arxiv 1.0-224: no --imagenet DIR and no --weights FILE given; "
                   "the paper's 70.6 % top-1 (Table 6) stays 'reported'\n")
    assert kb(["evaluate", "Sandler2018CVPR", "--weights", "w.pth"]) == 0  # no folder, and two models
    assert capsys.readouterr().out.count("skipped Sandler2018CVPR") == 2


def test_listing_names_every_model_with_the_papers_value(capsys):
    assert kb(["evaluate"]) == 0
    out = capsys.readouterr().out
    assert "Sandler2018CVPR    1.4-224     224 px   paper: 74.7 % top-1 (Table 4)" in out
    assert sum(len(models) for models in TARGETS.values()) == out.count(" px   paper: ")


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "Ronneberger2015MICCAI"], "no ImageNet top-1 to evaluate for 'Ronneberger2015MICCAI'; papers: Howard2017arxiv"),
    (["evaluate", "Howard2017arxiv", "--model", "2.0-224"], "Howard2017arxiv has no model '2.0-224'; models: 1.0-224, 0.75-224"),
    (["evaluate", "Howard2017arxiv", "--model", "1.0-224", "--weights", "w.pth", "--imagenet", "/nonexistent/val"],
     "--imagenet /nonexistent/val: not a directory"),
    (["evaluate", "Howard2017arxiv", "--model", "1.0-224", "--limit", "0"], "--limit must be a positive number of images"),
])
def test_usage_errors_are_one_line_with_exit_status_2(argv, message, capsys):
    assert kb(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_folder_with_too_few_classes_and_weights_that_do_not_fit_are_refused(tmp_path, capsys):
    make_folder(tmp_path / "few", {0: 1}, classes=5)
    args = ["evaluate", "Howard2019arxiv", "--model", "small-1.0", "--peer", "refimpl"]
    assert kb([*args, "--weights", "w.pth", "--imagenet", str(tmp_path / "few")]) == 2
    assert "5 class folders, the model has 1000 outputs" in capsys.readouterr().err
    make_folder(tmp_path / "val", {0: 1})
    torch.save(TARGETS["Howard2019arxiv"]["large-1.0"].build().state_dict(), tmp_path / "large.pth")
    assert kb([*args, "--weights", str(tmp_path / "large.pth"), "--imagenet", str(tmp_path / "val")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kb evaluate: tensor ") and "shapes differ" in err and err.count("\n") == 1
