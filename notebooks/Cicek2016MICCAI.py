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
# # 3D U-Net — the claims, checked (Cicek2016MICCAI)
#
# Çiçek, Abdulkadir, Lienkamp, Brox and Ronneberger, *3D U-Net: Learning Dense Volumetric
# Segmentation from Sparse Annotation*, MICCAI 2016, arXiv:1606.06650**v1**. The network is
# `refimpl.unet.UNet` in three dimensions (`refimpl.unet3d.unet3d`); shapes and parameters come
# from `refimpl.analysis.analyse` on the `meta` device — a real CPU forward pass at 132 × 132 × 116
# takes about 20 s and is not needed.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from scipy import ndimage
from torch import nn

from kb import figures
from kb.claims import Ledger
from refimpl.analysis import analyse, on_meta
from refimpl.augment import elastic_deform
from refimpl.unet import Contracting, Expanding
from refimpl.unet3d import PAPER_PARAMS, PAPER_TILE, UNLABELED, sparse_cross_entropy, unet3d

ledger = Ledger("Cicek2016MICCAI")
figures.style()  # readable figures: fonts of 9 pt and more at the page's width
torch.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## Sec. 2 and Fig. 2 — the architecture
#
# Four resolution steps; per step two 3×3×3 convolutions, each followed by batch norm and ReLU,
# then 2×2×2 max pooling with stride 2; "we double the number of channels already before max
# pooling to avoid bottlenecks"; on the way up a 2×2×2 up-convolution, concatenation with the
# cropped analysis-path map and two 3×3×3 convolutions; a final 1×1×1 convolution to 3 labels.

# %%
from refimpl.diagram import show_architecture  # noqa: E402

show_architecture(
    on_meta(unet3d), (1, 3, *PAPER_TILE),
    "3D U-Net of Fig. 2 on a 132 × 132 × 116 tile with 3 channels, drawn from `refimpl.unet3d` run on the meta "
    "device (labels: x-y side² × z, then channels): U-Net's U in three dimensions with one resolution step "
    "fewer. Each level doubles its channels already before the max pooling, and the up-convolutions keep the "
    "width. The brackets are the skip connections found in the model's forward pass. "
    "在池化之前就把通道数翻倍。",
)

# %%
net = analyse(on_meta(unet3d), (1, 3, *PAPER_TILE))
convs = [layer for layer in net.layers if layer.type.startswith(("Conv", "Up-conv"))]
ledger.check("sec2-io", "A 132 × 132 × 116 voxel tile with 3 channels gives a 44 × 44 × 28 output", "Sec. 2, Fig. 2",
             reported=[44, 44, 28], measured=list(net.output_shape[2:]), unit="voxels")
ledger.check("fig2-widths", "Channels after each convolution: analysis 32, 64 | 64, 128 | 128, 256 | 256, 512; "
             "up-convolutions keep the channels; synthesis 256, 128, 64; 3 labels", "Fig. 2, Sec. 2",
             reported=[32, 64, 64, 128, 128, 256, 256, 512, 512, 256, 256, 256, 128, 128, 128, 64, 64, 3],
             measured=[layer.output_shape[1] for layer in convs], unit="channels")
norms = [layer for layer in net.layers if layer.type == "BatchNorm3d"]
relus = [layer for layer in net.layers if layer.type == "ReLU"]
ledger.check("sec2-bn-before-relu", "Batch normalisation before each ReLU: as many BN layers as ReLUs (14), "
             "each feeding the ReLU of the same unit", "Sec. 2", reported=[14, 14, True],
             measured=[len(norms), len(relus), [n.name.rsplit(".", 1)[0] for n in norms] == [r.name.rsplit(".", 1)[0] for r in relus]])

# %% [markdown]
# ## Sec. 2 — "The architecture has 19069955 parameters in total"
#
# The paper does not say how it counts. Fig. 2's widths with 3 input channels and 3 labels give
# exactly the printed number when every 3×3×3 and the 1×1×1 convolution has a bias, the 2×2×2
# up-convolutions have none, and batch norm has no learned parameters — Caffe's `Convolution`
# (bias on by default) + `BatchNorm` layer (normalisation only, no `Scale` layer), the framework
# of the paper's implementation. Convolutions without bias followed by a batch norm with a learned
# shift only would count the same (one parameter per channel either way).

