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
# # ResNet — the claims, checked (He2016CVPR)
#
# He K., et al., *Deep Residual Learning for Image Recognition*, CVPR 2016, arXiv:1512.03385**v1**
# (10 Dec 2015, the version that matches the CVPR paper). Every measured value below is computed
# from `refimpl.resnet` and `refimpl.residual` in this run; structural values (parameters,
# multiply-adds, shapes) come from `refimpl.analysis.analyse`, which runs the model on PyTorch's
# `meta` device. Reported values are the numbers exactly as v1 prints them, with their table or
# section.
#
# **How we count.** The paper's "FLOPs" are multiply-adds: "Our 34-layer baseline has 3.6 billion
# FLOPs (multiply-adds)" (Sec. 3.3). We count the multiply-adds of the convolutions and the fully
# connected layer; batch norm, ReLU, pooling and the shortcut additions are free, as in the paper
# ("The shortcut connections introduce neither extra parameter nor computation complexity",
# Sec. 3.1). Parameters are all of them: convolution and fc weights, the fc bias, batch-norm
# scales and shifts.

# %%
import matplotlib.pyplot as plt
import numpy as np

from kb import figures
from kb.claims import Ledger
from refimpl.analysis import analyse, on_meta
from refimpl.residual import Bottleneck
from refimpl.resnet import (
    DEPTHS,
    STAGES,
    VGG,
    CifarResNet,
    ResNet,
    cifar_n,
    projection_shortcuts,
    weighted_layers,
)

ledger = Ledger("He2016CVPR")
figures.style()  # readable figures: fonts of 9 pt and more at the page's width
BILLION, MILLION = 1e9, 1e6
IMAGENET, CIFAR = (1, 3, 224, 224), (1, 3, 32, 32)

# Table 2 and Table 3 compare the 18/34-layer nets with option A; "We use option B for increasing
# dimensions" for the 50/101/152-layer nets (Sec. 4.1, "Deeper Bottleneck Architectures").
TABLE1_SHORTCUT = {18: "A", 34: "A", 50: "B", 101: "B", 152: "B"}


def imagenet(depth, **options):
    """analyse() of ResNet-depth at 224², with Table 1's shortcut option unless another is given."""
    options.setdefault("shortcut", TABLE1_SHORTCUT[depth])
    return analyse(on_meta(ResNet, depth, **options), IMAGENET)


def last_output(cost, prefix):
    """Output shape of the last leaf module whose name starts with ``prefix`` (a Table 1 layer name)."""
    return [l for l in cost.layers if l.name.startswith(prefix + ".")][-1].output_shape


resnets = {d: imagenet(d) for d in DEPTHS}
plain34 = imagenet(34, shortcut=None)
vgg = {d: analyse(on_meta(VGG, d), IMAGENET) for d in (16, 19)}

# %%
from refimpl.diagram import show_architecture  # noqa: E402

show_architecture(
    on_meta(ResNet, 34, shortcut=TABLE1_SHORTCUT[34]), IMAGENET, name="ResNet-34",
    caption="ResNet-34 (Fig. 3, right; Table 1) on a 224 × 224 image, drawn from `refimpl.resnet` run on the "
    "meta device: conv1 and the max pool bring the side to 56, then the basic blocks of conv2_x … conv5_x (one "
    "box per stage, its block count below); conv3_1, conv4_1 and conv5_1 halve the side and double the width. "
    "The shortcuts lie inside each block, so no bracket is drawn. 残差连接在每个块的内部。",
)

# %% [markdown]
# ## Table 1 — the architectures
#
# The table prints, per column, the layers of each stage and the network's FLOPs. Its output-size
# column is the same for every depth: conv1 is a $7 \times 7$ convolution with stride 2 (112²),
# the max pool halves again (56²), and "downsampling is performed by conv3_1, conv4_1, and conv5_1
# with a stride of 2" (28², 14², 7²).

# %%
LAYER_NAMES = ["conv1"] + [stage.layer_name for stage in STAGES]


