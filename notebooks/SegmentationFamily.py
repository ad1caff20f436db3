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
# # The segmentation family, side by side
#
# U-Net ([Ronneberger2015MICCAI](../../Ronneberger2015MICCAI/)), 3D U-Net
# ([Cicek2016MICCAI](../../Cicek2016MICCAI/)) and V-Net ([Milletari20163DV](../../Milletari20163DV/)),
# each at the configuration its paper describes. Everything structural is measured from
# `refimpl/` on the `meta` device: sizes, parameters, multiply-adds and receptive fields.
#
# The receptive field is given two ways (see `refimpl.analysis.receptive_field`): **exact**, the
# widest stretch of input voxels that any output voxel depends on, computed by following every
# tensor through the model's own layers, and **theoretical**, the textbook recurrence that counts
# an up-convolution like a convolution on the finer grid (V-Net's Table 1 counts that way). The
# models are analysed with padded convolutions on a large input so that an interior voxel is
# measured; padding changes only the border, not the field of an interior voxel.

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from torch import nn

from kb import figures
from kb.claims import Ledger
from refimpl.analysis import analyse, on_meta, receptive_field
from refimpl.unet import UNet
from refimpl.unet3d import unet3d
from refimpl.vnet import VNet

ledger = Ledger("SegmentationFamily")
figures.style()  # readable figures: fonts of 9 pt and more at the page's width

FAMILY = {  # name: (factory, padded factory, paper input, receptive-field input, loss)
    "U-Net": (UNet, lambda: UNet(padding="same"), (1, 1, 572, 572), (1, 1, 1024, 1024),
              "pixel-wise softmax cross-entropy weighted by $w(x)$ (Eq. 1, 2)"),
    "3D U-Net": (unet3d, lambda: unet3d(padding="same"), (1, 3, 132, 132, 116), (1, 3, 256, 256, 256),
                 "weighted softmax cross-entropy, weight 0 on unlabeled voxels"),
    "V-Net": (VNet, VNet, (1, 1, 128, 128, 64), (1, 1, 1024, 1024, 1024), "Dice loss $1 - D$ (Sec. 3)"),
}


def pooling_calls(model: nn.Module, shape) -> int:
    """How many times a max-pooling layer runs in one forward pass (one module may run several times)."""
    calls = []
    pools = [m for m in model.modules() if isinstance(m, (nn.MaxPool2d, nn.MaxPool3d))]
    handles = [m.register_forward_hook(lambda *_: calls.append(1)) for m in pools]
    analyse(model, shape)
    for h in handles:
        h.remove()
    return len(calls)


def conv_kind(model: nn.Module, shape) -> str:
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
    kernels = sorted({"×".join(map(str, m.kernel_size)) for m in convs if m.kernel_size[0] > 1})
    padding = "valid" if all(p == 0 for m in convs for p in m.padding) else "padded"
    pools = pooling_calls(model, shape)
    down = f"{pools}× max-pool" if pools else "stride-2 convolutions"
    return f"{', '.join(kernels)} {padding}; down: {down}"


rows = ["| model | input → output | convolutions | parameters (M) | GMAdds | receptive field: exact / theoretical | loss |",
        "|---|---|---|---|---|---|---|"]
measured = {}
for name, (factory, padded, shape, rf_shape, loss) in FAMILY.items():
    model = on_meta(factory)
    cost = analyse(model, shape)
    field = receptive_field(on_meta(padded), rf_shape)[""]
    measured[name] = (cost, field, shape)
    size = lambda s: "×".join(map(str, s))  # noqa: E731
    rows.append(
        f"| {name} | {size(shape[2:])} → {size(cost.output_shape[2:])} | {conv_kind(model, shape)} | {cost.params / 1e6:.2f} "
        f"| {cost.madds / 1e9:.1f} | {field.size[0]} / {field.theoretical[0]:g} | {loss} |"
    )
display(Markdown("\n".join(rows)))

# %% [markdown]
# U-Net and 3D U-Net use unpadded ("valid") convolutions, so their output is smaller than their
# input and a large image is segmented tile by tile; V-Net pads its 5×5×5 convolutions, so a
# 128×128×64 volume comes out at 128×128×64. The printed sizes, side by side:

# %%
ledger.check(
    "output-sizes",
    "Output size per side: U-Net 388 (of 572), 3D U-Net 44×44×28 (of 132×132×116), V-Net 128×128×64 (of the same)",
    "U-Net Fig. 1; 3D U-Net Sec. 2; V-Net Sec. 3.1",
    reported=[[388, 388], [44, 44, 28], [128, 128, 64]],
    measured=[list(measured[name][0].output_shape[2:]) for name in FAMILY],
)
ledger.check(
    "vnet-no-pooling",
    "Max-poolings per forward pass: U-Net 4 (Fig. 1); 3D U-Net 3 ('four resolution steps'); "
    "V-Net none ('convolutions with stride 2' instead of pooling)",
    "V-Net Sec. 2; U-Net Sec. 2; 3D U-Net Sec. 2",
    reported=[4, 3, 0],
    measured=[pooling_calls(on_meta(FAMILY[name][0]), FAMILY[name][2]) for name in FAMILY],
    unit="poolings",
)

# %% [markdown]
# How much of its input one output voxel sees, against the input the paper feeds (per side). V-Net's
# field covers its whole 128×128×64 input — the paper's argument that "the network is able to
# capture the content of the whole input volume" — while a U-Net output pixel sees a window of the
# tile, and the tiling supplies the rest.

# %%
fig, ax = plt.subplots(figsize=(7.2, 3.4))
names = list(FAMILY)
exact = [measured[n][1].size[0] for n in names]
theory = [measured[n][1].theoretical[0] for n in names]
inputs = [measured[n][2][2] for n in names]
positions = range(len(names))
ax.bar([i - 0.2 for i in positions], exact, 0.4, color="C0", label="exact (voxels one output voxel depends on)")
ax.bar([i + 0.2 for i in positions], theory, 0.4, color="C1", label="theoretical (the recurrence)")
ax.hlines(inputs, [i - 0.45 for i in positions], [i + 0.45 for i in positions], colors="black", linestyles="--",
          label="the input the paper feeds")
ax.set(xticks=list(positions), xticklabels=names, ylabel="voxels per side", ylim=(0, 1.1 * max(exact + theory + inputs)),
       title="Receptive field of one output voxel, against the input size")
fig.legend(loc="outside lower center", ncol=2)
figures.show(
    fig,
    caption="Receptive field of one output voxel per side, exact and by the recurrence, against the side of the "
    "input each paper feeds (dashed). V-Net's field is larger than its whole input, which is the paper's "
    "\"capture the content of the whole input volume\"; a U-Net or 3D U-Net output voxel sees only a window "
    "of its tile, and the tiling supplies the rest.",
    alt="Grouped bar chart, two bars per network with a dashed line for its input side. "
    + "; ".join(f"{n}: exact {e}, theoretical {t:g}, input {i}" for n, e, t, i in zip(names, exact, theory, inputs))
    + " voxels per side.",
)

# %%
ledger.summary()
