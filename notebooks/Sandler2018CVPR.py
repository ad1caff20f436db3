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
# # MobileNetV2 — the claims, checked (Sandler2018CVPR)
#
# Sandler et al., *MobileNetV2: Inverted Residuals and Linear Bottlenecks*, CVPR 2018,
# arXiv:1801.04381**v4** (21 Mar 2019). Every measured value below is computed from
# `refimpl.mobilenet_v2` (and, for the comparisons, `refimpl.mobilenet_v1`) in this run; structural
# values come from `refimpl.analysis.analyse` on PyTorch's `meta` device. Reported values are the
# numbers exactly as v4 prints them; where another arXiv version prints something else, it is said.
#
# **How we count.** Multiply-adds (MAdds) are those of the convolutions and the classifier, as
# in MobileNetV1. "Weights" are convolution and classifier weights only; "all parameters" add the
# batch-norm scales and shifts and the classifier's bias.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from kb import figures
from kb.claims import Ledger
from refimpl.analysis import analyse, on_meta
from refimpl.layers import InvertedResidual
from refimpl.mobilenet_v1 import MobileNetV1
from refimpl.mobilenet_v2 import BOTTLENECKS, LAST_CHANNELS, MobileNetV2, block_specs, last_width, operations

ledger = Ledger("Sandler2018CVPR")
figures.style()  # readable figures: fonts of 9 pt and more at the page's width
MILLION = 1e6


def cost(width_multiplier=1.0, resolution=224, **options):
    """analyse() of a MobileNetV2 built with these options, at resolution² × 3."""
    return analyse(on_meta(MobileNetV2, width_multiplier, **options), (1, 3, resolution, resolution))


def layer(c, name):
    return next(l for l in c.layers if l.name == name)


# %%
from refimpl.diagram import show_architecture  # noqa: E402

show_architecture(
    on_meta(MobileNetV2), (1, 3, 224, 224),
    "MobileNetV2 (α = 1) on a 224 × 224 image, drawn from `refimpl.mobilenet_v2` run on the meta device: the "
    "3×3 stem, the inverted-residual bottlenecks (a box holds the n blocks of one row of Table 2), the 1×1 "
    "convolution to 1280 channels, the pool and the 1×1 classifier. The residual additions sit inside the "
    "blocks. 每个方框对应表 2 的一行。",
)

# %% [markdown]
# ## Sec. 3.3 — the cost of one bottleneck block
#
# "For a block of size $h \times w$, expansion factor $t$ and kernel size $k$ with $d'$ input
# channels and $d''$ output channels, the total number of multiply add required is
#
# $$h \cdot w \cdot d' \cdot t\,(d' + k^2 + d'')."$$
#
# The three terms are the $1 \times 1$ expansion ($h w \cdot d' \cdot t d'$), the depthwise
# convolution ($h w \cdot t d' \cdot k^2$) and the linear projection ($h w \cdot t d' \cdot d''$). We
# count real [`InvertedResidual`](../../Sandler2018CVPR/#refimpl.mobilenet_v2) blocks over a sweep of
# $h = w$, $t$, $d'$, $d''$ at stride 1. The formula is written for stride 1: with stride $s$ the
# depthwise and projection terms run on $\frac{h}{s} \times \frac{w}{s}$, which we check separately.

# %%
sweep = [(h, t, d1, d2) for h in (7, 14, 28) for t in (2, 3, 6) for d1, d2 in ((16, 24), (32, 32), (64, 96), (160, 320))]
measured_s1, formula_s1, measured_s2, formula_s2 = [], [], [], []
for h, t, d1, d2 in sweep:
    for s, measured, formula in ((1, measured_s1, formula_s1), (2, measured_s2, formula_s2)):
        block = on_meta(InvertedResidual, d1, t * d1, d2, stride=s)
        measured.append(analyse(block, (1, d1, h, h)).madds)
        h_out = (h + 1) // s  # "same" padding
        formula.append(h * h * d1 * t * d1 + h_out * h_out * t * d1 * (3**2 + d2))
ledger.check(
    "sec3.3-block-madds",
    f"Bottleneck MAdds = h·w·d′·t(d′ + k² + d″), k = 3, stride 1 ({len(sweep)} blocks: h = 7, 14, 28; t = 2, 3, 6; 4 (d′, d″))",
    "Sec. 3.3",
    reported=[h * h * d1 * t * (d1 + 3**2 + d2) for h, t, d1, d2 in sweep],
    measured=measured_s1,
    unit="MAdds",
)
ledger.check(
    "sec3.3-block-madds-stride2",
    "The same blocks at stride 2: h·w·d′·td′ + (h/s)(w/s)·td′(k² + d″) (our generalisation of the formula)",
    "Sec. 3.3, Table 1",
    reported=formula_s2,
    measured=measured_s2,
    unit="MAdds",
)

