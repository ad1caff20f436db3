r"""ResNet (arXiv:1512.03385v1), the degradation problem of Fig. 1 / Fig. 6 and Sec. 4.2 at toy scale, on
Fashion-MNIST: plain-20 and plain-56 against ResNet-20 and ResNet-56 (the CIFAR-10 networks of Sec. 4.2).

Registered before the first run; every seed is recorded and shown, whatever it gives.
"""

from __future__ import annotations

from kb.experiment import Comparison, Experiment, Metric
from kb.training.classify import train
from refimpl.resnet import CifarResNet

SETTING = {
    "data": "Fashion-MNIST: class-balanced train[:3000], test[:2000]",
    "train": 3000, "test": 2000, "input": 32, "channels": 1,
    # DEVIATION from Sec. 4.2 (64k iterations of batch 128, lr 0.1 divided by 10 at 32k and 48k,
    # data augmentation): 3 epochs of batch 64 with a cosine schedule, no augmentation.
    "epochs": 3, "batch": 64, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,  # Sec. 4.2's lr, momentum, decay
    "schedule": "cosine to 0 over all steps", "augmentation": "none",
}


def run(setting: dict, arm: dict, seed: int, progress) -> dict:
    """One CIFAR-style net of Sec. 4.2 (6n+2 layers; ``shortcut=None`` is Fig. 6's plain net) trained with ``setting``."""
    model = CifarResNet(arm["depth"], num_classes=10, in_channels=setting["channels"], shortcut=arm["shortcut"])
    return train(model, setting, seed, progress)


EXPERIMENTS = (
    Experiment(
        id="toy-degradation",
        title="The degradation problem: plain vs residual nets of 20 and 56 layers",
        setting=SETTING,
        smoke={"train": 300, "test": 200, "epochs": 1},
        arms={
            "plain-20": {"depth": 20, "shortcut": None},
            "plain-56": {"depth": 56, "shortcut": None},
            "ResNet-20": {"depth": 20, "shortcut": "A"},  # "identity shortcuts in all cases (i.e., option A)"
            "ResNet-56": {"depth": 56, "shortcut": "A"},
        },
        seeds=3,
        metrics={"train_error": Metric("training error, last epoch", "%", False), "test_accuracy": Metric("test accuracy", "%")},
        comparisons=(
            Comparison(
                id="exp-fig6-plain-degrades",
                statement="The deep plain nets exhibit higher training error when going deeper: plain-56 above plain-20",
                source="Fig. 6 left, Sec. 4.2", reported="plain-56 > plain-20 (training error)", metric="train_error",
                a="plain-56", b="plain-20", expect="greater",
            ),
            Comparison(
                id="exp-fig6-resnet-no-degradation",
                statement="ResNets overcome the optimization difficulty: the deeper ResNet-56 has lower training error "
                "than ResNet-20",
                source="Fig. 6 middle, Sec. 4.2", reported="ResNet-56 < ResNet-20 (training error)", metric="train_error",
                a="ResNet-56", b="ResNet-20", expect="less",
            ),
            Comparison(
                id="exp-fig6-residual-vs-plain-56",
                statement="At 56 layers the residual net trains to a lower error than the plain net",
                source="Fig. 6, Sec. 4.2", reported="ResNet-56 < plain-56 (training error)", metric="train_error",
                a="ResNet-56", b="plain-56", expect="less",
            ),
        ),
        run=run,
        data=("fashion_mnist",),
        budget="12 runs; ≈ 30 s (20 layers) to 100 s (56 layers) each on one thread",
        curve="train_error_curve", curve_label="training error (%)",
    ),
)