def output_side(name):
    """Side of the map after layer ``name``: one number when all five depths agree, else the five (which fails)."""
    sides = [last_output(resnets[d], name)[-1] for d in DEPTHS]
    return sides[0] if len(set(sides)) == 1 else sides


ledger.table(
    "table1-output-size",
    "Output size (side of the square map) after each layer, the same in all five networks",
    "Table 1",
    rows=LAYER_NAMES,
    columns=["output size"],
    reported=[[112], [56], [28], [14], [7]],
    measured=[[output_side(name)] for name in LAYER_NAMES],
    unit="px",
)
ledger.check(
    "table1-depth",
    "The columns are 18-, 34-, 50-, 101- and 152-layer nets: conv1, the block convolutions and the fc",
    "Table 1",
    reported=[18, 34, 50, 101, 152],
    measured=[weighted_layers(on_meta(ResNet, d)) for d in DEPTHS],
    unit="layers",
)

# %% [markdown]
# **FLOPs.** The 18- and 34-layer columns are measured with option A (zero-padding, no extra
# multiply-adds), the networks of Table 2; the 50-, 101- and 152-layer columns with option B, which
# Sec. 4.1 names for them. The bottleneck's stride sits in its first $1 \times 1$ convolution, as in
# the Caffe models released with the paper. The 50-layer cell is the one that does not round to
# the printed value; below the table we show why it is not the stride position.

# %%
ROW = "FLOPs"
flops = [round(resnets[d].madds / BILLION, 3) for d in DEPTHS]
ledger.table(
    "table1-flops",
    "Multiply-adds of each network at 224 × 224",
    "Table 1 (bottom row), Sec. 4.1",
    rows=[ROW],
    columns=[f"{d}-layer" for d in DEPTHS],
    reported=[[1.8, 3.6, 3.8, 7.6, 11.3]],
    measured=[flops],
    unit="×10⁹",
    decimals=1,
    discrepant={
        (ROW, "50-layer"): (
            3.858,
            "3.858 × 10⁹ rounds to 3.9, the paper prints 3.8 (also Sec. 4.1: 'This model has 3.8 billion "
            "FLOPs'). Not the stride position: with the stride in the 3×3 it is 4.089. Not the projections: "
            "without any (option A) it is 3.498. Truncation would explain 3.8, but then 101 and 152 layers "
            "would print 7.5 and 11.2, not 7.6 and 11.3. We found no single counting that gives all five; "
            "the difference is 1.5 %.",
        )
    },
)
stride_3x3 = {d: imagenet(d, stride_at="3x3").madds / BILLION for d in (50, 101, 152)}
print("stride in the 3×3 (torchvision's 'v1.5'):", {d: round(v, 3) for d, v in stride_3x3.items()},
      "— would print 4.1, 7.8, 11.5 against the paper's 3.8, 7.6, 11.3")
print("50-layer with option A (no projections):", round(imagenet(50, shortcut="A").madds / BILLION, 3))

# %% [markdown]
# The multiply-adds per stage show where the cost of the deeper networks goes: conv4_x, the stage
# that grows from 6 to 23 and 36 blocks.

# %%
fig, ax = plt.subplots(figsize=(7.2, 3.4))
bottom = np.zeros(len(DEPTHS))
per_stage = {}
for name in LAYER_NAMES + ["fc"]:
    per_stage[name] = np.array([
        sum(l.madds for l in resnets[d].layers if l.name == name or l.name.startswith(name + ".")) / BILLION
        for d in DEPTHS
    ])
    ax.bar([f"{d}-layer" for d in DEPTHS], per_stage[name], bottom=bottom, label=name)
    bottom += per_stage[name]
