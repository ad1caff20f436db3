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
# # U-Net — the claims, checked (Ronneberger2015MICCAI)
#
# Ronneberger, Fischer and Brox, *U-Net: Convolutional Networks for Biomedical Image Segmentation*,
# MICCAI 2015, arXiv:1505.04597**v1**. Every measured value is computed from `refimpl.unet` and
# `refimpl.augment` in this run. Shapes, layer counts and widths come from
# `refimpl.analysis.analyse` on PyTorch's `meta` device (no arithmetic); the overlap-tile check runs
# a small random-weight U-Net for real. Reported values are the numbers as the paper prints them.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D
from scipy import ndimage
from torch import nn

from kb import figures
from kb.claims import Ledger
from refimpl.analysis import analyse, on_meta
from refimpl.augment import GRID, SIGMA as ELASTIC_SIGMA, deform, random_displacement
from refimpl.unet import (CONTRACTING, PAPER_TILE, SIGMA, W0, Contracting, Expanding, UNet, incoming_nodes,
                          predict_tiled, predict_whole, weight_map, weighted_cross_entropy)

ledger = Ledger("Ronneberger2015MICCAI")
figures.style()  # readable figures: fonts of 9 pt and more at the page's width
torch.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## Fig. 1 and Sec. 2 — the architecture
#
# Two unpadded 3×3 convolutions with ReLU per level, 2×2 max pooling with stride 2, channels doubled
# at each downsampling; on the way up a 2×2 up-convolution that halves the channels, concatenation
# with the cropped map of the contracting path, two 3×3 convolutions; a final 1×1 convolution.

# %%
from refimpl.diagram import show_architecture  # noqa: E402

show_architecture(
    on_meta(UNet), (1, 1, PAPER_TILE, PAPER_TILE),
    "U-Net of Fig. 1 on a 572 × 572 tile, drawn from `refimpl.unet` run on the meta device: each level's two "
    "unpadded 3×3 convolutions take 4 pixels off the side, each max pooling halves it and each up-convolution "
    "doubles it. The brackets are the skip connections, found by following the tensors through "
    "`UNet.forward`: each carries a contracting level's map, cropped, to the expanding level of the same "
    "resolution. 括号是跳跃连接:裁剪后与扩张路径拼接。",
)

# %%
unet = analyse(on_meta(UNet), (1, 1, PAPER_TILE, PAPER_TILE))
convs = [layer for layer in unet.layers if layer.type.startswith(("Conv", "Up-conv"))]
by_name = {layer.name: layer for layer in unet.layers}
# one `pool` module serves every level, so the sizes the poolings see are the outputs of each level's last convolution
pooled = [by_name[f"contract.{i}.conv2.conv"].output_shape[2] for i in range(4)]

ledger.check("fig1-io", "A 572 × 572 input tile gives a 388 × 388 output segmentation map", "Fig. 1",
             reported=[388, 388], measured=list(unet.output_shape[2:]), unit="px")
FIG1_SIZES = [570, 568, 282, 280, 138, 136, 66, 64, 30, 28,       # contracting path, after each 3×3 conv
              56, 54, 52, 104, 102, 100, 200, 198, 196, 392, 390, 388,  # expanding: up-conv, conv, conv
              388]                                                  # 1×1 conv
ledger.check("fig1-sizes", "x-y size after each of the 23 convolutions (up-convolutions included)", "Fig. 1",
             reported=FIG1_SIZES, measured=[layer.output_shape[2] for layer in convs], unit="px")
ledger.check("fig1-lowest", "32 × 32 pixels in the lowest resolution", "Fig. 1 caption",
             reported=32, measured=by_name["contract.4.conv1.conv"].input_shape[2], unit="px")
ledger.check("sec2-23-convs", "In total the network has 23 convolutional layers", "Sec. 2",
             reported=23, measured=len(convs), unit="layers")
FIG1_WIDTHS = [64, 64, 128, 128, 256, 256, 512, 512, 1024, 1024,
               512, 512, 512, 256, 256, 256, 128, 128, 128, 64, 64, 64, 2]
