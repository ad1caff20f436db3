r"""Image classification at toy scale: a fixed, class-balanced subset of Fashion-MNIST, SGD with momentum and a
cosine schedule, no augmentation.

[`train`][kb.training.classify.train] is the whole loop, written out so that a reader sees every step
(and so that its speed is the speed of plain PyTorch: `make bench` compares it with the same steps
inlined). The seed decides the weights' initialisation and the order of the batches; the subset is
the same for every seed and arm, so that runs with the same seed are paired.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MEAN, STD = 0.2860, 0.3530
"""Fashion-MNIST's pixel mean and standard deviation over the training set (pixels in [0, 1])."""

Progress = Callable[[int, int], None]


def balanced_subset(labels: np.ndarray, size: int, classes: int = 10) -> np.ndarray:
    """The first ``size // classes`` images of each class, in their file order: the same for every seed and arm."""
    if size % classes:
        raise ValueError(f"a balanced subset needs a multiple of {classes} images; got {size}")
    per = size // classes
    picked = [np.flatnonzero(labels == c)[:per] for c in range(classes)]
    if any(len(p) < per for p in picked):
        raise ValueError(f"not enough images for {per} per class")
    return np.sort(np.concatenate(picked))


def to_tensor(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` → normalised float ``(N, 1, size, size)``, zero-padded symmetrically to ``size``."""
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    pad = size - x.shape[-1]
    if pad < 0 or pad % 2:
        raise ValueError(f"input size must be 28 + an even number of pixels; got {size}")
    x = F.pad(x, (pad // 2,) * 4)
    return (x - MEAN) / STD


def data(setting: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training and test tensors for ``setting`` (``train``, ``test``: subset sizes; ``input``: side in pixels)."""
    from kb.datasets import fashion_mnist

    train, test = fashion_mnist.load("train"), fashion_mnist.load("test")
    i = balanced_subset(train.labels, setting["train"])
    j = balanced_subset(test.labels, setting["test"])
    return (to_tensor(train.images[i], setting["input"]), torch.from_numpy(train.labels[i]),
            to_tensor(test.images[j], setting["input"]), torch.from_numpy(test.labels[j]))


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, x: torch.Tensor, batch: int) -> None:
    """Recompute every batch norm's running mean and variance over ``x`` with the trained weights ("precise BN").

    The running statistics are a moving average taken while the weights changed; after a hundred steps of a
    toy run they can be far from what the final weights produce, and evaluation then measures the average's
    lag instead of the network (a MobileNetV3 whose training error was 17 % scored chance in eval mode). The
    exact average over the training subset, in batches as in training, removes that lag for every arm alike.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches that follow
    model.train()
    for k in range(0, len(x), batch):
        model(x[k:k + batch])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    """Top-1 accuracy in percent, in evaluation mode."""
    model.eval()
    correct = sum(int((model(x[k:k + batch]).argmax(1) == y[k:k + batch]).sum()) for k in range(0, len(x), batch))
    return 100.0 * correct / len(x)


def train(model: nn.Module, setting: Mapping[str, Any], seed: int, progress: Progress) -> dict[str, Any]:
    r"""Train ``model`` as ``setting`` says and measure it.

    ``setting`` keys: ``train`` and ``test`` (subset sizes), ``input`` (pixels), ``epochs``, ``batch``,
    ``lr`` (peak learning rate), ``momentum``, ``weight_decay``; the learning rate follows a cosine
    from ``lr`` to 0 over all steps.

    Returns ``{"metrics": {"test_accuracy", "train_error", "final_loss"}, "extras": {"train_error_curve",
    "loss_curve", "images_per_second"}}``: the training error is the share of training images
    misclassified during the last epoch (as the paper's training curves are measured), in percent; the
    test accuracy is measured in evaluation mode after
    [`recalibrate_batch_norm`][kb.training.classify.recalibrate_batch_norm].
    """
    x, y, x_test, y_test = data(setting)
    generator = torch.Generator().manual_seed(seed)
    epochs, batch = setting["epochs"], setting["batch"]
    steps_per_epoch = math.ceil(len(x) / batch)
    total = epochs * steps_per_epoch
    optimiser = torch.optim.SGD(model.parameters(), lr=setting["lr"], momentum=setting["momentum"],
                                weight_decay=setting["weight_decay"], nesterov=False)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=total)
    error_curve, loss_curve = [], []
    step, start = 0, time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        wrong, loss_sum = 0, 0.0
        for k in range(0, len(x), batch):
            idx = order[k:k + batch]
            logits = model(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            wrong += int((logits.argmax(1) != y[idx]).sum())
            loss_sum += float(loss.detach()) * len(idx)
            step += 1
            progress(step, total)
        if not math.isfinite(loss_sum):
            raise FloatingPointError(f"the training loss became {loss_sum} in epoch {epoch + 1}")
        error_curve.append(round(100.0 * wrong / len(x), 3))
        loss_curve.append(round(loss_sum / len(x), 5))
    seconds = time.perf_counter() - start
    recalibrate_batch_norm(model, x, batch)
    return {
        "metrics": {"test_accuracy": round(accuracy(model, x_test, y_test), 3), "train_error": error_curve[-1],
                    "final_loss": loss_curve[-1]},
        "extras": {"train_error_curve": error_curve, "loss_curve": loss_curve,
                   "images_per_second": round(epochs * len(x) / seconds, 1)},
    }
