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
# (feature-map sizes, channels, parameters, multiply-adds) come from `refimpl.analysis.analyse`,
# which runs each variant on PyTorch's `meta` device. Reported values are the numbers exactly as
# the paper prints them, with the figure, table or equation they come from.
#
# **Filling it in.** `kb new --like {{ like }}` wrote the segmentation family's structural claims,
# wired to `LEVELS` and `VARIANTS` of `refimpl.{{ module }}`. Copy each value the paper prints over
# its `TODO`, exactly as printed, and its source over `Fig. TODO`. A claim with a `TODO` left is
# recorded as *reported*, its reason starting with "TODO" and showing what the code measures, so a
# placeholder never reads as reproduced; `kb lint` lists every `TODO` left. Then add the paper's
# other claims: `ledger.check` for a value the code computes, `ledger.discrepant` when it differs
# for a reason you found, `ledger.reported` for what needs data or hardware this project lacks.

# %%
from kb import scaffold
from kb.claims import Ledger
from kb.scaffold import TODO
from refimpl.analysis import analyse, on_meta
from refimpl.{{ module }} import LEVELS, VARIANTS, Net

ledger = Ledger({{ key | py }})
MILLION = 1e6
cost = {name: analyse(on_meta(Net, **variant.options), variant.input_shape) for name, variant in VARIANTS.items()}
first = next(iter(VARIANTS))


def last_output(analysed, prefix):
    """Output shape of the last layer whose name starts with ``prefix``."""
    return [layer for layer in analysed.layers if layer.name.startswith(prefix)][-1].output_shape


# %% [markdown]
# ## The encoder, level by level
#
# Channels and side of the feature map each encoder level gives (before its pooling), for the first
# variant's input, against what the paper's figure prints.

# %%
# TODO(kb new): channels and side of each encoder level's output as the paper prints them, e.g. [[64, 568], [128, 280], ...].
PRINTED_LEVELS = [[TODO, TODO] for _ in LEVELS]

scaffold.check(
    ledger, "levels",
    f"Channels and side of each encoder level's feature map, variant {first}, input {VARIANTS[first].input_shape[2:]}",
    "Fig. TODO",
    reported=PRINTED_LEVELS,
    measured=[[last_output(cost[first], f"encoder.{i}.")[1], last_output(cost[first], f"encoder.{i}.")[2]]
              for i in range(len(LEVELS))],
)

# %% [markdown]
# ## Skip connections
#
# Each decoder level concatenates the up-convolution's output with the encoder's feature map of the
# same level, so its first convolution reads the channels of both.

# %%
decoder_inputs = [layer.input_shape[1] for layer in cost[first].layers
                  if layer.name.startswith("decoder.") and layer.name.endswith(".0.conv")]
# TODO(kb new): the channels each decoder level reads after the concatenation, from the bottom up, as the paper gives them.
PRINTED_SKIP_CHANNELS = [TODO for _ in LEVELS[:-1]]

scaffold.check(
    ledger, "skip-connections",
    "Channels entering each decoder level: up-convolution plus the encoder's skip, from the bottom up",
    "Fig. TODO",
    reported=PRINTED_SKIP_CHANNELS,
    measured=decoder_inputs,
)

# %% [markdown]
# ## Output map of each variant

# %%
# TODO(kb new): the output map's shape (N, K, sides…) for each variant's input, as the paper gives it.
PRINTED_OUTPUT = {name: TODO for name in VARIANTS}

scaffold.check(
    ledger, "output-shape",
    "Output map of each variant for its input: " + ", ".join(f"{n} {VARIANTS[n].input_shape}" for n in VARIANTS),
    "Fig. TODO",
    reported=[PRINTED_OUTPUT[name] for name in VARIANTS],
    measured=[list(cost[name].output_shape) for name in VARIANTS],
)

{% set variant_names, counted = ["2-D", "3-D"], "convolutions and up-convolutions" -%}
{% include "families/_cost.py" %}