# %% [markdown]
# Over the whole network at $\alpha = 1$, 224²: the bottlenecks' share of the cost, and the sum of
# the formula over the 17 blocks against the counter. The $t = 1$ first block has no expansion
# convolution, so its first term is absent (see "Table 4" below).

# %%
net = cost()
block_madds = {i: sum(l.madds for l in net.layers if l.name.startswith(f"bottlenecks.{i}.")) for i in range(17)}
h = 112
formula_net = []
for i, b in enumerate(block_specs()):
    t = b.hidden_channels // b.in_channels
    h_out = h // b.stride
    expand = h * h * b.in_channels * b.hidden_channels if t > 1 else 0
    formula_net.append(expand + h_out * h_out * b.hidden_channels * (3**2 + b.out_channels))
    h = h_out
ledger.check(
    "sec3.3-network-blocks",
    "The formula summed over the 17 bottleneck layers of Table 2 (α = 1, 224², no expansion conv for t = 1)",
    "Sec. 3.3, Table 2",
    reported=sum(formula_net),
    measured=sum(block_madds.values()),
    unit="MAdds",
)

# %% [markdown]
# ## Table 2 — the body, row by row
#
# The input column of Table 2: the input of the first layer of each row, as printed (height and
# channels; maps are square), then the output of the last one.

# %%
TABLE2_INPUTS = [  # "Input" column, as printed
    [224, 3], [112, 32], [112, 16], [56, 24], [28, 32], [14, 64], [14, 96], [7, 160], [7, 320], [7, 1280], [1, 1280],
]
first_of_row = [0]
for _, _, n, _ in BOTTLENECKS:
    first_of_row.append(first_of_row[-1] + n)
names = ["stem.conv"] + [f"bottlenecks.{i}" for i in first_of_row[:-1]] + ["last.conv", "pool", "classifier"]
shapes = {op.name: op.input_shape for op in operations(on_meta(MobileNetV2), (1, 3, 224, 224))}
shapes.update({l.name: l.input_shape for l in net.layers})
ledger.check(
    "table2-input-sizes",
    "Input size (height, channels) of each row: conv2d, 7 bottleneck sequences, conv2d 1×1, avgpool, conv2d 1×1",
    "Table 2",
    reported=TABLE2_INPUTS,
    measured=[[shapes[n][2], shapes[n][1]] for n in names],
)
ledger.check(
    "table2-output",
    "The last conv2d 1×1 maps 1 × 1 × 1280 to k = 1000 classes",
    "Table 2",
    reported=[1, 1000],
    measured=list(net.output_shape),
)
specs = block_specs()
# Read off the printed Table 2, not computed by the code under test: Fig. 4d draws the shortcut only in
# the stride-1 block, and a shortcut needs the input width (Table 2's "Input" column) to equal c. Per row
# (t, c, n, s): the first layer has stride s and the row's input width, every other one stride 1 and c → c.
TABLE2_RESIDUALS = [
    False,                      # 1, 16, 1, 1 — 112² × 32 → 16: widths differ
    False, True,                # 6, 24, 2, 2 — first at stride 2
    False, True, True,          # 6, 32, 3, 2
    False, True, True, True,    # 6, 64, 4, 2
    False, True, True,          # 6, 96, 3, 1 — 14² × 64 → 96: widths differ
    False, True, True,          # 6, 160, 3, 2
    False,                      # 6, 320, 1, 1 — 7² × 160 → 320: widths differ
]
ledger.check(
    "table2-residuals",
    "Residual connection exactly where stride is 1 and widths match (Fig. 4d): 10 of the 17 bottleneck layers",
    "Table 2 (Input and s columns), Fig. 4d",
    reported=TABLE2_RESIDUALS,
    measured=[m.use_residual for m in on_meta(MobileNetV2).bottlenecks],
)

# %% [markdown]
# "The architecture of MobileNetV2 contains the initial fully convolution layer with 32 filters,
# followed by 19 residual bottleneck layers described in the Table 2." The $n$ column of Table 2
# sums to $1 + 2 + 3 + 4 + 3 + 3 + 1 = 17$.

# %%
n_bottlenecks = len(on_meta(MobileNetV2).bottlenecks)
n_after_stem = n_bottlenecks + 2  # + conv2d 1×1 (1280) + conv2d 1×1 (k)
ledger.discrepant(
    "sec4-19-bottlenecks",
    "The initial 32-filter convolution is followed by 19 residual bottleneck layers",
    "Sec. 4",
    reported=19,
    measured=n_bottlenecks,
    pinned=17,
    unit="layers",
    reason=f"Table 2's n sum to {sum(n for *_, n, _ in BOTTLENECKS)} bottleneck layers, of which only "
    f"{sum(b.residual for b in specs)} have a residual connection. 19 is the number of layers after the initial "
    f"one if the two 1×1 convolutions of Table 2 are counted too ({n_bottlenecks} + 2 = {n_after_stem}); the "
    "paper does not say so — this is our reading.",
)