# %%
ledger.check("sec2-params", "19069955 parameters (3 input channels, 3 labels; conv biases, no up-conv bias, "
             "no batch-norm affine parameters)", "Sec. 2", reported=PAPER_PARAMS, measured=net.params, unit="parameters")
variants = {
    "as counted above": dict(),
    "+ BN scale and shift (PyTorch default)": dict(norm_affine=True),
    "+ up-convolution biases": dict(up_bias=True),
    "1 input channel": dict(in_channels=1),
    "no batch norm (Table 1 '3D w/o BN')": dict(batch_norm=False),
}
for name, options in variants.items():
    count = analyse(on_meta(unet3d, **options), (1, options.get("in_channels", 3), *PAPER_TILE)).params
    print(f"{name:<42} {count:>12,}  ({count - PAPER_PARAMS:+,})")

# %% [markdown]
# The valid tile sides are $8k + 60$ voxels ($k \ge 4$; 132 = 8 · 9 + 60 and 116 = 8 · 7 + 60, 9 and 7
# being the bottom level's output); any other size is refused with the nearest valid ones:

# %%
model = on_meta(unet3d)
print("valid sides:", model.valid_sizes(80, 200))
try:
    model(torch.empty(1, 3, 132, 130, 116, device="meta"))
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# ## Sec. 2 — the loss ignores unlabeled voxels
#
# "Setting the weights of unlabeled pixels to zero makes it possible to learn from only the labelled
# ones." With label 3 = "unlabeled" weighted 0 in the softmax cross-entropy, the gradient of the loss
# with respect to the network's output at every unlabeled voxel is exactly zero — not small.

# %%
logits = torch.randn(1, 3, 12, 12, 12, requires_grad=True)
labels = torch.randint(0, 3, (1, 12, 12, 12))
unlabeled = torch.rand(1, 12, 12, 12) < 0.8
labels[unlabeled] = UNLABELED
sparse_cross_entropy(logits, labels, class_weights=(2.0, 1.0, 0.5)).backward()
grad = logits.grad.abs().sum(1)
ledger.check("sec2-zero-gradient", "Max |∂loss/∂logits| over unlabeled voxels (label 3, weight 0)", "Sec. 2, Sec. 3.1",
             reported=0.0, measured=grad[unlabeled].max().item())
print(f"labelled voxels: max |gradient| = {grad[~unlabeled].max().item():.3g}")

# %% [markdown]
# ## A small synthetic semi-automated experiment
#
# The paper's semi-automated use case: annotate a few slices of a volume, train on them, get the
# whole volume segmented. Here, on a synthetic 20³ volume of straight "tubules" (label 1: wall,
# label 0: lumen = "inside the tubule", label 2: background; blurred, Gaussian noise), we annotate
# one xy, one xz and one yz slice through the centre (14 % of the voxels), train a tiny 3D U-Net
# (two levels, widths 4–8, "same" padding, batch norm) for 40 Adam steps with the weighted loss
# (lumen 2, wall 1, background 0.5, unlabeled 0), and measure the IoU on the voxels that were
# **not** annotated. A baseline that assigns each voxel the class of the nearest class mean
# intensity (fitted on the same annotated voxels) puts the number in context. This is our toy, not
# the paper's Xenopus data: its IoU is shown, not compared with the paper's.

# %%
S = 20


def tubules(rng, n=4):
    grid = np.stack(np.meshgrid(*[np.arange(S)] * 3, indexing="ij"), -1).astype(float)
    truth = np.full((S, S, S), 2)
    for _ in range(n):  # a wall (1) around a lumen (0) along a random direction
        p, u = rng.uniform(5, S - 5, 3), rng.normal(size=3)
        u /= np.linalg.norm(u)
        v = grid - p
        dist = np.linalg.norm(v - (v @ u)[..., None] * u, axis=-1)
        radius = rng.uniform(3.0, 4.5)
        truth[dist < radius] = 1
        truth[dist < radius - 1.8] = 0
    image = np.select([truth == 1, truth == 0], [1.0, 0.3], 0.0)
    return (ndimage.gaussian_filter(image, 0.7) + rng.normal(0, 0.2, image.shape)).astype(np.float32), truth