ax.set_ylabel("multiply-adds (×10⁹)")
ax.set_title("Table 1 networks at 224²: multiply-adds per stage (measured)")
handles, labels = ax.get_legend_handles_labels()
fig.legend(handles[::-1], labels[::-1], title="stage", loc="outside right upper")  # in the order of the stack
conv4 = per_stage["conv4_x"]
conv4_largest = [d for i, d in enumerate(DEPTHS) if max(per_stage, key=lambda n: per_stage[n][i]) == "conv4_x"]
figures.show(
    fig,
    caption="Multiply-adds of the five Table 1 networks at 224², measured on the meta device and stacked by "
    f"stage. Read the red conv4_x band: it grows from {conv4[2]:.2f} to {conv4[4]:.2f} ×10⁹ between the 50- and the "
    f"152-layer network and makes {conv4[4] / bottom[4]:.0%} of the 152-layer total, because conv4_x is the stage "
    "that goes from 6 to 23 and 36 blocks.",
    alt="Stacked bar chart, one bar per network: "
    + ", ".join(f"{d} layers {total:.1f}" for d, total in zip(DEPTHS, bottom))
    + " ×10⁹ multiply-adds in all. Segments from the bottom: conv1, conv2_x, conv3_x, conv4_x, conv5_x and fc. "
    f"The conv4_x segment is {conv4[0]:.2f}, {conv4[1]:.2f}, {conv4[2]:.2f}, {conv4[3]:.2f} and {conv4[4]:.2f} ×10⁹ "
    f"and is the largest segment of the {', '.join(map(str, conv4_largest))}-layer bars; the fc segment is too thin to see.",
)

# %% [markdown]
# ## Sec. 3.3 — plain network, VGG-19 and the shortcuts
#
# "Our 34-layer baseline has 3.6 billion FLOPs (multiply-adds), which is only 18% of VGG-19
# (19.6 billion FLOPs)." The baseline is the plain network of Fig. 3 (middle): Table 1's 34-layer
# column without shortcuts. VGG-19 is configuration E of Simonyan & Zisserman, with its three
# fully connected layers.

# %%
ledger.check(
    "sec3.3-plain34-flops",
    "The 34-layer plain baseline has 3.6 billion FLOPs (multiply-adds)",
    "Sec. 3.3",
    reported=3.6,
    measured=round(plain34.madds / BILLION, 3),
    unit="×10⁹",
    tolerance=0.05,
    why="the paper prints one decimal",
)
ledger.check(
    "sec3.3-vgg19-flops",
    "VGG-19 has 19.6 billion FLOPs",
    "Sec. 3.3",
    reported=19.6,
    measured=round(vgg[19].madds / BILLION, 3),
    unit="×10⁹",
    tolerance=0.05,
    why="the paper prints one decimal",
)
ledger.discrepant(
    "sec3.3-plain34-vs-vgg19",
    "The 34-layer baseline's FLOPs are only 18% of VGG-19's",
    "Sec. 3.3",
    reported=18,
    measured=round(100 * plain34.madds / vgg[19].madds, 1),
    pinned=18.6,
    unit="%",
    reason="the paper divides its rounded figures, 3.6 / 19.6 = 18.4 %; the unrounded counts give "
    "3.644 / 19.632 = 18.6 %, which would print 19 %",
)

# %% [markdown]
# Option A "introduces no extra parameter" (Sec. 3.3), and identity shortcuts add no computation
# (Sec. 3.1): the 34-layer residual net with option A has exactly the parameters and
# multiply-adds of the plain one. Option B adds projections only where the dimensions increase
# (3 of ResNet-34's 16 shortcuts); option C makes all 16 projections, "many (thirteen) projection
# shortcuts" more than B (Sec. 4.1).

# %%
resnet34 = {option: imagenet(34, shortcut=option) for option in ("A", "B", "C")}
ledger.check(
    "sec3.3-option-a-no-parameters",
    "Option A introduces no extra parameter: ResNet-34 A minus plain-34",
    "Sec. 3.3",
    reported=0,
    measured=resnet34["A"].params - plain34.params,
    unit="parameters",
)
ledger.check(
    "sec3.1-identity-no-flops",
    "Identity shortcuts introduce no computational complexity: ResNet-34 A minus plain-34",
    "Sec. 3.1",
    reported=0,
    measured=resnet34["A"].madds - plain34.madds,
    unit="multiply-adds",
)
ledger.check(
    "sec4.1-thirteen-projections",
    "Option C has many (thirteen) more projection shortcuts than option B in ResNet-34",
    "Sec. 4.1",
    reported=13,
    measured=projection_shortcuts(on_meta(ResNet, 34, shortcut="C")) - projection_shortcuts(on_meta(ResNet, 34, shortcut="B")),
    unit="shortcuts",
)
print({option: f"{c.params:,} parameters, {c.madds / BILLION:.3f}×10⁹ multiply-adds" for option, c in resnet34.items()})

