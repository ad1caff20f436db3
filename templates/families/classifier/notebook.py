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
# (output sizes, parameters, multiply-adds) come from `refimpl.analysis.analyse`, which runs each
# variant on PyTorch's `meta` device. Reported values are the numbers exactly as the paper prints
# them, with the table or equation they come from.
#
# **Filling it in.** `kb new --like {{ like }}` wrote the classifier family's structural claims, wired
# to `STEM`, `STAGES` and `VARIANTS` of `refimpl.{{ module }}`. Copy each value the paper prints over
# its `TODO`, exactly as printed, and its source over `Table TODO`. A claim with a `TODO` left is
# recorded as *reported*, its reason starting with "TODO" and showing what the code measures, so a
# placeholder never reads as reproduced; `kb lint` lists every `TODO` left. Then add the paper's
# other claims: `ledger.check` for a value the code computes, `ledger.discrepant` when it differs
# for a reason you found, `ledger.reported` for what needs data or hardware this project lacks.

# %%
from kb import scaffold
from kb.claims import Ledger
from kb.scaffold import TODO
from refimpl.analysis import analyse, on_meta
from refimpl.{{ module }} import STAGES, VARIANTS, Net

ledger = Ledger({{ key | py }})
MILLION = 1e6
cost = {name: analyse(on_meta(Net, **variant.options), variant.input_shape) for name, variant in VARIANTS.items()}
first = next(iter(VARIANTS))


def output_size(analysed, prefix):
    """Height of the output of the last layer whose name starts with ``prefix`` (maps are square)."""
    return [layer for layer in analysed.layers if layer.name.startswith(prefix)][-1].output_shape[2]


# %% [markdown]
# ## The architecture table, row by row
#
# The output size the table prints for the stem and for each row of `STAGES`, against the size the
# network's layers give for the first variant's input.

# %%
# TODO(kb new): the output sizes the paper's table prints: the stem's, then one per row of STAGES (e.g. [112, 56, 28, 14, 7]).
PRINTED_SIZES = [TODO] * (1 + len(STAGES))

scaffold.check(
    ledger, "table-output-size",
    f"Output size of the stem and of each stage, variant {first}, input {VARIANTS[first].input_shape[2]}²",
    "Table TODO",
    reported=PRINTED_SIZES,
    measured=[output_size(cost[first], "stem.")] + [output_size(cost[first], f"stages.{i}.") for i in range(len(STAGES))],
    unit="px",
)

# %% [markdown]
# ## One score per class
#
# Each variant maps an image to one score per class: the classifier's outputs as the paper gives
# them (e.g. "a 1000-way fully-connected layer").

# %%
PRINTED_CLASSES = TODO  # TODO(kb new): the number of classes the paper's classifier outputs, and its source below

scaffold.check(
    ledger, "output-shape",
    "Each variant gives one row of class scores per image: output shape (1, K)",
    "Sec. TODO",
    reported=[[1, PRINTED_CLASSES] for _ in VARIANTS],
    measured=[list(cost[name].output_shape) for name in VARIANTS],
)

{% set variant_names, counted = ["1.0", "0.5"], "convolutions and the classifier" -%}
{% include "families/_cost.py" %}