image, truth = tubules(rng)
sparse = np.full_like(truth, UNLABELED)
for axis in range(3):
    index = [slice(None)] * 3
    index[axis] = S // 2
    sparse[tuple(index)] = truth[tuple(index)]
annotated = sparse != UNLABELED

tiny = unet3d(1, 3, (Contracting(4, 8), Contracting(8, 8)), (Expanding(8, 4, 4),), padding="same")
x, y = torch.from_numpy(image)[None, None], torch.from_numpy(sparse)[None]
optimiser = torch.optim.Adam(tiny.parameters(), lr=2e-2)
start = time.perf_counter()
for step in range(40):
    optimiser.zero_grad()
    loss = sparse_cross_entropy(tiny(x), y, class_weights=(2.0, 1.0, 0.5))
    loss.backward()
    optimiser.step()
with torch.no_grad():  # batch statistics of this one volume (train mode), as during training
    prediction = tiny(x).argmax(1)[0].numpy()
print(f"training: {time.perf_counter() - start:.1f} s, final loss {loss.item():.3f}")


def iou(pred, k, where):
    return ((pred == k) & (truth == k) & where).sum() / (((pred == k) | (truth == k)) & where).sum()


means = [image[annotated & (truth == k)].mean() for k in range(3)]
baseline = np.abs(image[..., None] - np.array(means)).argmin(-1)
held_out = ~annotated
ious = [iou(prediction, k, held_out) for k in range(3)]
base_ious = [iou(baseline, k, held_out) for k in range(3)]
print("IoU on the unannotated voxels   lumen   wall    background")
print("3D U-Net, 3 annotated slices   " + "  ".join(f"{v:.3f}" for v in ious))
print("nearest class mean intensity   " + "  ".join(f"{v:.3f}" for v in base_ious))

# One colour per label, the same in every figure, named in a legend.
LABEL_NAMES = ("lumen (0)", "wall (1)", "background (2)", f"unlabeled ({UNLABELED})")
LABEL_COLOURS = ListedColormap(["#E69F00", "#0072B2", "#D9D9D9", "white"])
LABEL_LEGEND = [Patch(facecolor=c, edgecolor="black", label=n) for c, n in zip(LABEL_COLOURS.colors, LABEL_NAMES)]


def show_labels(ax, labels):
    ax.imshow(labels, cmap=LABEL_COLOURS, vmin=-0.5, vmax=UNLABELED + 0.5)