# %% [markdown]
# ## Sec. 4.1 — bottlenecks and the deeper networks
#
# Fig. 5 (right): for a 256-d input, "1×1, 64", "3×3, 64", "1×1, 256". "If the identity shortcut in
# Fig. 5 (right) is replaced with projection, one can show that the time complexity and model size
# are doubled, as the shortcut is connected to the two high-dimensional ends."

# %%
block = on_meta(Bottleneck, 256, 64)
ledger.check(
    "fig5-bottleneck-widths",
    "Bottleneck for a 256-d input: 1×1, 64 → 3×3, 64 → 1×1, 256 (output channels of each convolution)",
    "Fig. 5 (right)",
    reported=[64, 64, 256],
    measured=[block.reduce.conv.out_channels, block.conv.conv.out_channels, block.restore.conv.out_channels],
    unit="channels",
)
identity = analyse(block, (1, 256, 56, 56))
projected = analyse(on_meta(Bottleneck, 256, 64, shortcut="C"), (1, 256, 56, 56))
ledger.check(
    "sec4.1-projection-doubles-bottleneck",
    "A projection shortcut on the 256-d bottleneck doubles its time complexity and model size (ratios to identity)",
    "Sec. 4.1",
    reported=[2, 2],
    measured=[round(projected.madds / identity.madds, 2), round(projected.params / identity.params, 2)],
    unit="×",
    tolerance=0.1,
    why="'doubled' is the paper's word, not a printed ratio: the 256×256 projection adds 65,536 weights "
    "to the block's 69,632, a factor 1.94",
)
ledger.discrepant(
    "sec4.1-vgg16-flops",
    "VGG-16 has 15.3 billion FLOPs",
    "Sec. 4.1",
    reported=15.3,
    measured=round(vgg[16].madds / BILLION, 3),
    pinned=15.470,
    unit="×10⁹",
    reason="with its fully connected layers VGG-16 has 15.470 × 10⁹ multiply-adds (15.5); the paper's 15.3 "
    "matches the convolutions alone (15.347), while its VGG-19 figure, 19.6, includes the fully connected "
    "layers (convolutions alone: 19.508). The paper counts the two VGG nets differently.",
)
ledger.check(
    "sec4.1-152-below-vgg",
    "The 152-layer ResNet (11.3 billion FLOPs) still has lower complexity than VGG-16/19",
    "Sec. 4.1",
    reported=True,
    measured=bool(resnets[152].madds < vgg[16].madds < vgg[19].madds),
)
ledger.check(
    "abstract-8x-deeper",
    "Residual nets with a depth of up to 152 layers are 8× deeper than VGG nets (VGG-19)",
    "Abstract",
    reported=8,
    measured=weighted_layers(on_meta(ResNet, 152)) / weighted_layers(on_meta(VGG, 19)),
    unit="×",
)

# %% [markdown]
# ## Sec. 4.2 — CIFAR-10
#
# "Then we use a stack of 6n layers with 3×3 convolutions on the feature maps of sizes {32, 16, 8}
# respectively, with 2n layers for each feature map size. The numbers of filters are {16, 32, 64}
# respectively. [...] There are totally 6n+2 stacked weighted layers." "When shortcut connections
# are used, they are connected to the pairs of 3×3 layers (totally 3n shortcuts)." "We use identity
# shortcuts in all cases (i.e., option A), so our residual models have exactly the same depth,
# width, and number of parameters as the plain counterparts."

