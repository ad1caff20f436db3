"""Tests of refimpl.losses: V-Net's Dice coefficient, its printed gradient, the smoothing and the errors."""

from __future__ import annotations

import pytest
import torch

from refimpl.losses import SMOOTH, DiceLoss, dice_coefficient, dice_gradient, dice_loss


def test_dice_against_a_hand_computation():
    p = torch.tensor([0.9, 0.2, 0.6, 0.0])
    g = torch.tensor([1.0, 0.0, 1.0, 1.0])
    # Σ p g = 0.9 + 0.6 = 1.5;  Σ p² = 0.81 + 0.04 + 0.36 = 1.21;  Σ g² = 3
    # D = 2 · 1.5 / (1.21 + 3) = 3 / 4.21
    assert dice_coefficient(p, g, smooth=0).item() == pytest.approx(3 / 4.21, abs=1e-7)
    # with ε = 1: (3 + 1) / (4.21 + 1)
    assert dice_coefficient(p, g, smooth=1).item() == pytest.approx(4 / 5.21, abs=1e-7)


def test_gradient_against_a_hand_computation():
    p = torch.tensor([0.9, 0.2, 0.6, 0.0], dtype=torch.float64)
    g = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    # ∂D/∂p_j = 2 [g_j · 4.21 − 2 p_j · 1.5] / 4.21²
    expected = [2 * (gj * 4.21 - 2 * pj * 1.5) / 4.21**2 for pj, gj in zip(p.tolist(), g.tolist())]
    assert dice_gradient(p, g, smooth=0).tolist() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("smooth", [0.0, SMOOTH])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_printed_gradient_equals_autograd(seed, smooth):
    torch.manual_seed(seed)
    p = torch.rand(3, 8, 8, 4, dtype=torch.float64, requires_grad=True)
    g = torch.rand(3, 8, 8, 4, dtype=torch.float64) < 0.1
    (autograd,) = torch.autograd.grad(dice_coefficient(p, g, smooth), p)
    assert (autograd - dice_gradient(p.detach(), g, smooth)).abs().max().item() < 1e-15


EDGE_CASES = {
    "empty ground truth": (torch.rand(50, dtype=torch.float64), torch.zeros(50, dtype=torch.float64)),
    "empty prediction": (torch.zeros(50, dtype=torch.float64), (torch.arange(50) % 7 == 0).double()),
    "perfect prediction": ((torch.arange(50) % 7 == 0).double(), (torch.arange(50) % 7 == 0).double()),
    "all foreground": (torch.ones(50, dtype=torch.float64), torch.ones(50, dtype=torch.float64)),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_printed_gradient_equals_autograd_on_edge_cases(case):
    p, g = EDGE_CASES[case]
    p = p.clone().requires_grad_(True)
    for smooth in (0.0, SMOOTH):
        (autograd,) = torch.autograd.grad(dice_coefficient(p, g, smooth), p)
        assert (autograd - dice_gradient(p.detach(), g, smooth)).abs().max().item() < 1e-15


def test_perfect_prediction_is_a_stationary_point_with_dice_one():
    g = (torch.arange(64) % 5 == 0).double()
    assert dice_coefficient(g, g, smooth=0).item() == 1.0
    assert dice_gradient(g, g, smooth=0).abs().max().item() == 0.0


def test_empty_prediction_of_empty_ground_truth_is_one_not_nan():
    empty = torch.zeros(4, 4, 4)
    d = dice_coefficient(empty, empty)
    assert not torch.isnan(d) and d.item() == 1.0
    assert dice_gradient(empty, empty).abs().max().item() == 0.0


def test_false_positives_on_empty_ground_truth_drive_dice_to_zero():
    empty = torch.zeros(100)
    few, many = torch.zeros(100), torch.ones(100)
    few[0] = 1.0
    assert dice_coefficient(few, empty).item() == pytest.approx(SMOOTH / (1 + SMOOTH))
    assert dice_coefficient(many, empty).item() == pytest.approx(SMOOTH / (100 + SMOOTH))


def test_paper_formula_is_undefined_for_two_empty_volumes():
    empty = torch.zeros(8)
    with pytest.raises(ValueError, match="0/0"):
        dice_coefficient(empty, empty, smooth=0)


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match=r"same shape; got \(2, 3\) and \(3, 2\)"):
        dice_coefficient(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="same shape"):
        dice_loss(torch.zeros(2, 4, 4), torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="labels"):
        DiceLoss()(torch.zeros(1, 2, 4, 4, 4), torch.zeros(1, 4, 4, 5, dtype=torch.long))


def test_negative_smoothing_raises():
    with pytest.raises(ValueError, match="smooth must be a finite number >= 0"):
        dice_coefficient(torch.zeros(3), torch.zeros(3), smooth=-1)


def test_dice_loss_averages_one_minus_dice_over_the_batch():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    g = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    # volume 0: D = 1; volume 1: D = 2·0.5 / (0.5 + 1) = 2/3  →  loss = 1 − (1 + 2/3)/2 = 1/6
    assert dice_loss(p, g, smooth=0).item() == pytest.approx(1 / 6)


def test_dice_loss_layer_uses_the_foreground_channel_of_the_softmax():
    labels = torch.zeros(1, 4, 4, 4, dtype=torch.long)
    labels[0, 1:3, 1:3, 1:3] = 1
    perfect = torch.stack([1 - labels, labels], dim=1).float()  # (1, 2, 4, 4, 4)
    assert DiceLoss(smooth=0)(perfect, labels).item() == 0.0
    assert DiceLoss(smooth=0)(perfect.flip(1), labels).item() == 1.0