# %% [markdown]
# ## Width multiplier and the last layer (Sec. 4)
#
# "For multipliers less than one, we apply width multiplier to all layers except the very last
# convolutional layer." Widths are rounded with `make_divisible` (multiples of 8), as in the TF
# reference; for $\alpha > 1$ the last layer is scaled too.

# %%
ALPHAS = (0.35, 0.5, 0.75, 1.0)
ledger.check(
    "sec4-last-layer",
    "The last conv layer keeps 1280 channels at α = 0.35, 0.5, 0.75 (not thinned) and 1.0",
    "Sec. 4",
    reported=[LAST_CHANNELS] * len(ALPHAS),
    measured=[layer(cost(a), "last.conv").output_shape[1] for a in ALPHAS],
    unit="channels",
)
ledger.check(
    "sec4-last-layer-1.4",
    "For α > 1 the exception does not apply: at 1.4 the last layer is scaled too (wider than 1280)",
    "Sec. 4",
    reported=True,
    measured=layer(cost(1.4), "last.conv").output_shape[1] > LAST_CHANNELS,
)
print("last layer at 1.4:", last_width(1.4), "channels (make_divisible(1280 × 1.4) = 1792, TF reference)")


# %% [markdown]
# ## Table 4 and Sec. 4 — parameters and multiply-adds
#
# v4 prints 300M MAdds / 3.4M parameters for MobileNetV2 (1.0) and 585M / 6.9M for 1.4. Common
# implementations count about 3.5M and 6.1M. We compute the alternatives: what is counted
# (weights only; with batch norm and biases; without the classifier), whether the $t = 1$ first block
# has an expansion convolution, how widths are rounded at 1.4, and whether 1.4 scales the last layer.

# %%
def counts(c):
    cls = layer(c, "classifier")
    return {
        "MAdds (M)": c.madds / MILLION,
        "weights (M)": c.weight_params / MILLION,
        "all params (M)": c.params / MILLION,
        "weights w/o classifier (M)": (c.weight_params - cls.weights) / MILLION,
        "MAdds w/o classifier (M)": (c.madds - cls.madds) / MILLION,
    }


def with_first_expansion(c, width_multiplier):
    """Counts if the t = 1 first block also had a 1×1 'expansion' k → k at 112² (it has none in the TF reference)."""
    k = block_specs(width_multiplier)[0].in_channels
    out = counts(c)
    out["MAdds (M)"] += 112 * 112 * k * k / MILLION
    out["weights (M)"] += k * k / MILLION
    out["all params (M)"] += (k * k + 2 * k) / MILLION
    return out


variants = {
    "1.0 (TF reference)": counts(cost(1.0)),
    "1.0 + expansion in t=1 block": with_first_expansion(cost(1.0), 1.0),
    "1.4 (TF reference: ÷8 rounding, last layer 1792)": counts(cost(1.4)),
    "1.4, plain rounding (divisor 1)": counts(cost(1.4, channel_divisor=1)),
    "1.4, last layer kept at 1280": counts(cost(1.4, last_channels=1280)),
    "1.4 + expansion in t=1 block": with_first_expansion(cost(1.4), 1.4),
}
columns = list(next(iter(variants.values())))
print(f"{'variant':<50}" + "".join(f"{c:>28}" for c in columns))
for name, row in variants.items():
    print(f"{name:<50}" + "".join(f"{row[c]:>28.3f}" for c in columns))