# %%
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)
cifar = {d: analyse(on_meta(CifarResNet, d), CIFAR) for d in CIFAR_DEPTHS}
ledger.check(
    "sec4.2-6n-plus-2",
    "n = 3, 5, 7, 9, 18, 200 give 6n+2 = 20, 32, 44, 56, 110, 1202 stacked weighted layers",
    "Sec. 4.2, Table 6",
    reported=[20, 32, 44, 56, 110, 1202],
    measured=[weighted_layers(on_meta(CifarResNet, d)) for d in CIFAR_DEPTHS],
    unit="layers",
)
stage_outputs = [last_output(cifar[20], f"stages.{i}") for i in range(3)]
ledger.check(
    "sec4.2-maps-and-filters",
    "Feature maps of sizes {32, 16, 8} with {16, 32, 64} filters (ResNet-20)",
    "Sec. 4.2",
    reported=[[32, 16, 8], [16, 32, 64]],
    measured=[[s[-1] for s in stage_outputs], [s[1] for s in stage_outputs]],
)
ledger.check(
    "sec4.2-3n-shortcuts",
    "Shortcuts join the pairs of 3×3 layers: 3n shortcuts (n = 3, 5, 7, 9, 18, 200)",
    "Sec. 4.2",
    reported=[3 * cifar_n(d) for d in CIFAR_DEPTHS],
    measured=[sum(name.endswith(".shortcut") for name, _ in on_meta(CifarResNet, d).named_modules()) for d in CIFAR_DEPTHS],
    unit="shortcuts",
)
ledger.check(
    "sec4.2-same-parameters-as-plain",
    "With option A the residual models have exactly the parameters of their plain counterparts (difference per depth)",
    "Sec. 4.2",
    reported=[0] * len(CIFAR_DEPTHS),
    measured=[cifar[d].params - analyse(on_meta(CifarResNet, d, shortcut=None), CIFAR).params for d in CIFAR_DEPTHS],
    unit="parameters",
)

# %% [markdown]
# Table 6 prints the parameters with two decimals for the shallower nets and one for 110 and 1202
# layers, so the table is checked in two parts, each at its printed precision.

# %%
ledger.table(
    "table6-params",
    "Parameters of the CIFAR-10 ResNets",
    "Table 6",
    rows=["ResNet-20", "ResNet-32", "ResNet-44", "ResNet-56"],
    columns=["# params"],
    reported=[[0.27], [0.46], [0.66], [0.85]],
    measured=[[cifar[d].params / MILLION] for d in (20, 32, 44, 56)],
    unit="M",
    decimals=2,
)
ledger.table(
    "table6-params-deep",
    "Parameters of the 110- and 1202-layer CIFAR-10 ResNets",
    "Table 6",
    rows=["ResNet-110", "ResNet-1202"],
    columns=["# params"],
    reported=[[1.7], [19.4]],
    measured=[[cifar[d].params / MILLION] for d in (110, 1202)],
    unit="M",
    decimals=1,
)

# %% [markdown]
# ## Accuracy — reported only
#
# Every error rate needs ImageNet or CIFAR-10 training, which this project does not do (no data
# sets are downloaded, and training runs for days on GPUs).

