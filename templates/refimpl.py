r"""{% if short != title %}{{ short | docstring }} — {% endif %}{{ authors_cited | docstring }}, *{{ title | docstring }}*, {{ venue }} {{ year }}{% if arxiv %}, arXiv:{{ arxiv }}{{ version or "" }}{% endif %}.

Starter reference implementation written by `kb new`: a small convolutional network whose layers
are the rows of [`STAGES`][refimpl.{{ module }}.STAGES] (convolution → batch norm → ReLU each),
followed by global average pooling and a fully connected classifier.

To make it the paper's: replace `STAGES` with the paper's architecture table, row for row (a
``NamedTuple`` whose fields are the table's column titles; cite the table and the arXiv version in
the comment above it), rename `Net` to the paper's model, and mark every departure from the paper
with a ``# DEVIATION from ...`` comment.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from refimpl.layers import ConvNormActivation, check_input


class Stage(NamedTuple):
    """One row of the table: a ``k`` × ``k`` convolution to ``c`` channels with stride ``s``."""

    k: int
    c: int
    s: int


# TODO(kb new): a starter table — replace it with the paper's (e.g. "{{ short | comment }}, arXiv:XXXX.XXXXXvN, Table 1"),
# row for row, top to bottom.
#       k    c   s        input
STAGES: tuple[Stage, ...] = (
    Stage(3, 16, 1),    # 32² × 3
    Stage(3, 32, 2),    # 32² × 16
    Stage(3, 64, 2),    # 16² × 32
)
"""The network's rows, ``Stage(k, c, s)`` each (see the comments in the source)."""

IN_CHANNELS = 3
"""Input channels $c_0$ (RGB)."""

NUM_CLASSES = 10
"""Outputs $K$ of the classifier."""


class Net(nn.Module):
    r"""The rows of [`STAGES`][refimpl.{{ module }}.STAGES], then global average pooling and a linear classifier.

    Row $i$ is a $k_i \times k_i$ convolution from $c_{i-1}$ to $c_i$ channels with stride $s_i$ and
    "same" padding $\lfloor k_i/2 \rfloor$, then batch norm and ReLU
    ([`ConvNormActivation`][refimpl.layers.ConvNormActivation]); an $H \times W$ input leaves the
    last row at $\lceil H / \prod_i s_i \rceil \times \lceil W / \prod_i s_i \rceil$.

    Args:
        in_channels: input channels $c_0$.
        num_classes: outputs $K$ of the classifier.
        stages: the rows to stack, ``Stage(k, c, s)`` each.
    """

    def __init__(
        self,
        in_channels: int = IN_CHANNELS,
        num_classes: int = NUM_CLASSES,
        stages: tuple[Stage, ...] = STAGES,
    ) -> None:
        super().__init__()
        _check_positive("in_channels", in_channels)
        _check_positive("num_classes", num_classes)
        if not stages:
            raise ValueError("stages must hold at least one row Stage(k, c, s); got none")
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        c_prev = in_channels
        for k, c, s in stages:
            if not (isinstance(k, int) and k > 0 and k % 2 == 1):
                raise ValueError(f"kernel size k must be a positive odd integer (1, 3, 5, 7, …) for 'same' padding; got {k!r}")
            _check_positive("channels c", c)
            _check_positive("stride s", s)
            layers.append(ConvNormActivation(c_prev, c, k, stride=s))  # (N, c, ⌈H/s⌉, ⌈W/s⌉)
            c_prev = c
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, 2, "Net")
        x = self.features(x)  # (N, c_L, H/∏s, W/∏s)
        x = self.pool(x).flatten(1)  # (N, c_L)
        return self.classifier(x)  # (N, K)


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer (1, 2, 3, …); got {value!r}")
