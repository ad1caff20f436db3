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
# # The MobileNet family, side by side
#
# MobileNetV1 ([Howard2017arxiv](../../Howard2017arxiv/)), MobileNetV2
# ([Sandler2018CVPR](../../Sandler2018CVPR/)) and MobileNetV3 ([Howard2019arxiv](../../Howard2019arxiv/))
# at their standard settings (width 1.0, 224 × 224 input). Parameters and multiply-adds are
# measured from `refimpl/` on the `meta` device; top-1 accuracy is as each paper prints it (ImageNet
# training is out of reach here); CPU latency is measured on the machine that executed this page.
#
# **Why latency is measured at all.** MobileNetV3's own motivation is that multiply-adds are a
# proxy: on real hardware the depthwise layers are memory-bound, so fewer MAdds need not mean
# faster. The timings below are *indicative* — one machine, batch 1, a few repetitions, whatever
# else ran at the same time — and are shown, never used as pass/fail claims.

# %%
import os
import platform
import time

import matplotlib.pyplot as plt
import torch

from kb import figures
from kb.claims import Ledger
from refimpl.analysis import analyse, on_meta
from refimpl.mobilenet_v1 import MobileNetV1
from refimpl.mobilenet_v2 import MobileNetV2
from refimpl.mobilenet_v3 import MobileNetV3

ledger = Ledger("MobileNetFamily")
figures.style()  # readable figures: fonts of 9 pt and more at the page's width
torch.manual_seed(0)

MODELS = {  # name: (factory, top-1 % as printed, where)
    "MobileNetV1": (lambda: MobileNetV1(), 70.6, "V1 Table 6"),
    "MobileNetV2": (lambda: MobileNetV2(), 72.0, "V2 Table 4"),
    "MobileNetV3-Large": (lambda: MobileNetV3("large"), 75.2, "V3 Table 3"),
    "MobileNetV3-Small": (lambda: MobileNetV3("small"), 67.4, "V3 Table 3"),
}
INPUT = (1, 3, 224, 224)

# %% [markdown]
# ## Size and cost (measured) against accuracy (reported)

# %%
with torch.device("meta"):
    costs = {name: analyse(factory(), INPUT) for name, (factory, _, _) in MODELS.items()}


def latency_ms(model: torch.nn.Module, runs: int = 15) -> float:
    """Median wall-clock time of one forward pass at batch 1 (after 3 warm-up passes), in ms."""
    model.eval()
    x = torch.randn(INPUT)
    times = []
    with torch.inference_mode():
        for i in range(runs + 3):
            start = time.perf_counter()
            model(x)
            if i >= 3:
                times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


threads = torch.get_num_threads()
latency = {name: latency_ms(factory()) for name, (factory, _, _) in MODELS.items()}
machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} using {threads} thread(s)"

rows = ["| model | parameters (M) | MAdds (M) | top-1 % (reported) | CPU latency, ms (indicative) |", "|---|---|---|---|---|"]
for name, (_, top1, where) in MODELS.items():
    c = costs[name]
    rows.append(f"| {name} | {c.params / 1e6:.2f} | {c.madds / 1e6:.1f} | {top1} ({where}) | {latency[name]:.1f} |")
from IPython.display import Markdown, display  # noqa: E402

display(Markdown("\n".join(rows) + f"\n\nLatency measured on: {machine}."))

# %% [markdown]
# Each generation was designed to need less computation than the one before at the same width,
# and each paper prints its predecessor as the heavier baseline: V1 569M, V2 300M, V3-Large 219M
# Mult-Adds. The multiply-add ordering is checked on our implementations (the exact counts, and why
# they differ slightly from the printed ones, are on each paper's page).

# %%
madds = {name: costs[name].madds / 1e6 for name in MODELS}
ledger.check(
    "madds-decrease-by-generation",
    "Each generation needs fewer Mult-Adds at width 1.0: V1 (569M) > V2 (300M) > V3-Large (219M)",
    "V1 Table 6; V2 Table 4; V3 Table 3",
    reported=True,
    measured=madds["MobileNetV1"] > madds["MobileNetV2"] > madds["MobileNetV3-Large"],
)
ledger.check(
    "v3-small-cheapest",
    "MobileNetV3-Small is the cheapest of the family (56M Mult-Adds in V3 Table 3)",
    "V3 Table 3",
    reported="MobileNetV3-Small",
    measured=min(madds, key=madds.get),
)
ledger.reported(
    "top1-by-generation",
    "ImageNet top-1: V1 70.6 %, V2 72.0 %, V3-Large 75.2 %, V3-Small 67.4 %",
    "V1 Table 6; V2 Table 4; V3 Table 3",
    reported=[70.6, 72.0, 75.2, 67.4],
    unit="%",
    reason="needs ImageNet training, which this project does not do",
)
ledger.reported(
    "v3-large-latency",
    "MobileNetV3-Large is 20 % faster than MobileNetV2 on a Pixel phone at higher accuracy",
    "V3 abstract and Table 3",
    reported=20,
    unit="%",
    reason="phone latency (Pixel 1/2/3, TFLite, single core) cannot be measured here; desktop CPU timings above are indicative only",
)

# %%
fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.4))
for name, (_, top1, _) in MODELS.items():
    for ax, value in zip(axes, (top1, latency[name])):
        ax.scatter(madds[name], value, s=50)
        ax.annotate(name.replace("MobileNet", ""), (madds[name], value), textcoords="offset points", xytext=(7, 0),
                    va="center")
for ax in axes:
    ax.set_xlim(0, 1.3 * max(madds.values()))  # room for the labels right of the points
    ax.margins(y=0.12)
axes[0].set(xlabel="million Mult-Adds (measured)", ylabel="ImageNet top-1 % (reported)", title="Cost against accuracy")
axes[1].set(xlabel="million Mult-Adds (measured)", ylabel="ms per image (this CPU)", title="Cost against CPU latency")
figures.show(
    fig,
    caption="The four MobileNets by measured Mult-Adds at 224²: against the ImageNet top-1 accuracy each paper "
    "reports (left) and against the forward-pass time measured on the machine that built this page (right; "
    f"batch 1, median of 15 runs, {machine}). Left, V1, V2 and V3-Large are each cheaper and more accurate than "
    "the one before, and V3-Small buys the lowest cost with accuracy; right, time need not follow Mult-Adds on a "
    "desktop CPU (see below).",
    alt="Two scatter plots with one labelled point per model. "
    + "; ".join(f"{name}: {madds[name]:.0f} million Mult-Adds, {top1} % top-1, {latency[name]:.1f} ms"
                for name, (_, top1, _) in MODELS.items()) + ".",
)

# %% [markdown]
# On a desktop CPU the right-hand plot need not be a straight line: PyTorch's depthwise kernels move
# a lot of memory for few multiply-adds, and V3's squeeze-and-excite and h-swish add element-wise
# work that the MAdds count ignores. This is the effect that made the V3 authors search against
# measured phone latency rather than against MAdds.

# %%
ledger.summary()