# %%
v10, v14 = variants["1.0 (TF reference)"], variants["1.4 (TF reference: ÷8 rounding, last layer 1792)"]
exp10 = variants["1.0 + expansion in t=1 block"]
ledger.discrepant(
    "table4-v2-madds",
    "MobileNetV2 (1.0, 224²): 300M multiply-adds",
    "Table 4, Sec. 4",
    reported=300,
    measured=round(v10["MAdds (M)"], 2),
    pinned=300.77,
    unit="M",
    reason=f"We count {v10['MAdds (M)']:.2f}M (torchvision and the TF README agree: 300M there is this number truncated); "
    f"the printed 300 is truncated, not rounded. An expansion conv in the t=1 first block would give "
    f"{exp10['MAdds (M)']:.1f}M, so the paper's count has none, like the TF reference.",
)
ledger.discrepant(
    "table4-v2-params",
    "MobileNetV2 (1.0): 3.4M parameters",
    "Table 4, Sec. 4",
    reported=3.4,
    measured=round(v10["weights (M)"], 4),
    pinned=3.4698,
    unit="M",
    reason=f"Conv and classifier weights are {v10['weights (M)']:.4f}M (the TF README's 3.47M), truncated to 3.4; "
    f"with batch norm and the classifier bias {v10['all params (M)']:.4f}M (torchvision's 3,504,872, the "
    f"'about 3.5M' of other implementations); an expansion conv in the t=1 block would add only "
    f"{(exp10['weights (M)'] - v10['weights (M)']) * 1e6:.0f} weights. No count rounds to 3.4.",
)
ledger.discrepant(
    "table4-v2-1.4-madds",
    "MobileNetV2 (1.4, 224²): 585M multiply-adds",
    "Table 4, Sec. 4",
    reported=585,
    measured=round(v14["MAdds (M)"], 2),
    pinned=582.2,
    unit="M",
    reason=f"We count {v14['MAdds (M)']:.1f}M, the TF README's 582M. Plain rounding instead of ÷8 gives "
    f"{variants['1.4, plain rounding (divisor 1)']['MAdds (M)']:.1f}M, keeping the last layer at 1280 gives "
    f"{variants['1.4, last layer kept at 1280']['MAdds (M)']:.1f}M, an expansion in the t=1 block "
    f"{variants['1.4 + expansion in t=1 block']['MAdds (M)']:.1f}M: none is 585. Cause not established.",
)
ledger.discrepant(
    "table4-v2-1.4-params",
    "MobileNetV2 (1.4): 6.9M parameters",
    "Table 4, Sec. 4",
    reported=6.9,
    measured=round(v14["weights (M)"], 4),
    pinned=6.0598,
    unit="M",
    reason=f"We count {v14['weights (M)']:.2f}M weights ({v14['all params (M)']:.2f}M with batch norm and bias), the "
    f"TF README's 6.06M. No variant reaches 6.9M (plain rounding {variants['1.4, plain rounding (divisor 1)']['weights (M)']:.2f}M, "
    f"last layer 1280 {variants['1.4, last layer kept at 1280']['weights (M)']:.2f}M). 1.4² × "
    f"{v10['all params (M)']:.2f}M = {1.96 * v10['all params (M)']:.2f}M ≈ 6.9M: the printed value looks like an "
    "α² extrapolation, not a count (our hypothesis).",
)

# %% [markdown]
# "The network computational cost ranges from 7 multiply adds to 585M MAdds, while the model size
# vary between 1.7M and 6.9M parameters" (Sec. 4; "7" is missing its unit). The smallest network
# of the sweep is 0.35 at 96².

# %%
small = cost(0.35, 96)
ledger.check(
    "sec4-smallest-params",
    "Smallest model (α = 0.35): 1.7M parameters",
    "Sec. 4",
    reported=1.7,
    measured=small.weight_params / MILLION,
    unit="M",
    tolerance=0.05,
    why="the paper rounds to 0.1M",
)
ledger.discrepant(
    "sec4-smallest-madds",
    "Smallest model (α = 0.35, 96²): '7 multiply adds' (7M)",
    "Sec. 4",
    reported=7,
    measured=round(small.madds / MILLION, 2),
    pinned=11.93,
    unit="M",
    reason=f"0.35 at 96² costs {small.madds / MILLION:.2f}M (the TF README lists 11M); 7M is not reached by any "
    "multiplier ≥ 0.35 at ≥ 96². The printed '7' has no unit either: likely a typo.",
)

# %% [markdown]
# Table 4 lists MobileNetV1 at 4.2M parameters and **575M** MAdds; the MobileNetV1 paper prints 569M.

# %%
v1 = analyse(on_meta(MobileNetV1), (1, 3, 224, 224))
ledger.check("table4-v1-params", "MobileNetV1: 4.2M parameters", "Table 4",
             reported=4.2, measured=v1.weight_params / MILLION, unit="M", tolerance=0.05, why="the paper rounds to 0.1M")
ledger.discrepant(
    "table4-v1-madds",
    "MobileNetV1: 575M multiply-adds",
    "Table 4",
    reported=575,
    measured=round(v1.madds / MILLION, 2),
    pinned=568.74,
    unit="M",
    reason=f"refimpl.mobilenet_v1 counts {v1.madds / MILLION:.2f}M, which is the MobileNetV1 paper's own 569M "
    "(Howard2017arxiv, Tables 4 and 6). Where 575M comes from is not established.",
)

# %% [markdown]
# ## Table 3 and Sec. 5.1 — memory
#
# Table 3 gives, per spatial resolution, "the max number of channels/memory (in Kb) that needs to be
# materialized", with 16-bit activations. Sec. 5.1 explains why V2 needs little: treating each
# bottleneck block as one operation, the memory is $\max_{op}\big(\sum |op_{inp}| + \sum |op_{out}|\big)$
# (Eq. 2), and for a block
#
# $$|s^2 k| + |s'^2 k'| + O(\max(s^2, s'^2))$$
#
# because the expanded tensor $s^2 \cdot tk$ can be computed $n/t$ channels at a time and never
# materialised. `operations()` lists the operations (a bottleneck block is one; each V1
# convolution is one) with their input and output. We read the tensors off it, per resolution.
#
# **Which version.** v4 (the version pinned here) prints a 112² row (V1 64/1600, V2 16/400) and the
# max row **1600K / 400K**. Another arXiv version (earlier — v4 is the last; the copy we saw does not
# name its number) prints the 112² row as "1/O(1)" for all networks and max **800K / 200K**.