ledger.check("fig1-widths", "Channels after each convolution: doubled per downsampling, halved by each up-convolution, 2 classes",
             "Fig. 1, Sec. 2", reported=FIG1_WIDTHS, measured=[layer.output_shape[1] for layer in convs], unit="channels")
ledger.check("sec2-final-1x1", "The final 1×1 convolution maps each 64-component feature vector to the classes",
             "Sec. 2", reported=[64, 1], measured=[convs[-1].input_shape[1], int(convs[-1].type.split()[-1][0])])
print(f"parameters (1 input channel, 2 classes, all biases): {unet.params:,}")

# %% [markdown]
# ## Sec. 2 — the tile size: every 2×2 max pooling must see an even size
#
# "It is important to select the input tile size such that all 2x2 max-pooling operations are
# applied to a layer with an even x- and y-size." Walking the sizes back from the bottom, with the
# bottom level's output $b$: $s = 16 (b + 4) + 60 = 16k + 124$ with $k = b$; the smallest tile whose
# output is non-empty is $k = 4$ (188 → 4). Fig. 1's 572 is $k = 28$ — the 28 × 28 bottom map.

# %%
model = on_meta(UNet)
a, c, k_min = model.tile_rule()
print(f"valid tile sides: {a}k + {c}, k ≥ {k_min}:", model.valid_sizes(150, 700))
ledger.check("sec2-even-pooling", "At 572², the four 2×2 max poolings see even sizes (568, 280, 136, 64)", "Fig. 1, Sec. 2",
             reported=[568, 280, 136, 64], measured=pooled, unit="px")
brute = [s for s in range(100, 700) if model.output_size(s) is not None]
ledger.check("sec2-tile-rule", "Valid tile sides in [100, 700) are exactly 16k + 124 (k ≥ 4)",
             "Sec. 2 (derived from Fig. 1)", reported=[16 * k + 124 for k in range(4, 36)], measured=brute, unit="px")
try:
    model(torch.empty(1, 1, 570, 570, device="meta"))
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# ## Fig. 2 — overlap-tile prediction is seamless
#
# "This strategy allows the seamless segmentation of arbitrarily large images by an overlap-tile
# strategy ... the missing context is extrapolated by mirroring the input image." We segment a
# 90 × 130 image with a small random-weight U-Net of depth 3 (widths 4–32, float64) tile by tile
# (124² tiles → 36² outputs) and compare with one pass over the whole mirror-padded image.
#
# A detail the paper does not spell out: stitched tiles equal the one-pass result only if the tiles
# advance by a multiple of $2^{\text{depth}}$ pixels, so that every tile's pooling grid lines up with
# the big image's. Fig. 1's output tile, 388 = 16 · 24 + 4, is not such a multiple, and neither is
# this network's 36 = 8 · 4 + 4; `predict_tiled` therefore steps by 32 (and 384 for Fig. 1) and
# keeps the first 32 output pixels of each tile.

# %%
small = UNet(1, 2, (Contracting(4, 4), Contracting(8, 8), Contracting(16, 16), Contracting(32, 32)),
             (Expanding(16, 16, 16), Expanding(8, 8, 8), Expanding(4, 4, 4))).double().eval()
image = torch.from_numpy(ndimage.gaussian_filter(rng.normal(size=(90, 130)), 2))[None, None]
tiled = predict_tiled(small, image, 124)
whole = predict_whole(small, image, 124)
ledger.check("fig2-seamless-tiling", "Overlap-tile prediction equals the prediction on the whole mirror-padded image "
             "(max |difference|, small random U-Net, float64)", "Sec. 1, Fig. 2",
             reported=0.0, measured=(tiled - whole).abs().max().item(), tolerance=1e-9,
             why="float64 sums in a different order per tile; 1e-9 is far above double rounding and far below "
             "the O(1) differences of a misaligned tiling (below)")