fig, axes = plt.subplots(2, 4, figsize=(7.2, 4.3))
for row, z in enumerate((S // 2, S // 4)):  # the annotated xy slice, and one never annotated
    axes[row, 0].imshow(image[z], cmap="gray")
    for ax, labels in zip(axes[row, 1:], (sparse[z], prediction[z], truth[z])):
        show_labels(ax, labels)
    axes[row, 0].set_ylabel(f"z = {z}\n" + ("(annotated)" if z == S // 2 else "(not annotated)"))
for ax, title in zip(axes[0], ("image", "annotation", "prediction", "ground truth")):
    ax.set_title(title)
for ax in axes.flat:
    ax.set(xticks=[], yticks=[])
fig.legend(handles=LABEL_LEGEND, loc="outside lower center", ncol=4)
figures.show(
    fig,
    caption="The toy semi-automated experiment on one 20³ volume: the input, the sparse annotation the network was "
    "trained on, its prediction and the ground truth, on the annotated xy slice (top) and on an xy slice that "
    "was not annotated (bottom: only the annotated xz and yz planes cross it). Compare the bottom prediction with the "
    f"ground truth: the IoU on all unannotated voxels is {ious[0]:.2f} for the lumen, {ious[1]:.2f} for the wall "
    f"and {ious[2]:.2f} for the background.",
    alt="Two rows of four square images, 20 by 20 voxels. First column: a noisy grey-scale slice with bright tube "
    "walls. Second: the annotation, complete on the top slice and, on the bottom slice, only a cross of one "
    "row and one column, white (unlabeled) elsewhere. Third and fourth: prediction and ground truth, with orange "
    "lumen inside blue walls on a light grey background; the predicted shapes follow the ground truth in both rows.",
)

# %% [markdown]
# ## Sec. 3.2 — smooth dense deformation of data and labels together
#
# The same `refimpl.augment.elastic_deform` as for U-Net, in 3-D: one displacement field, cubic
# B-spline interpolated from a coarse grid, warps the volume (cubic) and the labels (nearest
# neighbour), so the labels — including "unlabeled" — stay in the label set. The grid and standard
# deviation used here (3 control points per axis, 2 voxels) are our choice for a 20³ volume.

# %%
warped, warped_labels = elastic_deform(image, sparse, rng, grid=3, sigma=2.0)
ledger.check("sec3.2-labels-stay-labels", "A smooth dense deformation applied to volume and sparse labels keeps the labels "
             "in {0, 1, 2, 3}", "Sec. 3.2", reported=True, measured=set(np.unique(warped_labels)) <= {0, 1, 2, 3})
fig, axes = plt.subplots(1, 4, figsize=(7.2, 2.4))
axes[0].imshow(image[S // 2], cmap="gray")
axes[1].imshow(warped[S // 2], cmap="gray")
show_labels(axes[2], sparse[S // 2])
show_labels(axes[3], warped_labels[S // 2])
for ax, title in zip(axes, ("volume", "deformed volume", "labels", "deformed labels")):
    ax.set(title=title, xticks=[], yticks=[])
fig.legend(handles=LABEL_LEGEND, loc="outside lower center", ncol=4)
figures.show(
    fig,
    caption=f"One smooth deformation (3 control points per axis, σ = 2 voxels) applied to the volume and to its "
    f"sparse labels, shown on slice z = {S // 2}. The labels are warped by the same field with nearest-neighbour "
    "interpolation, so every voxel keeps one of the four labels: the fully annotated slice becomes a mostly "
    "unlabeled one, because the deformation moves the annotated planes out of it.",
    alt="Four square images of one 20 by 20 slice. The volume and the deformed volume are noisy grey-scale images, "
    "the second a bent copy of the first. The labels show orange lumen inside blue walls on light grey background; "
    "the deformed labels are mostly white (unlabeled) with thin curved strips of blue, grey and orange where "
    "the annotated planes now cross the slice.",
)

# %% [markdown]
# ## Sec. 4 and 5 — results on the Xenopus kidney data

# %%
NEEDS_DATA = "needs the Xenopus kidney volumes and GPU training, which this project does not have"
ledger.reported("sec5-semi-automated-iou", "Semi-automated setup: average IoU of 0.863 in 3-fold cross validation", "Sec. 5, Table 1",
                reported=0.863, reason=NEEDS_DATA)
ledger.reported("sec3.1-labels", "Labels 0 'inside the tubule', 1 'tubule', 2 'background', 3 'unlabeled'; three embryos "
                "(Nieuwkoop-Faber stage 36-37), orthogonal xy, xz, yz slices annotated", "Sec. 3.1", reported=[0, 1, 2, 3],
                reason="describes the data set, which is not available here; the label convention is used by refimpl.unet3d")
ledger.reported("sec4-bn-helps", "3D with batch norm gives the best semi-automated IoU; in the fully-automated setup BN helps "
                "except on one test volume", "Tables 1 and 3", reported="qualitative",
                reason="per-cell IoU values could not be confirmed in a copy of the paper here, and they need the data set")

# %% [markdown]
# ## 实验 at toy scale — what the paper found, re-run
#
# 3D U-Net's training from sparse annotation (Secs. 2–4: a few annotated slices, unlabelled voxels weighted 0) against the same network trained on every voxel, re-run at **toy scale, one image** on a real brain MRI (the Colin27 T1 volume with the AAL atlas's hand-drawn hippocampus, from Debian's `mricron-data`; the left hemisphere to train, the right one mirrored to test), with the paper's own blocks and losses from `refimpl/`.
# The configuration, the arms, the seeds $0 \ldots n-1$ and the decision rule (the paired difference over seeds
# and its 95 % interval) are fixed in `experiments/Cicek2016MICCAI.py` before the first run; every run is shown. The runs are
# frozen in `experiments/_freeze/Cicek2016MICCAI/` with their provenance: nothing trains here, and `kb reproduce Cicek2016MICCAI` re-runs
# them. If a file the runs used changes, the claims below turn **stale**. A verdict holds for this toy setting only
# (one image, split in two), not for the challenge data sets of the paper.

# %%
from kb.experiment import load as load_experiments

for experiment in load_experiments(ledger.paper):
    ledger.experiment(experiment)

# %%
from matplotlib.lines import Line2D  # noqa: E402

from kb.datasets import DataError  # noqa: E402
from kb.experiment import find_root, freeze_path, load_frozen  # noqa: E402
from kb.training.segment import hemispheres, sparse_annotation  # noqa: E402


def overlay(ax, image, foreground, labelled=None, outline=None):
    """T1 in grey, ``foreground`` in orange, ``labelled`` background tinted blue, ``outline`` in blue.

    Arrays are (horizontal, vertical) voxel axes, e.g. (x, y) for an axial slice; drawn with the second axis up.
    """
    ax.imshow(image.T, cmap="gray", origin="lower")
    if labelled is not None:
        ax.imshow(np.ma.masked_where(~labelled | foreground, labelled).T, cmap=ListedColormap(["#0072B2"]),
                  alpha=0.4, origin="lower")
    ax.imshow(np.ma.masked_equal(foreground, 0).T, cmap=ListedColormap(["#E69F00"]), alpha=0.85, origin="lower")
    if outline is not None:
        ax.contour(outline.T, levels=[0.5], colors="#0072B2", linewidths=1)
    ax.set(xticks=[], yticks=[])


def sparse_annotation_figure(experiment, frozen):
    """Top: the sparse arm's labels on the training hemisphere; bottom: the test slice of seed 0; caption from runs."""
    runs = frozen["runs"]
    seed0 = {r["arm"]: r for r in runs if r["seed"] == 0}
    setting = frozen["registration"]["setting"]
    try:
        train = hemispheres(setting["structure"], setting["factor"], tuple(setting["shape"]))
    except DataError:  # Debian's mricron-data is not installed here: the test slice only
        train = None
    fig, axes = plt.subplots(2 if train else 1, 4, figsize=(7.2, 4.5 if train else 2.3), squeeze=False)
    if train:
        labels, planes = sparse_annotation(train.train_mask, setting["planes"], UNLABELED)
        where = np.argwhere(train.train_mask)
        low, high = np.maximum(where.min(0) - 4, 0), where.max(0) + 5  # the hippocampus's box, 4 voxels of margin
        labels, t1 = (v[tuple(slice(a, b) for a, b in zip(low, high))] for v in (labels, train.train_image))
        between = (planes["z"][0] + planes["z"][1]) // 2  # an axial slice between the two labelled ones
        views = [("axial", "z", planes["z"][0]), ("coronal", "y", planes["y"][0]), ("sagittal", "x", planes["x"][0]),
                 ("axial", "z", between)]
        for ax, (view, name, i) in zip(axes[0], views):
            axis = "xyz".index(name)
            cut = np.take(labels, i - low[axis], axis=axis)
            overlay(ax, np.take(t1, i - low[axis], axis=axis), cut == 1, labelled=cut != UNLABELED)
            ax.set_title(f"{view}, {name} = {i}" + ("" if i in planes[name] else "\n(not labelled)"))
        axes[0, 0].set_ylabel("left: sparse labels")
    shown = seed0["sparse"]["extras"]["figure"]
    image, truth = np.array(shown["image"]), np.array(shown["truth"], bool)
    overlay(axes[-1, 0], image, np.zeros_like(truth))
    axes[-1, 0].set_title(f"T1, z = {shown['z']}")
    axes[-1, 0].set_ylabel("right: test, seed 0")
    overlay(axes[-1, 1], image, truth)
    axes[-1, 1].set_title("true hippocampus")
    empty = []
    for ax, arm in zip(axes[-1, 2:], ("sparse", "dense")):
        predicted = np.array(seed0[arm]["extras"]["figure"]["prediction"], bool)
        overlay(ax, image, predicted, outline=truth)
        ax.set_title(f"{arm} arm" + ("" if predicted.any() else "\n(none predicted)"))
        empty += [] if predicted.any() else [arm]
    fig.legend(handles=[Patch(color="#E69F00", label="hippocampus (label or prediction)")]
               + ([Patch(color="#0072B2", alpha=0.4, label="labelled background")] if train else [])
               + [Line2D([], [], color="#0072B2", label="true outline")], loc="outside lower center", ncol=3)

    def mean(arm, metric):
        return np.mean([r["metrics"][metric] for r in runs if r["arm"] == arm])

    n = len({r["seed"] for r in runs})
    voxels = seed0["sparse"]["extras"]["voxels"]
    caption = (
        "Toy scale, one image (Colin27 T1, Holmes et al. 1998, and AAL atlas, Tzourio-Mazoyer et al. 2002, Debian "
        "mricron-data; 2 mm voxels; lateral on the left in axial and coronal views, posterior in sagittal ones; up is "
        "anterior in axial views, superior in the others). "
        + ("Top: what the sparse arm learns from, on the left hemisphere: the planes "
           + ", ".join(f"{a} = {' and '.join(map(str, planes[a]))}" for a in "xyz")
           + f" ({setting['planes']} per axis, evenly inside the hippocampus), labelled whole, "
           f"{voxels['labelled']:,} of {voxels['hemisphere']:,} voxels "
           f"({100 * voxels['labelled'] / voxels['hemisphere']:.1f} %); one plane per axis is shown, and an axial "
           "slice between two labelled ones, crossed only by the sagittal and coronal planes. Bottom: the"
           if train else "The")
        + f" axial slice z = {shown['z']} through the test hippocampus (the right hemisphere mirrored onto the "
        "left) and each arm's seed-0 prediction. IoU of the whole test hippocampus, seed 0: "
        f"{seed0['sparse']['metrics']['iou']:.2f} from the sparse labels, {seed0['dense']['metrics']['iou']:.2f} from "
        f"every voxel; mean over {n} seeds {mean('sparse', 'iou'):.2f} against {mean('dense', 'iou'):.2f}, a ratio "
        f"sparse / dense of {mean('sparse', 'iou') / max(mean('dense', 'iou'), 1e-12):.2f}."
    )
    alt = (
        ("Two rows of four small grey MRI crops around the hippocampus. Top row: a labelled axial, coronal and "
         "sagittal plane of the training hemisphere, the hippocampus in orange on blue-tinted labelled background, "
         f"and an unlabelled axial slice where only {setting['planes']} vertical and {setting['planes']} horizontal "
         "lines of voxels are labelled. "
         "Bottom row: " if train else "Four small grey MRI crops around the hippocampus: ")
        + "the test T1 slice, the true hippocampus in orange, and the sparse and the dense arm's predictions in "
        "orange with the true outline in blue"
        + "".join(f"; the {arm} arm predicts no hippocampus on this slice" for arm in empty)
        + f". Test IoU, seed 0: {seed0['sparse']['metrics']['iou']:.2f} (sparse) and "
        f"{seed0['dense']['metrics']['iou']:.2f} (dense)."
    )
    return fig, caption, alt


(experiment,) = load_experiments(ledger.paper)
frozen = load_frozen(freeze_path(find_root(), ledger.paper, experiment.id))
if frozen is not None:  # no frozen runs yet: nothing to draw
    fig, caption, alt = sparse_annotation_figure(experiment, frozen)
    figures.show(fig, caption=caption, alt=alt, role=f"experiment:{experiment.id}")

# %%
ledger.summary()