# %%
BYTES = 2  # 16-bit floats
KB = 1000  # the printed values fit 1 Kb = 1000 bytes (e.g. 14²·160·2 = 62,720 → "62")
RESOLUTIONS = (112, 56, 28, 14, 7, 1)


def tensors(ops, first_layer_trick=False):
    """Every tensor read or written by an operation, as (resolution, channels); optionally without the stem output."""
    found = []
    for i, op in enumerate(ops):
        for shape in (op.input_shape, op.output_shape):
            if first_layer_trick and i <= 1 and shape == ops[0].output_shape:
                continue  # stem + first block as one operation: its 112² × 32 output is never materialised
            found.append((shape[2] if len(shape) == 4 else 1, shape[1]))
    return found


def widest(found):
    return [max((c for r, c in found if r == res), default=0) for res in RESOLUTIONS]


ops_v1 = operations(on_meta(MobileNetV1), (1, 3, 224, 224))
ops_v2 = operations(on_meta(MobileNetV2), (1, 3, 224, 224))
channels_v1 = widest(tensors(ops_v1))
channels_v2 = widest(tensors(ops_v2, first_layer_trick=True))
memory = {name: [r * r * c * BYTES / KB for r, c in zip(RESOLUTIONS, ch)] for name, ch in (("v1", channels_v1), ("v2", channels_v2))}
for name, ch in (("MobileNetV1", channels_v1), ("MobileNetV2", channels_v2)):
    key = "v1" if name.endswith("1") else "v2"
    print(name, " | ".join(f"{r}²: {c}/{m:.1f}" for r, c, m in zip(RESOLUTIONS, ch, memory[key])))

ledger.check(
    "table3-v1-channels",
    "MobileNetV1: widest tensor at 112², 56², 28², 14², 7², 1²",
    "Table 3",
    reported=[64, 128, 256, 512, 1024, 1024],
    measured=channels_v1,
    unit="channels",
)
ledger.discrepant(
    "table3-v2-channels",
    "MobileNetV2: widest bottleneck tensor at 112², 56², 28², 14², 7², 1² (first-layer trick at 112²)",
    "Table 3",
    reported=[16, 32, 64, 160, 320, 1280],
    measured=channels_v2,
    pinned=[16, 24, 32, 96, 1280, 1280],
    unit="channels",
    reason="The printed V2 column lists, for 56², 28², 14², the width of the next stride-2 sequence (32, 64, 160), "
    "whose tensors live at the next resolution: no 32-channel tensor exists at 56² (Table 2's own input column "
    "says 56² × 24). At 7² the 7² × 1280 output of the last 1×1 conv is the widest tensor; the table lists 1280 "
    "only at 1×1.",
)
ledger.check(
    "table3-max-v1",
    "Peak activation memory, MobileNetV1 (widest single tensor, 16-bit): 1600K",
    "Table 3 (v4)",
    reported=1600,
    measured=max(memory["v1"]),
    unit="Kb",
    tolerance=50,
    why="the max row is printed to two significant figures (1600 ± 50); the 112² row itself prints 1600 for 112²·64·2 B",
)
ledger.check(
    "table3-max-v2",
    "Peak activation memory, MobileNetV2 (widest bottleneck tensor, first layer fused with the trick of Sec. 5.1): 400K",
    "Table 3 (v4)",
    reported=400,
    measured=max(memory["v2"]),
    unit="Kb",
    tolerance=5,
    why="the max row is printed to two significant figures (400 ± 5)",
)

# %% [markdown]
# The same count by Eq. 2 — inputs **plus** outputs of each operation — gives more for both
# networks, and the earlier version's 112²-free maximum does not give V2's 200K.