misaligned = predict_tiled(small, image, 124, step=36)  # the paper's step: the whole output tile
print(f"tiles stepping by 36 (not a multiple of 8): max |difference| = {(misaligned - whole).abs().max().item():.3g}"
      f" (output range {whole.min().item():.3g} … {whole.max().item():.3g})")

fig, axes = plt.subplots(1, 3, figsize=(7.2, 2.1))
mismatch = (misaligned - whole)[0, 1].abs()
for ax, data, title in zip(axes, (image[0, 0], tiled[0, 1], mismatch),
                           ("input", "tiled, class-1 logit", "|tiles by 36 − whole|")):
    shown = ax.imshow(data, cmap="gray" if title == "input" else "viridis")
    if title != "input":
        fig.colorbar(shown, ax=ax, shrink=0.7)
    ax.set(title=title, xticks=[], yticks=[])
for x in range(32, 130, 32):
    axes[1].axvline(x - 0.5, color="w", lw=0.5)
for y in range(32, 90, 32):
    axes[1].axhline(y - 0.5, color="w", lw=0.5)
figures.show(
    fig,
    caption="Overlap-tile prediction on a 90 × 130 image with a small random U-Net: the input, the stitched "
    "prediction of tiles stepping by 32 output pixels (white lines: tile borders), and how far tiles stepping by "
    "36 are from one pass over the whole image. The stitched 32-step prediction shows no seam at the borders "
    f"(largest difference to the whole-image pass: {(tiled - whole).abs().max().item():.1g}); the 36-step tiles differ "
    f"by up to {mismatch.max().item():.2g} wherever their pooling grid does not line up with the image's.",
    alt="Three images of 90 by 130 pixels. The input is smooth grey-scale noise. The tiled class-1 logit is a "
    "fine-grained green and yellow texture crossed by thin white tile-border lines, with nothing changing across "
    "them. The difference map is dark purple (zero) in the tiles that line up and speckled with differences of "
    f"up to {mismatch.max().item():.2g} elsewhere.",
)

# %% [markdown]
# ## Sec. 3 — initialisation: Gaussian with standard deviation $\sqrt{2/N}$
#
# "E.g. for a 3x3 convolution and 64 feature channels in the previous layer $N = 9 \cdot 64 = 576$."
# Every weight of a freshly built U-Net, divided by its layer's $\sqrt{2/N}$, should be a standard
# normal draw.

# %%
ledger.check("sec3-init-n", "N = 9 · 64 = 576 incoming nodes for a 3×3 convolution on 64 channels", "Sec. 3",
             reported=576, measured=incoming_nodes(nn.Conv2d(64, 128, 3)))
