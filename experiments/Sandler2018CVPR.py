r"""MobileNetV2 (arXiv:1801.04381v4), Fig. 6a at toy scale, on Fashion-MNIST: linear bottleneck vs ReLU6 in it.

Registered before the first run; every seed is recorded and shown, whatever it gives.
"""

from __future__ import annotations

from torch import nn

from kb.experiment import Comparison, Experiment, Metric
from kb.training.classify import train
from refimpl.layers import ConvNormActivation, InvertedResidual
from refimpl.mobilenet_v2 import BOTTLENECKS, KERNEL_SIZE, STEM_CHANNELS, Bottleneck, block_specs, last_width, width

# DEVIATION from Table 2, for 32 × 32 inputs: the rows that halve 112² → 56² (c = 24) and 14² → 7² (c = 160)
# keep stride 1, so that 32² leaves the body at 4² instead of 1².
TOY_ROWS = tuple(Bottleneck(t, c, n, 1 if c in (24, 160) else s) for t, c, n, s in BOTTLENECKS)

SETTING = {
    "data": "Fashion-MNIST: class-balanced train[:5000], test[:2000]",
    "train": 5000, "test": 2000, "input": 32, "channels": 1, "alpha": 0.5,
    "epochs": 3, "batch": 128, "lr": 0.1, "momentum": 0.9,
    "weight_decay": 4e-5,  # Sec. 6.1: "weight decay set to 0.00004"
    "schedule": "cosine to 0 over all steps", "augmentation": "none",
}


class ToyMobileNetV2(nn.Sequential):
    r"""Table 2's stem, bottlenecks and last 1×1 convolution at width $\alpha$, strides adapted to 32².

    ``bottleneck_activation`` is Fig. 6a's one difference: ``None`` (the linear bottleneck) or ReLU6
    after each block's projection.
    """

    def __init__(self, alpha: float, in_channels: int, bottleneck_activation=None) -> None:
        specs = block_specs(alpha, rows=TOY_ROWS)
        layers = [ConvNormActivation(in_channels, width(STEM_CHANNELS, alpha), KERNEL_SIZE, stride=2, activation=nn.ReLU6)]
        for b in specs:
            block = InvertedResidual(b.in_channels, b.hidden_channels, b.out_channels, stride=b.stride,
                                     kernel_size=KERNEL_SIZE, activation=nn.ReLU6)
            if bottleneck_activation is not None:  # Fig. 6a, "relu6 in bottleneck"
                block.project = ConvNormActivation(b.hidden_channels, b.out_channels, 1, activation=bottleneck_activation)
            layers.append(block)
        last = last_width(alpha)
        layers += [ConvNormActivation(specs[-1].out_channels, last, 1, activation=nn.ReLU6),
                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(last, 10)]
        super().__init__(*layers)


def run(setting: dict, arm: dict, seed: int, progress) -> dict:
    """One toy MobileNetV2, with or without ReLU6 in the bottleneck, trained with ``setting``."""
    activation = {"linear": None, "relu6": nn.ReLU6}[arm["bottleneck"]]
    return train(ToyMobileNetV2(setting["alpha"], setting["channels"], activation), setting, seed, progress)


EXPERIMENTS = (
    Experiment(
        id="toy-linear-bottleneck",
        title="Linear bottleneck vs ReLU6 in the bottleneck",
        setting=SETTING,
        smoke={"train": 300, "test": 200, "epochs": 1},
        arms={"linear": {"bottleneck": "linear"}, "relu6": {"bottleneck": "relu6"}},
        seeds=3,
        metrics={"test_accuracy": Metric("test accuracy", "%"), "train_error": Metric("training error, last epoch", "%", False)},
        comparisons=(
            Comparison(
                id="exp-fig6a-linear-bottleneck",
                statement="Linear bottlenecks improve performance: a non-linearity in the bottleneck (ReLU6) hurts "
                "(Fig. 6a, ImageNet top-1 curves)",
                source="Fig. 6a, Sec. 6.4", reported="linear > ReLU6 in bottleneck", metric="test_accuracy",
                a="linear", b="relu6", expect="greater",
            ),
        ),
        run=run,
        data=("fashion_mnist",),
        budget="6 runs; ≈ 50 s each on one thread",
    ),
)