# %%
eq2 = {
    name: max(op.input_elements + op.output_elements for op in ops) * BYTES / KB
    for name, ops in (("v1", ops_v1), ("v2", ops_v2))
}
fused = [(ops_v2[0].input_elements + ops_v2[1].output_elements)] + [o.input_elements + o.output_elements for o in ops_v2[2:]]
eq2_fused = max(fused) * BYTES / KB
ledger.discrepant(
    "table3-max-eq2",
    "Peak memory by Eq. 2 (max over operations of input + output; a V2 bottleneck is one operation), V1 and V2",
    "Table 3 (v4), Sec. 5.1 Eq. 2",
    reported=[1600, 400],
    measured=[round(eq2["v1"], 1), round(eq2["v2"], 1)],
    pinned=[2408.4, 1204.2],
    unit="Kb",
    reason=f"Eq. 2 counts input and output: V1's worst layer is the 112² pointwise 32 → 64 (96 channels, "
    f"{eq2['v1']:.0f}K), V2's the first block 112² × 32 → 112² × 16 ({eq2['v2']:.0f}K; {eq2_fused:.0f}K with the stem "
    "fused into it). Table 3 counts the single widest tensor instead; either way V2 needs 2–4× less.",
)
without_112 = [max(m[1:]) for m in (memory["v1"], memory["v2"])]
ledger.discrepant(
    "table3-max-earlier-version",
    "Earlier arXiv version: max 800K (V1) / 200K (V2), with the 112² row as '1/O(1)'",
    "Table 3 (earlier arXiv version)",
    reported=[800, 200],
    measured=[round(v, 1) for v in without_112],
    pinned=[802.8, 150.5],
    unit="Kb",
    reason="Leaving 112² out, V1's widest tensor is 56² × 128 = 803K (the printed 800K); V2's is 56² × 24 = 151K. "
    "The printed 200K is 56² × 32 — the shifted width of table3-v2-channels.",
)

fig, ax = plt.subplots(figsize=(7.2, 3.6))
x = np.arange(len(RESOLUTIONS))
ax.bar(x - 0.2, memory["v1"], 0.4, label="MobileNetV1 (measured)")
ax.bar(x + 0.2, memory["v2"], 0.4, label="MobileNetV2 (measured)")
printed = {"v1": [1600, 800, 400, 200, 199, 2], "v2": [400, 200, 100, 62, 32, 2]}  # Table 3 (v4), Kb
ax.scatter(x - 0.2, printed["v1"], color="C3", zorder=3, marker="x", label="Table 3 v4, V1")
ax.scatter(x + 0.2, printed["v2"], color="k", zorder=3, marker="+", label="Table 3 v4, V2")
ax.set(xticks=x, xticklabels=[f"{r}²" for r in RESOLUTIONS], yscale="log", ylabel="Kb (16-bit)",
       xlabel="resolution", title="Widest materialised tensor per resolution")
fig.legend(loc="outside lower center", ncol=2)
figures.show(
    fig,
    caption="Memory of the widest tensor that must be materialised at each resolution (16-bit values), measured "
    "for MobileNetV1 and V2 (bars) against Table 3 of v4 (markers). V2 needs far less at every resolution "
    f"except 7² and 1²: its peak is {max(memory['v2']):.0f}K against V1's {max(memory['v1']):.0f}K. Markers off "
    "their bars (printed and measured more than 5 % and 1K apart): "
    + ", ".join(f"{name.upper()} at {r}²" for name in printed for r, p, m in zip(RESOLUTIONS, printed[name], memory[name])
                if abs(p - m) > max(0.05 * p, 1))
    + "; V2's printed column lists other widths there (table3-v2-channels).",
    alt="Bar chart on a logarithmic axis, two bars per resolution (112² to 1²). MobileNetV1 measured: "
    + ", ".join(f"{r}² {m:.0f}K" for r, m in zip(RESOLUTIONS, memory["v1"])) + ". MobileNetV2 measured: "
    + ", ".join(f"{r}² {m:.0f}K" for r, m in zip(RESOLUTIONS, memory["v2"]))
    + f". Table 3 prints {', '.join(map(str, printed['v1']))} for V1 and {', '.join(map(str, printed['v2']))} for V2.",
)

# %% [markdown]
# ## Figure 1 — ReLU on a low-dimensional manifold
#
# "The initial spiral is embedded into an $n$-dimensional space using random matrix $T$ followed by
# ReLU, and then projected back to the 2D space using $T^{-1}$. In examples above $n = 2, 3$ result
# in information loss where certain points of the manifold collapse into each other, while for
# $n = 15$ to $30$ the transformation is highly non-convex."
#
# We take $T \in \mathbb{R}^{n \times 2}$ Gaussian and $T^{-1}$ its pseudo-inverse. Two
# measures of what is lost, averaged over 50 random $T$ per $n$:
#
# * **collapse**: the fraction of spiral points where fewer than 2 of the $n$ ReLU outputs are
#   active — there the map has rank < 2 and neighbouring points fall onto each other;
# * **reconstruction error**: the residual of the best affine map from $T^{-1}\mathrm{ReLU}(Tx)$ back
#   to $x$, relative to the spiral's variance (0 = nothing lost but a linear distortion).

# %%
def spiral(points=600):
    theta = np.linspace(0.5, 4 * np.pi, points)
    return np.stack([theta * np.cos(theta), theta * np.sin(theta)], 1) / (4 * np.pi)  # (P, 2)


def relu_round_trip(x, n, generator):
    T = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    x = torch.as_tensor(x)
    y = torch.relu(x @ T.T)  # (P, n)
    return (y @ torch.linalg.pinv(T).T).numpy(), (y > 0).sum(1).numpy()  # back in 2-D; active channels


