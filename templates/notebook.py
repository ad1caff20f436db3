# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # {{ short | comment }} — the claims, checked ({{ key }})
#
# {{ authors_cited | comment }}, *{{ title | comment }}*, {{ venue }} {{ year }}{% if arxiv %}, arXiv:{{ arxiv }}{{ version or "" }}{% endif %}.
# Every measured value below is computed from `refimpl.{{ module }}` in this run; structural values
# (parameters, multiply-adds, shapes) come from `refimpl.analysis.analyse`, which runs the model on
# PyTorch's `meta` device. Reported values are the numbers exactly as the paper prints them, with
# the table or equation they come from.
#
# **Starter claims.** `kb new` wrote `refimpl/{{ module }}.py` as a small convolutional network (the
# rows of `STAGES`), and the claims below check that network against the formulas for it. When
# `STAGES` holds the paper's table, replace them with the paper's numbers: `ledger.check` with the
# printed value and its source, `ledger.discrepant` when they differ for a reason you found,
# `ledger.reported` for what needs data or hardware this project does not have.

# %%
from math import ceil

from kb.claims import Ledger
from refimpl.analysis import analyse, on_meta
from refimpl.{{ module }} import IN_CHANNELS, NUM_CLASSES, STAGES, Net

ledger = Ledger({{ key | py }})
# TODO(kb new): the claims below check the starter network; replace them with the paper's (see above)
H = W = 32  # input size of the checks below
cost = analyse(on_meta(Net), (1, IN_CHANNELS, H, W))

# %% [markdown]
# ## Parameters
#
# Row $i$ of `STAGES` is a $k_i \times k_i$ convolution from $c_{i-1}$ to $c_i$ channels without a
# bias, then batch norm with a scale $\gamma$ and a shift $\beta$ per channel; the classifier maps
# the last row's $c_L$ channels to $K$ outputs, with a bias:
#
# $$P = \sum_{i=1}^{L} \left(k_i^2\, c_{i-1}\, c_i + 2\, c_i\right) + (c_L + 1)\, K$$

# %%
def parameters_by_formula(stages, c_0, K):
    """P of the formula above, row by row."""
    total, c_prev = 0, c_0
    for k, c, s in stages:
        total += k * k * c_prev * c + 2 * c
        c_prev = c
    return total + (c_prev + 1) * K


ledger.check(
    "starter-params",
    "Parameters of the starter network: sum of (k² c_in c_out + 2 c_out) over the rows, plus (c_L + 1) K",
    "starter formula P (this notebook)",
    reported=parameters_by_formula(STAGES, IN_CHANNELS, NUM_CLASSES),
    measured=cost.params,
)

# %% [markdown]
# ## Multiply-adds
#
# With "same" padding, row $i$ maps an $H_{i-1} \times W_{i-1}$ input to
# $H_i = \lceil H_{i-1} / s_i \rceil$, $W_i = \lceil W_{i-1} / s_i \rceil$, and each output value of
# each output channel costs $k_i^2\, c_{i-1}$ multiply-adds; the classifier costs $c_L K$
# (batch norm, ReLU and pooling are not counted, as the papers do not count them):
#
# $$\text{Mult-Adds} = \sum_{i=1}^{L} k_i^2\, c_{i-1}\, c_i\, H_i W_i + c_L K$$

# %%
def madds_by_formula(stages, c_0, K, h, w):
    """Mult-Adds of the formula above, row by row."""
    total, c_prev = 0, c_0
    for k, c, s in stages:
        h, w = ceil(h / s), ceil(w / s)
        total += k * k * c_prev * c * h * w
        c_prev = c
    return total + c_prev * K


ledger.check(
    "starter-madds",
    f"Multiply-adds of the starter network on a {H}×{W} input: sum of k² c_in c_out H_i W_i over the rows, plus c_L K",
    "starter formula Mult-Adds (this notebook)",
    reported=madds_by_formula(STAGES, IN_CHANNELS, NUM_CLASSES, H, W),
    measured=cost.madds,
)
ledger.check(
    "starter-output-shape",
    "A batch of images (N, c_0, H, W) gives one row of K class scores per image",
    "starter network (this notebook)",
    reported=[1, NUM_CLASSES],
    measured=list(cost.output_shape),
)

# %%
ledger.summary()