# %%
NEEDS_IMAGENET = "needs ImageNet training (1.28 million images, 60 × 10⁴ iterations), which this project does not do"
NEEDS_CIFAR = "needs CIFAR-10 training (64k iterations), which this project does not do: no data set is downloaded"
ledger.reported(
    "table2-top1",
    "Top-1 error, 10-crop, ImageNet val: plain-18, plain-34, ResNet-18, ResNet-34 (option A)",
    "Table 2",
    reported=[27.94, 28.54, 27.88, 25.03],
    unit="%",
    reason=NEEDS_IMAGENET,
)
ledger.reported(
    "table3-shortcut-options",
    "Top-1 / top-5 error, 10-crop, ImageNet val: ResNet-34 A, B, C",
    "Table 3",
    reported=[[25.03, 7.76], [24.52, 7.46], [24.19, 7.40]],
    unit="%",
    reason=NEEDS_IMAGENET,
)
ledger.reported(
    "table3-deeper",
    "Top-1 / top-5 error, 10-crop, ImageNet val: ResNet-50, ResNet-101, ResNet-152",
    "Table 3",
    reported=[[22.85, 6.71], [21.75, 6.05], [21.43, 5.71]],
    unit="%",
    reason=NEEDS_IMAGENET,
)
ledger.reported(
    "abstract-ensemble-test",
    "An ensemble of residual nets achieves 3.57% (top-5) error on the ImageNet test set",
    "Abstract, Table 5",
    reported=3.57,
    unit="%",
    reason=NEEDS_IMAGENET,
)
ledger.reported(
    "table6-error",
    "CIFAR-10 test error: ResNet-20, 32, 44, 56, 110 (best of 5 runs), 1202",
    "Table 6",
    reported=[8.75, 7.51, 7.17, 6.97, 6.43, 7.93],
    unit="%",
    reason=NEEDS_CIFAR,
)

# %% [markdown]
# ## Outside references
#
# torchvision's ResNets have the paper's architecture with option B, and the same parameters to
# the last one. Their bottleneck puts the stride in the $3 \times 3$ convolution ("ResNet v1.5"),
# which moves no parameter but leaves the first $1 \times 1$ of conv3_1, conv4_1 and conv5_1 on the
# larger map (4× its multiply-adds): 4.09 × 10⁹ for ResNet-50 against the paper's layout's 3.86.

# %%
ledger.reference(
    "torchvision-params",
    "Parameters of ResNet-18, 34, 50, 101, 152 (option B)",
    "torchvision 0.28 resnet18/34/50/101/152 (documented parameter counts)",
    reference=[11_689_512, 21_797_672, 25_557_032, 44_549_160, 60_192_808],
    measured=[imagenet(d, shortcut="B").params for d in DEPTHS],
    unit="parameters",
)
ledger.reference(
    "torchvision-resnet50-gflops",
    "Multiply-adds of ResNet-50 with the stride in the 3×3 convolution, as torchvision builds it",
    "torchvision 0.28 resnet50 (documented GFLOPS)",
    reference=4.09,
    measured=round(imagenet(50, stride_at="3x3").madds / BILLION, 3),
    unit="×10⁹",
    tolerance=0.005,
    why="torchvision's documentation prints two decimals",
)
ledger.reference(
    "torchvision-resnet50-gflops-paper-layout",
    "Multiply-adds of ResNet-50 as the paper builds it (stride in the first 1×1) against torchvision's figure",
    "torchvision 0.28 resnet50 (documented GFLOPS)",
    reference=4.09,
    measured=round(resnets[50].madds / BILLION, 3),
    pinned=3.858,
    unit="×10⁹",
    reason="torchvision strides in the 3×3 (v1.5), so the first 1×1 of conv3_1, conv4_1 and conv5_1 runs "
    "on the undivided map: 3 × 77.1 × 10⁶ = 0.231 × 10⁹ more multiply-adds; the paper's released models "
    "stride in the first 1×1",
)

# %% [markdown]
# ## 实验 at toy scale — what the paper found, re-run
#
# ResNet's degradation problem (Fig. 6, Sec. 4.2: plain vs residual nets of 20 and 56 layers), re-run at **toy scale** on real data (Fashion-MNIST, from Debian's `dataset-fashion-mnist`) with the
# paper's own blocks from `refimpl/`. The configuration, the arms, the seeds $0 \ldots n-1$ and the decision rule
# (the paired difference over seeds and its 95 % interval) are fixed in `experiments/He2016CVPR.py` before the first run;
# every run is shown. The runs are frozen in `experiments/_freeze/He2016CVPR/` with their provenance: nothing trains
# here, and `kb reproduce He2016CVPR` re-runs them. If a file the runs used changes, the claims below turn **stale**.
# A verdict holds for this toy setting only, not for ImageNet.

# %%
from kb.experiment import load as load_experiments

for experiment in load_experiments(ledger.paper):
    ledger.experiment(experiment)

# %%
ledger.summary()