def affine_error(x, x_hat):
    design = np.hstack([x_hat, np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    return float(((design @ coef - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())


DIMS = (2, 3, 5, 15, 30)
DRAWS = 50
x = spiral()
generator = torch.Generator().manual_seed(0)
collapse, error = {}, {}
for n in DIMS:
    c, e = [], []
    for _ in range(DRAWS):
        x_hat, active = relu_round_trip(x, n, generator)
        c.append(float((active < 2).mean()))
        e.append(affine_error(x, x_hat))
    collapse[n], error[n] = float(np.mean(c)), float(np.mean(e))
print("n:                    ", "  ".join(f"{n:>7}" for n in DIMS))
print("collapsed fraction:   ", "  ".join(f"{collapse[n]:7.4f}" for n in DIMS))
print("reconstruction error: ", "  ".join(f"{error[n]:7.4f}" for n in DIMS))

ledger.check(
    "fig1-error-falls",
    "ReLU(Tx) projected back with T⁻¹ loses less of the spiral as n grows: error falls at each step n = 2→3→5→15→30",
    "Fig. 1, Sec. 3.2",
    reported=[True] * (len(DIMS) - 1),
    measured=[error[b] < error[a] for a, b in zip(DIMS, DIMS[1:])],
)
ledger.check(
    "fig1-collapse",
    "n = 2, 3: points of the manifold collapse into each other (collapsed fraction > 5 %); n = 15, 30: none do (< 0.1 %)",
    "Fig. 1",
    reported=[True, True, True, True],
    measured=[collapse[2] > 0.05, collapse[3] > 0.05, collapse[15] < 1e-3, collapse[30] < 1e-3],
)

generator = torch.Generator().manual_seed(1)
fig, axes = plt.subplots(2, 3, figsize=(7.2, 5.0))
colour = np.linspace(0, 1, len(x))
points = axes[0, 0].scatter(x[:, 0], x[:, 1], c=colour, s=2, cmap="viridis")
axes[0, 0].set_title("input spiral")
for ax, n in zip(axes.flat[1:], DIMS):
    x_hat, _ = relu_round_trip(x, n, generator)
    ax.scatter(x_hat[:, 0], x_hat[:, 1], c=colour, s=2, cmap="viridis")
    ax.set_title(f"n = {n}: error {error[n]:.3f}")
for ax in axes.flat:
    ax.set(xticks=[], yticks=[], aspect="equal")
bar = fig.colorbar(points, ax=axes, location="bottom", shrink=0.5, ticks=[0, 1])
bar.set_label("position along the spiral")
bar.ax.set_xticklabels(["centre", "outer end"])
figures.show(
    fig,
    caption="Fig. 1 redrawn: the 2-D spiral (colour: position along it) mapped to n dimensions by a random "
    "matrix T, through ReLU, and back with T's pseudo-inverse, for one draw of T per n. Read the shapes and the "
    "errors (the reconstruction error averaged over 50 draws): for n = 2 and 3 whole stretches of the spiral "
    "collapse onto lines and the error is high; from n = 15 the spiral comes back, distorted but whole.",
    alt="Six scatter plots of 600 points coloured from purple at the spiral's centre to yellow at its outer "
    "end. The first is the input spiral. The next five are the round trips for n = "
    + ", ".join(f"{n} (error {error[n]:.3f})" for n in DIMS)
    + ": at n = 2 and 3 parts of the spiral are folded flat onto straight segments; at 15 and 30 the "
    "spiral is recognisable, bent and stretched.",
)

# %% [markdown]
# ## Peer cross-check — timm 1.0.31 (outside the paper)
#
# timm's `mobilenetv2_035`, `mobilenetv2_100` and `mobilenetv2_140` are the networks of the TF
# reference that refimpl follows. `tests/test_peers.py` builds each with random weights and random
# batch-norm statistics, loads its state dict into `MobileNetV2` by position with `refimpl.loaders`
# (314 tensors; timm's `nn.Linear` classifier reshaped to our 1×1 convolution; batch-norm ε = 1e-5,
# timm's training convention, instead of the TF reference's 1e-3), and asserts **same weights → same
# logits** at 224, 193, 160 and 128 px (float32 rounding; to 1e-10 in float64), the same parameters
# and output shape block by block, and the same multiply-adds. timm's own counts, recorded in
# `refimpl.loaders.TIMM_MODELS` and recomputed from timm by that test, against ours (timm is a test
# dependency only):

# %%
from refimpl.loaders import TIMM_MODELS, TIMM_VERSION  # noqa: E402

V2_PEERS = {"mobilenetv2_035": 0.35, "mobilenetv2_100": 1.0, "mobilenetv2_140": 1.4}
ledger.reference("peer-timm-params", "Parameters of MobileNetV2 at α = 0.35, 1.0, 1.4, every tensor (weights, biases, batch norm)",
                 f"timm {TIMM_VERSION} mobilenetv2_035, mobilenetv2_100, mobilenetv2_140 (sum of their parameters)",
                 reference=[TIMM_MODELS[name].parameters for name in V2_PEERS],
                 measured=[cost(alpha).params for alpha in V2_PEERS.values()])
ledger.reference("peer-timm-tensors", "State-dict entries at α = 0.35, 1.0, 1.4 (batch-norm counters included), mapped one to one",
                 f"timm {TIMM_VERSION} mobilenetv2_035, mobilenetv2_100, mobilenetv2_140 (len(state_dict()))",
                 reference=[TIMM_MODELS[name].tensors for name in V2_PEERS],
                 measured=[len(on_meta(MobileNetV2, alpha).state_dict()) for alpha in V2_PEERS.values()])

# %% [markdown]
# ## Results that need data or a phone
#
# SSDLite (Table 5) is a detection head that `refimpl` does not implement; its numbers are recorded
# as printed.

# %%
NEEDS_DATA = "needs the data set and training, which this project does not do"
ledger.reported("table4-imagenet-top1", "ImageNet top-1: MobileNetV2 72.0 %, MobileNetV2 (1.4) 74.7 %, MobileNetV1 70.6 %, "
                "ShuffleNet (1.5) 71.5 %, ShuffleNet (x2) 73.7 %, NasNet-A 74.0 %", "Table 4",
                reported=[72.0, 74.7, 70.6, 71.5, 73.7, 74.0], unit="%", reason="needs ImageNet training")
ledger.reported("table4-pixel1-latency", "Pixel 1 CPU (TF-Lite, one large core): V2 75 ms, V2 (1.4) 143 ms, V1 113 ms, "
                "NasNet-A 183 ms", "Table 4", reported=[75, 143, 113, 183], unit="ms",
                reason="needs a Google Pixel 1 phone and TF-Lite")
ledger.reported("table5-ssdlite", "SSD vs SSDLite head on MobileNetV2, 80 classes: 14.8M / 1.25B MAdds vs 2.1M / 0.35B",
                "Table 5", reported=[14.8, 1.25, 2.1, 0.35], unit="M params, B MAdds",
                reason="the SSD/SSDLite prediction layers are not implemented in refimpl")
ledger.reported("table6-coco", "COCO test-dev mAP at 320²: MNet V2 + SSDLite 22.1 (4.3M, 0.8B, 200 ms), MNet V1 + SSDLite 22.2 "
                "(5.1M, 1.3B, 270 ms), YOLOv2 21.6 (50.7M, 17.5B), SSD300 23.2, SSD512 26.8", "Table 6",
                reported=[22.1, 22.2, 21.6, 23.2, 26.8], unit="% mAP", reason=NEEDS_DATA)
ledger.reported("table7-voc", "PASCAL VOC 2012 val mIOU, DeepLabv3: MNet V2* OS16 + ASPP 75.70 (4.52M, 5.8B); MNet V2* OS16 no "
                "ASPP 75.32 (2.11M, 2.75B); MNet V1 OS16 + ASPP 75.29 (11.15M, 14.25B); ResNet-101 OS16 + ASPP 80.49 "
                "(58.16M, 81.0B)", "Table 7", reported=[75.70, 75.32, 75.29, 80.49], unit="% mIOU", reason=NEEDS_DATA)
ledger.reported("fig6-linear-bottleneck", "Linear bottlenecks beat ReLU6 in the bottleneck; shortcuts between bottlenecks beat "
                "shortcuts between expansions and no residual (ImageNet top-1 curves)", "Fig. 6, Sec. 6.4",
                reported="linear > ReLU6; bottleneck shortcut > expansion shortcut > none",
                reason="needs ImageNet training")

# %% [markdown]
# ## 实验 at toy scale — what the paper found, re-run
#
# MobileNetV2's Fig. 6a (linear bottleneck vs ReLU6 in the bottleneck), re-run at **toy scale** on real data (Fashion-MNIST, from Debian's `dataset-fashion-mnist`) with the
# paper's own blocks from `refimpl/`. The configuration, the arms, the seeds $0 \ldots n-1$ and the decision rule
# (the paired difference over seeds and its 95 % interval) are fixed in `experiments/Sandler2018CVPR.py` before the first run;
# every run is shown. The runs are frozen in `experiments/_freeze/Sandler2018CVPR/` with their provenance: nothing trains
# here, and `kb reproduce Sandler2018CVPR` re-runs them. If a file the runs used changes, the claims below turn **stale**.
# A verdict holds for this toy setting only, not for ImageNet.

# %%
from kb.experiment import load as load_experiments

for experiment in load_experiments(ledger.paper):
    ledger.experiment(experiment)

# %%
ledger.summary()