fresh = UNet()
layers = [m for m in fresh.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
z = torch.cat([(m.weight / math.sqrt(2 / incoming_nodes(m))).flatten() for m in layers])
ledger.check("sec3-init-std", "Initial weights ~ Gaussian with std sqrt(2/N): std of weight / sqrt(2/N) over all "
             f"{len(layers)} layers ({z.numel():,} weights)", "Sec. 3", reported=1.0, measured=z.std().item(),
             tolerance=1e-3, why=f"sampling error of a std from n = {z.numel():.2e} draws is 1/sqrt(2n) ≈ "
             f"{1 / math.sqrt(2 * z.numel()):.1e}; 1e-3 is about 8 standard errors")
per_layer = [(m.weight.std() / math.sqrt(2 / incoming_nodes(m))).item() for m in layers]
print("per-layer ratio std / sqrt(2/N):", np.round(per_layer, 3))

# %% [markdown]
# ## Eq. 1 and Eq. 2 — the weighted loss
#
# $$w(x) = w_c(x) + w_0 \cdot \exp\left(-\frac{(d_1(x)+d_2(x))^2}{2\sigma^2}\right), \quad w_0 = 10,\ \sigma \approx 5 \text{ px}$$
#
# On synthetic touching cells (Fig. 3 style), `weight_map` (distance transforms) against a
# brute-force evaluation of Eq. 2 that measures the distance from every pixel to every pixel of
# every cell.

# %%
H, W = 96, 128
yy, xx = np.mgrid[:H, :W]
centres = [(30, 30, 20), (30, 71, 20), (72, 50, 22), (70, 100, 17)]  # (row, col, radius): touching discs
instances = np.zeros((H, W), int)
for i, (r, col, rad) in enumerate(centres, start=1):
    instances[(yy - r) ** 2 + (xx - col) ** 2 < rad**2] = i
boundary = ndimage.morphological_gradient(instances, size=3) > 0  # "the separation border ... morphological operations"
instances[boundary] = 0  # a 1-2 px background gap where cells touch
w = weight_map(instances, W0, SIGMA)


def brute_force_eq2(instances, w0, sigma):
    pixels = np.stack([yy.ravel(), xx.ravel()], 1).astype(float)
    d = []
    for i in range(1, instances.max() + 1):
        cell = pixels[instances.ravel() == i]
        d.append(np.sqrt(((pixels[:, None, :] - cell[None, :, :]) ** 2).sum(-1)).min(1))
    d = np.sort(np.stack(d), axis=0)
    fg = instances.ravel() > 0
    w_c = np.where(fg, max(fg.sum(), (~fg).sum()) / fg.sum(), max(fg.sum(), (~fg).sum()) / (~fg).sum())
    return (w_c + w0 * np.exp(-((d[0] + d[1]) ** 2) / (2 * sigma**2))).reshape(instances.shape)


reference = brute_force_eq2(instances, W0, SIGMA)
ledger.check("eq2-weight-map", "Eq. 2 weight map (w0 = 10, σ = 5 px) on touching cells: max |weight_map − brute-force Eq. 2|",
             "Eq. 2, Sec. 3", reported=0.0, measured=float(np.abs(w - reference).max()), tolerance=1e-9,
             why="both are the same closed form evaluated in float64")
gap = (instances == 0) & (ndimage.binary_dilation(instances > 0, iterations=2))
far = (instances == 0) & ~ndimage.binary_dilation(instances > 0, iterations=20)
print(f"mean weight: cells {w[instances > 0].mean():.2f}, background gaps {w[gap].mean():.2f}, far background {w[far].mean():.2f}")

fig, axes = plt.subplots(1, 3, figsize=(7.2, 2.2))
axes[0].imshow(instances, cmap="tab10", interpolation="nearest")
axes[0].set_title("cells, one colour each")
axes[1].imshow(instances > 0, cmap="gray")
axes[1].set_title("mask (Fig. 3c)")
im = axes[2].imshow(w, cmap="jet")
axes[2].set_title("weight map (Fig. 3d)")
fig.colorbar(im, ax=axes[2], shrink=0.8, label="$w(x)$")
for ax in axes:
    ax.set(xticks=[], yticks=[])
figures.show(
    fig,
    caption=f"Eq. 2 on {len(centres)} synthetic touching cells (w₀ = {W0:g}, σ = {SIGMA:g} px): the cells with the "
    "1–2 px background gaps that separate them, the segmentation mask, and the weight map. Read the weight "
    f"map's colour bar: the narrow gaps between touching cells reach {w.max():.1f}, against "
    f"{w[instances > 0].mean():.1f} in the cells (the class-balancing term) and {w[far].mean():.1f} far from any "
    "cell, so the loss weighs most the borders the network must learn to separate.",
    alt=f"Three images of {H} by {W} pixels. Left: {len(centres)} discs in different colours on a blue "
    "background, separated by thin gaps where they touch. Middle: the same discs white on black. Right: the "
    f"weight map, dark blue (about {w[instances > 0].mean():.0f}) over the cells, with bright red and yellow "
    f"strips up to {w.max():.1f} in the narrow gaps between touching cells, on a colour bar from "
    f"{w.min():.0f} to {w.max():.0f}.",
)

# %% [markdown]
# Eq. 1 is printed as $E = \sum_{x} w(x) \log(p_{\ell(x)}(x))$ — without a minus sign, a
# log-likelihood. Trained by gradient descent it is minimised as its negative, which is what
# `weighted_cross_entropy` returns. Against an explicit softmax:

# %%
logits = torch.randn(1, 2, H, W, dtype=torch.float64)
target = torch.from_numpy((instances > 0).astype(np.int64))[None]
p = torch.exp(logits) / torch.exp(logits).sum(1, keepdim=True)  # p_k(x) = exp(a_k) / Σ exp(a_k')
E = (torch.from_numpy(w) * torch.log(p.gather(1, target[:, None])[:, 0])).sum().item()  # Eq. 1 as printed
# Eq. 1 prints a formula, not a number: the value below is code against code, the formula written out in
# this cell against refimpl.losses, so it is recorded as a reference, not as a value the paper reports.
ledger.reference("eq1-loss", "The loss is −E, E = Σ w(x) log p_l(x)(x) with the pixel-wise soft-max (Eq. 1 printed without the minus sign)",
                 "Eq. 1 written out in this notebook: explicit soft-max, Σ w(x) log p, negated (float64)",
                 reference=-E, measured=weighted_cross_entropy(logits, target, torch.from_numpy(w)).item(),
                 tolerance=1e-9, why="the same sum in float64, in a different order")

# %% [markdown]
# ## Sec. 3.1 — elastic deformation
#
# Random displacement vectors on a coarse 3 × 3 grid, $\mathcal{N}(0, 10^2)$ pixels, interpolated
# to every pixel (cubic B-splines here; the paper says bicubic). Image and labels are warped by the
# same field, the labels with nearest-neighbour interpolation so that they stay labels.

# %%
control = np.stack([random_displacement((65, 65), rng)[:, ::32, ::32] for _ in range(400)])  # the 3×3 control points
ledger.check("sec3.1-elastic-std", "Control-point displacements have a 10 px standard deviation (400 fields × 3×3 × 2)",
             "Sec. 3.1", reported=10.0, measured=float(control.std()), unit="px", tolerance=0.5,
             why="sampling error of a std from 7200 draws is 10/sqrt(2·7200) ≈ 0.08 px; 0.5 px is about 6 standard errors")
labels_before = ndimage.label(ndimage.binary_opening(rng.random((H, W)) > 0.45, iterations=3))[0] % 5
warped_image, warped_labels = deform((instances > 0).astype(float) + 0.2 * labels_before, labels_before,
                                     random_displacement((H, W), rng))
ledger.check("sec3.1-labels-stay-labels", "Deformed labels take only values of the original label set", "Sec. 3.1",
             reported=True, measured=set(np.unique(warped_labels)) <= set(np.unique(labels_before)))

grid_image = ((xx // 8 + yy // 8) % 2).astype(float) + (instances > 0)
fig, axes = plt.subplots(1, 4, figsize=(7.2, 2.0))
axes[0].imshow(grid_image, cmap="gray")
axes[0].set_title("original")
for number, ax in enumerate(axes[1:], start=1):
    field = random_displacement((H, W), rng)
    warped, warped_inst = deform(grid_image, instances, field)
    ax.imshow(warped, cmap="gray")
    ax.contour(warped_inst > 0, levels=[0.5], colors="r", linewidths=0.6)
    ax.quiver(np.linspace(0, W - 1, GRID).repeat(GRID), np.tile(np.linspace(0, H - 1, GRID), GRID),
              field[1][::(H - 1) // 2, ::(W - 1) // 2].T.ravel(), -field[0][::(H - 1) // 2, ::(W - 1) // 2].T.ravel(),
              color="yellow", scale=1, scale_units="xy", angles="xy")
    ax.set_title(f"deformation {number}")
for ax in axes:
    ax.set(xticks=[], yticks=[])
fig.legend(handles=[Line2D([], [], color="r", label="deformed cell labels (outline)"),
                    Line2D([], [], color="yellow", marker=">", markeredgecolor="black",
                           label=f"control-point displacement ({GRID}×{GRID} grid)")],
           loc="outside lower center", ncol=2)
figures.show(
    fig,
    caption=f"Three random elastic deformations (displacements on a {GRID} × {GRID} grid, σ = {ELASTIC_SIGMA:g} px, "
    "interpolated to every pixel) of a checkerboard with four cells. The image and the labels are warped by the "
    "same field: the red outlines of the deformed labels stay on the deformed cells, which is what lets the "
    "paper train on deformed images with their labels.",
    alt="Four images. The first is a checkerboard with four bright discs. The other three are smoothly bent "
    "versions of it, each with yellow arrows at the control points showing the displacement, and red outlines "
    "that follow the bent discs closely.",
)

# %% [markdown]
# ## Sec. 4 — results that need the data sets

# %%
NEEDS_DATA = "needs the challenge data set and training, which this project does not do"
ledger.reported("sec4-em-warping", "ISBI 2012 EM segmentation: warping error 0.0003529 (new best) and rand error 0.0382, "
                "averaged over 7 rotated versions of the input", "Sec. 4, Table 1", reported=[0.0003529, 0.0382], reason=NEEDS_DATA)
ledger.reported("sec4-em-ciresan", "Sliding-window network of Ciresan et al.: warping error 0.000420, rand error 0.0504",
                "Sec. 4, Table 1", reported=[0.000420, 0.0504], reason=NEEDS_DATA)
ledger.reported("table2-phc-u373", "PhC-U373 IOU: u-net 0.9203 vs second-best 2015 0.83 (35 partially annotated training images)",
                "Table 2, Sec. 4", reported=[0.9203, 0.83], reason=NEEDS_DATA)
ledger.reported("table2-dic-hela", "DIC-HeLa IOU: u-net 0.7756 vs second-best 2015 0.46 (20 partially annotated training images)",
                "Table 2, Sec. 4", reported=[0.7756, 0.46], reason=NEEDS_DATA)
ledger.reported("table2-2014-rows", "Table 2, 2014 entries (PhC-U373, DIC-HeLa): IMCB-SG 0.2669, 0.2935; KTH-SE 0.7953, 0.4607; "
                "HOUS-US 0.5323, –", "Table 2", reported=[0.2669, 0.2935, 0.7953, 0.4607, 0.5323], reason=NEEDS_DATA)
ledger.reported("abstract-speed", "Segmentation of a 512x512 image takes less than a second on a recent GPU", "Abstract",
                reported=1, unit="s", reason="a GPU timing; this project runs on CPU")
ledger.reported("sec5-training-time", "Training takes only 10 hours on a NVidia Titan GPU (6 GB)", "Sec. 5",
                reported=10, unit="h", reason="GPU training on the challenge data, which this project does not do")
ledger.reported("sec3-momentum", "SGD (Caffe), batch of a single image, momentum 0.99", "Sec. 3", reported=0.99,
                reason="a training setting; no training on the paper's data here")

# %% [markdown]
# ## 实验 at toy scale — what the paper found, re-run
#
# U-Net's weighted loss (Sec. 3, Eq. 2: the border weights between touching cells, $w_0 = 10$, $\sigma \approx 5$ px, against $w_0 = 0$), re-run at **toy scale, one image** on a real fluorescence image of nuclei (the 2018 Data Science Bowl image shipped in stardist 0.9.2's wheel; top half to train, bottom half to test), with the paper's own blocks and losses from `refimpl/`.
# The configuration, the arms, the seeds $0 \ldots n-1$ and the decision rule (the paired difference over seeds
# and its 95 % interval) are fixed in `experiments/Ronneberger2015MICCAI.py` before the first run; every run is shown. The runs are
# frozen in `experiments/_freeze/Ronneberger2015MICCAI/` with their provenance: nothing trains here, and `kb reproduce Ronneberger2015MICCAI` re-runs
# them. If a file the runs used changes, the claims below turn **stale**. A verdict holds for this toy setting only
# (one image, split in two), not for the challenge data sets of the paper.

# %%
from kb.experiment import load as load_experiments

for experiment in load_experiments(ledger.paper):
    ledger.experiment(experiment)

# %%
from kb.experiment import find_root, freeze_path, load_frozen  # noqa: E402


def border_weights_figure(experiment, frozen):
    """The test window of seed 0: image, weight map, both arms' predictions, true outlines; caption from the runs."""
    runs = frozen["runs"]
    seed0 = {r["arm"]: r for r in runs if r["seed"] == 0}
    shown = seed0["weighted"]["extras"]["figure"]
    row, col, side = shown["window"]
    truth = np.array(shown["truth"])
    extent = (-0.5, side - 0.5, side - 0.5, -0.5)  # the ×2 downsampled image and map cover the same window

    def outline(ax):
        ax.contour(truth, levels=[0.5], colors="#E69F00", linewidths=0.8)

    def mean(arm, metric):
        return np.mean([r["metrics"][metric] for r in runs if r["arm"] == arm])

    fig, axes = plt.subplots(1, 4, figsize=(7.2, 2.3))
    axes[0].imshow(shown["image"], cmap="gray", extent=extent)
    outline(axes[0])
    axes[0].set_title("image, true nuclei")
    low, high = shown["weight_map_range"]
    im = axes[1].imshow(np.array(shown["weight_map"]) / 255 * (high - low) + low, cmap="jet", extent=extent)
    fig.colorbar(im, ax=axes[1], shrink=0.8, label="$w(x)$")
    axes[1].set_title(f"weight map, $w_0$ = {experiment.arms['weighted']['w0']:g}")
    for ax, arm in zip(axes[2:], ("weighted", "plain")):
        ax.imshow(seed0[arm]["extras"]["figure"]["prediction"], cmap="gray", vmin=0, vmax=1, extent=extent)
        outline(ax)
        ax.set_title(f"{arm} ($w_0$ = {experiment.arms[arm]['w0']:g})")
    for ax in axes:
        ax.set(xticks=[], yticks=[])
    pairs = seed0["weighted"]["extras"]["touching_pairs"]
    n = len({r["seed"] for r in runs})
    caption = (
        f"Toy scale, one image (StarDist 0.9.2 sample image, 2018 Data Science Bowl): a {side} × {side} px window of "
        f"the test half (rows {row}–{row + side - 1}, columns {col}–{col + side - 1}), with the true nuclei outlined "
        "in orange (touching nuclei kept apart by the separation borders of Sec. 3). The weight map is Eq. 2 "
        "computed on this window's nuclei, for reading only (training used the top half's). Right: the foreground "
        "each arm predicts (white), seed 0. Touching pairs of the whole test half found as two objects, seed 0: "
        f"{seed0['weighted']['metrics']['pairs_separated']} of {pairs} with the weight map, "
        f"{seed0['plain']['metrics']['pairs_separated']} without; mean over {n} seeds: "
        f"{mean('weighted', 'pairs_separated'):.1f} against {mean('plain', 'pairs_separated'):.1f} "
        f"(object F1 {mean('weighted', 'f1'):.2f} against {mean('plain', 'f1'):.2f})."
    )
    alt = (
        f"Four square panels of the same {side} by {side} pixel window. First: grey fluorescence image of nuclei "
        "with orange outlines of the true nuclei. Second: the weight map in colour, highest (up to "
        f"{high:g}) in the narrow gaps between touching nuclei, with a colour bar from {low:g} to {high:g}. Third and "
        "fourth: white predicted foreground on black for the weighted and the plain arm, with the same orange "
        "outlines; the weighted arm separates "
        f"{seed0['weighted']['metrics']['pairs_separated']} and the plain arm "
        f"{seed0['plain']['metrics']['pairs_separated']} of the test half's {pairs} touching pairs."
    )
    return fig, caption, alt


(experiment,) = load_experiments(ledger.paper)
frozen = load_frozen(freeze_path(find_root(), ledger.paper, experiment.id))
if frozen is not None:  # no frozen runs yet: nothing to draw
    fig, caption, alt = border_weights_figure(experiment, frozen)
    figures.show(fig, caption=caption, alt=alt, role=f"experiment:{experiment.id}")

# %%
ledger.summary()
