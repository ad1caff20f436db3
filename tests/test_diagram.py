"""Architecture figures (refimpl.diagram): stages read off the models, skip connections, the SVG, the notebook output."""

import re
import xml.etree.ElementTree as ET

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from refimpl import diagram
from refimpl.analysis import count_params, on_meta
from refimpl.mobilenet_v1 import MobileNetV1
from refimpl.mobilenet_v2 import BOTTLENECKS, MobileNetV2
from refimpl.mobilenet_v3 import MobileNetV3
from refimpl.resnet import ResNet
from refimpl.unet import PAPER_TILE, UNet
from refimpl.unet3d import PAPER_TILE as TILE_3D
from refimpl.unet3d import unet3d
from refimpl.vnet import INPUT_SIZE, VNet

SVG = "{http://www.w3.org/2000/svg}"
IMAGENET = (1, 3, 224, 224)

# MobileNets, arXiv:1704.04861v1, Table 1, "Input Size" column: what each of our stages outputs is the
# input of the row after it. (side, channels); side 0 for the FC output (1000 classes, no spatial axis).
TABLE1_OUTPUTS = [
    (224, 3),     # the image, input of "Conv / s2"
    (112, 32),    # input of "Conv dw / s1" after "Conv / s2"
    (112, 64),    # input of "Conv dw / s2"
    (56, 128),    # input of "Conv dw / s1"
    (56, 128),    # input of "Conv dw / s2"
    (28, 256),    # input of "Conv dw / s1"
    (28, 256),    # input of "Conv dw / s2"
    (14, 512),    # input of the first of "5× Conv dw / s1"
    (14, 512), (14, 512), (14, 512), (14, 512),
    (14, 512),    # input of "Conv dw / s2"
    (7, 1024),    # input of "Conv dw / s2" (printed s2; the sizes say s1, see refimpl.mobilenet_v1.BODY)
    (7, 1024),    # input of "Avg Pool / s1"
    (1, 1024),    # input of "FC / s1"
    (0, 1000),    # input of "Softmax / s1"
]


def shape_of(side, channels):
    return (channels, side, side) if side else (channels,)


def test_mobilenet_v1_stages_match_table1_output_sizes():
    found = diagram.stages(on_meta(MobileNetV1), IMAGENET)
    assert [s.shape for s in found] == [shape_of(*row) for row in TABLE1_OUTPUTS]
    assert [s.kind for s in found] == ["input", *["conv"] * 14, "pool", "output"]
    assert sum(s.params for s in found) == count_params(on_meta(MobileNetV1))


def test_default_stages_open_plain_containers_but_not_layer_units():
    names = [s.name for s in diagram.stages(on_meta(ResNet, 50), IMAGENET)]
    # conv1 is a Sequential of conv, batch norm and ReLU: one stage; conv2_x … conv5_x are opened into blocks
    assert names[:4] == ["input", "conv1", "pool1", "conv2_x.0"]
    assert names[-3:] == ["conv5_x.2", "pool5", "fc"]
    assert len(names) == 1 + 2 + (3 + 4 + 6 + 3) + 2


def test_explicit_stages_give_resnet_table1_output_sizes():
    model = on_meta(ResNet, 50)
    names = ["conv1", "pool1", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "pool5", "fc"]
    found = diagram.stages(model, IMAGENET, modules=names)
    # He et al. 2016, Table 1 "output size": 112, 56 (after the max pool and conv2_x), 28, 14, 7, then 1 × 1
    assert [s.spatial for s in found[1:7]] == [(112, 112), (56, 56), (56, 56), (28, 28), (14, 14), (7, 7)]
    assert [s.channels for s in found[3:7]] == [256, 512, 1024, 2048]
    labelled = diagram.stages(model, IMAGENET, modules=[("stem", model.conv1), ("pool", model.pool1)])
    assert [s.name for s in labelled] == ["input", "stem", "pool"]


def test_unet_has_four_skip_pairs_each_joining_a_contracting_level_to_its_expanding_level():
    found = diagram.stages(on_meta(UNet), (1, 1, PAPER_TILE, PAPER_TILE))
    pairs = diagram.skip_connections(found)
    assert len(pairs) == 4
    joined = [(found[a].name, found[b].name) for a, b in pairs]
    assert joined == [("contract.3", "expand.0"), ("contract.2", "expand.1"), ("contract.1", "expand.2"), ("contract.0", "expand.3")]
    for a, b in pairs:  # same width on both sides (Fig. 1's grey arrows), the encoder side larger before the crop
        assert found[a].channels == found[b].channels
        assert found[a].spatial[0] > found[b].spatial[0]
    # the one max-pooling module runs four times: four stages
    assert [s.name for s in found].count("pool") == 4


@pytest.mark.parametrize("factory, shape, levels", [
    (unet3d, (1, 3, *TILE_3D), 3),     # Fig. 2: four levels, three skip connections
    (VNet, (1, 1, *INPUT_SIZE), 4),    # Fig. 2: L-Stage 1–4 forwarded to R-Stage 1–4
])
def test_volumetric_encoder_decoders_skip_from_left_level_to_right_level(factory, shape, levels):
    found = diagram.stages(on_meta(factory), shape)
    joined = [(found[a].name, found[b].name) for a, b in diagram.skip_connections(found)]
    assert joined == [(f"contract.{levels - 1 - i}", f"expand.{i}") for i in range(levels)]


def test_classifiers_have_no_skips_between_stages():
    for model in (on_meta(MobileNetV1), on_meta(MobileNetV2), on_meta(ResNet, 50)):
        assert diagram.skip_connections(diagram.stages(model, IMAGENET)) == []


def rendered(svg):
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


@pytest.mark.parametrize("model, shape", [
    (on_meta(UNet), (1, 1, PAPER_TILE, PAPER_TILE)),   # 19 boxes: the full 720 units
    (on_meta(MobileNetV1), IMAGENET),                  # 9 boxes: a narrower figure
])
def test_svg_parses_scales_with_a_viewbox_and_every_text_is_at_least_9pt(model, shape):
    data, _ = diagram.architecture_output(model, shape, "A caption.")
    root = rendered(data["image/svg+xml"])
    x0, y0, width, height = map(float, root.get("viewBox").split())
    assert (x0, y0) == (0, 0) and diagram.MIN_WIDTH <= width <= diagram.WIDTH and height > 0
    assert float(root.get("width")) == width and "max-width:100%" in root.get("style")
    shown = min(680.0, width)  # its own width, or a column somewhat narrower than the note's 720 px
    sizes = [float(t.get("font-size")) * shown / width * 0.75 for t in root.iter(f"{SVG}text")]  # px → pt
    assert sizes and min(sizes) >= 9
    assert not re.search(r"@import|url\(http|<image|href=\"http", data["image/svg+xml"])  # nothing fetched


def test_unet_figure_names_itself_and_draws_four_skip_brackets():
    data, _ = diagram.architecture_output(on_meta(UNet), (1, 1, PAPER_TILE, PAPER_TILE), "U-Net.")
    root = rendered(data["image/svg+xml"])
    assert root.find(f"{SVG}title").text == "U-Net at 572²"  # the model's own name
    assert "4 skip connections" in root.find(f"{SVG}desc").text
    assert len([p for p in root.iter(f"{SVG}path") if p.get("marker-end") == "url(#skip)"]) == 4


def texts_of(svg):
    return [t.text for t in rendered(svg).iter(f"{SVG}text")]


def test_repeated_blocks_share_a_box_with_table2_repeat_counts():
    found = diagram.stages(on_meta(MobileNetV2), IMAGENET)
    counts = [int(t[1:]) for t in texts_of(diagram.architecture_svg(found)) if re.fullmatch(r"×\d+", t)]
    assert counts == [n for _, _, n, _ in BOTTLENECKS if n > 1]  # Table 2's n column
    assert not any(re.fullmatch(r"×\d+", t) for t in texts_of(diagram.architecture_svg(found, group=False)))


def test_legend_names_only_the_kinds_drawn():
    found = diagram.stages(on_meta(MobileNetV1), IMAGENET)
    texts = texts_of(diagram.architecture_svg(found))
    assert "pooling (no parameters)" in texts and "output layer" in texts
    assert "up-convolution" not in texts and "skip connection" not in texts


def test_title_is_escaped():
    found = diagram.stages(on_meta(MobileNetV1), IMAGENET)
    assert "a <b> & c" in texts_of(diagram.architecture_svg(found, title="a <b> & c"))


@pytest.mark.parametrize("spatial, label", [
    ((112, 112), "112²"), ((64, 64, 64), "64³"), ((132, 132, 116), "132²×116"), ((), "1"), ((3, 5), "3×5"),
])
def test_side_label(spatial, label):
    assert diagram.side_label(spatial) == label


def test_alt_text_is_written_from_the_stages():
    _, metadata = diagram.architecture_output(on_meta(MobileNetV1), IMAGENET, "MobileNetV1.")
    assert metadata["kb"]["alt"].startswith("MobileNetV1 at 224²: 16 stages from 224² × 3 to 1 × 1000; side 224 down to 7, then pooled to 1; "
                                         "up to 1024 channels")
    assert "4.2 M parameters" in metadata["kb"]["alt"]


@pytest.fixture
def shell(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setattr(diagram, "_in_kernel", lambda: True)
    yield InteractiveShell.instance()
    InteractiveShell.clear_instance()


def test_displayed_output_carries_the_kb_metadata(shell):
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        diagram.show_architecture(on_meta(MobileNetV1), IMAGENET, "MobileNetV1 (Table 1). 表 1 的结构", title="MobileNetV1")
    (output,) = captured.outputs
    assert output.metadata == {"kb": {"role": "architecture", "caption": "MobileNetV1 (Table 1). 表 1 的结构",
                                      "alt": output.data["text/plain"]}}
    assert output.data["text/plain"].startswith("MobileNetV1: 16 stages")
    rendered(output.data["image/svg+xml"])


def test_outside_a_kernel_prints_one_line(capsys):
    diagram.show_architecture(on_meta(MobileNetV1), IMAGENET, "MobileNetV1.", alt="Fourteen convolution stages.")
    assert capsys.readouterr().out == "architecture: Fourteen convolution stages.\n"


@pytest.mark.parametrize("call, message", [
    (lambda: diagram.stages("MobileNetV1", IMAGENET), "must be a torch.nn.Module"),
    (lambda: diagram.stages(on_meta(MobileNetV1), (1, 3)), "at least one spatial axis"),
    (lambda: diagram.stages(on_meta(MobileNetV1), (1, 1, 224, 224)), "channel"),
    (lambda: diagram.stages(on_meta(MobileNetV1), IMAGENET, modules=["body"]), r"no sub-module 'body'; its children are \['features', 'pool', 'classifier'\]"),
    (lambda: diagram.stages(on_meta(MobileNetV1), IMAGENET, modules=["features", "features.0"]), "lies inside stage 'features'"),
    (lambda: diagram.stages(on_meta(MobileNetV1), IMAGENET, modules=[]), "at least one stage"),
    (lambda: diagram.stages(on_meta(MobileNetV1), IMAGENET, modules=[("x", MobileNetV2().stem)]), "not a sub-module"),
    (lambda: diagram.architecture_svg([]), "non-empty list of Stage"),
    (lambda: diagram.architecture_svg(diagram.stages(on_meta(MobileNetV1), IMAGENET), skips=[(3, 40)]), r"0 <= from < to < 17"),
    (lambda: diagram.architecture_output(on_meta(MobileNetV1), IMAGENET, ""), "caption must be a non-empty string"),
    (lambda: diagram.architecture_output(on_meta(MobileNetV1), IMAGENET, "c", alt=" "), "alt must be a non-empty string"),
])
def test_bad_input_is_refused_with_one_line(call, message):
    with pytest.raises(ValueError, match=message) as raised:
        call()
    assert "\n" not in str(raised.value)


# --------------------------------------------------------------------------- the figure, pinned


class Residual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                                  nn.Hardswish())

    def forward(self, x):
        return x + self.body(x)


class Tiny(nn.Module):
    """Every kind of box, a "×2" box, a concatenated skip, and every layer the meta pass answers itself."""

    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(2)
        self.mid = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.PReLU(16))
        self.blocks = nn.ModuleList([Residual(16), Residual(16)])
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.head = nn.Sequential(nn.Conv2d(16, 4, 1), nn.ReLU6(), nn.Sigmoid())

    def forward(self, x):
        skip = self.down(x)
        y = self.mid(self.pool(skip))
        for block in self.blocks:
            y = block(y)
        return self.head(torch.cat([skip, self.up(y)], 1))


# Written by refimpl/diagram.py as it was before its meta pass answered batch norms and activations
# itself (commit 6449222). A change to the drawing changes this on purpose: print the new SVG and
# read it before pasting it here.
TINY_SVG = """\
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 480 307" width="480" height="307" role="img" aria-labelledby="kb-arch-title kb-arch-desc" style="max-width:100%;height:auto" font-family="DejaVu Sans, Verdana, Arial, Helvetica, sans-serif">
<title id="kb-arch-title">Tiny at 32²</title>
<desc id="kb-arch-desc">Tiny at 32²: 7 stages from 32² × 3 to 32² × 4; side 32 down to 16 and back up to 32; up to 16 channels; 1 skip connection carry the output of down to head; 6,708 parameters.</desc>
<defs>
<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>
<marker id="skip" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#a3367a"/></marker>
</defs>
<rect x="0" y="0" width="480" height="307" rx="6" fill="#ffffff"/>
<text x="14.0" y="27.0" font-size="15" text-anchor="start" fill="#1f1f1f" font-weight="bold">Tiny at 32²</text>
<line x1="57.6" y1="113.0" x2="93.9" y2="113.0" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>
<line x1="127.9" y1="113.0" x2="158.4" y2="113.0" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>
<line x1="192.4" y1="113.0" x2="219.0" y2="113.0" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>
<line x1="261.0" y1="113.0" x2="283.6" y2="113.0" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>
<line x1="325.6" y1="113.0" x2="352.1" y2="113.0" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>
<line x1="386.1" y1="113.0" x2="420.7" y2="113.0" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>
<rect x="36.9" y="57.0" width="18.7" height="112.0" fill="#e9e9e9" stroke="#6b6b6b" stroke-width="1.2"><title>input: input, output 32² × 3, 0 parameters</title></rect>
<rect x="95.9" y="57.0" width="30.0" height="112.0" fill="#cfe3f3" stroke="#0b5a8f" stroke-width="1.2"><title>down: Sequential, output 32² × 8, 232 parameters</title></rect>
<rect x="160.4" y="107.0" width="30.0" height="12.0" fill="#f2f2f2" stroke="#8a8a8a" stroke-width="1.2"><title>pool: MaxPool2d, output 16² × 8, 0 parameters</title></rect>
<rect x="221.0" y="107.0" width="38.0" height="12.0" fill="#cfe3f3" stroke="#0b5a8f" stroke-width="1.2"><title>mid: Sequential, output 16² × 16, 1,216 parameters</title></rect>
<rect x="290.6" y="102.0" width="38.0" height="12.0" fill="#cfe3f3" stroke="#0b5a8f" stroke-width="0.8"/>
<rect x="288.1" y="104.5" width="38.0" height="12.0" fill="#cfe3f3" stroke="#0b5a8f" stroke-width="0.8"/>
<rect x="285.6" y="107.0" width="38.0" height="12.0" fill="#cfe3f3" stroke="#0b5a8f" stroke-width="1.2"><title>blocks.0 … blocks.1: Residual × 2, output 16² × 16, 4,672 parameters</title></rect>
<text x="307.1" y="95.0" font-size="13" text-anchor="middle" fill="#1f1f1f" font-weight="bold">×2</text>
<rect x="354.1" y="57.0" width="30.0" height="112.0" fill="#fbe3c2" stroke="#a0620a" stroke-width="1.2"><title>up: ConvTranspose2d, output 32² × 8, 520 parameters</title></rect>
<rect x="422.7" y="57.0" width="22.0" height="112.0" fill="#cdeee2" stroke="#0b6e4f" stroke-width="1.2"><title>head: Sequential, output 32² × 4, 68 parameters</title></rect>
<text x="46.3" y="190.0" font-size="13" text-anchor="middle" fill="#1f1f1f">32²</text>
<text x="46.3" y="207.0" font-size="13" text-anchor="middle" fill="#1f1f1f">× 3</text>
<text x="110.9" y="190.0" font-size="13" text-anchor="middle" fill="#1f1f1f">32²</text>
<text x="110.9" y="207.0" font-size="13" text-anchor="middle" fill="#1f1f1f">× 8</text>
<text x="175.4" y="190.0" font-size="13" text-anchor="middle" fill="#1f1f1f">16²</text>
<text x="175.4" y="207.0" font-size="13" text-anchor="middle" fill="#1f1f1f">× 8</text>
<text x="240.0" y="190.0" font-size="13" text-anchor="middle" fill="#1f1f1f">16²</text>
<text x="240.0" y="207.0" font-size="13" text-anchor="middle" fill="#1f1f1f">× 16</text>
<text x="304.6" y="190.0" font-size="13" text-anchor="middle" fill="#1f1f1f">16²</text>
<text x="304.6" y="207.0" font-size="13" text-anchor="middle" fill="#1f1f1f">× 16</text>
<text x="369.1" y="190.0" font-size="13" text-anchor="middle" fill="#1f1f1f">32²</text>
<text x="369.1" y="207.0" font-size="13" text-anchor="middle" fill="#1f1f1f">× 8</text>
<text x="433.7" y="190.0" font-size="13" text-anchor="middle" fill="#1f1f1f">32²</text>
<text x="433.7" y="207.0" font-size="13" text-anchor="middle" fill="#1f1f1f">× 4</text>
<path d="M110.9,56.0 V52.0 Q110.9,47.0 115.9,47.0 H428.7 Q433.7,47.0 433.7,52.0 V54.0" fill="none" stroke="#a3367a" stroke-width="1.4" marker-end="url(#skip)"><title>skip connection: down → head</title></path>
<rect x="14.0" y="230.0" width="12" height="12" fill="#e9e9e9" stroke="#6b6b6b"/>
<text x="32.0" y="240.0" font-size="13" text-anchor="start" fill="#1f1f1f">input</text>
<rect x="86.7" y="230.0" width="12" height="12" fill="#cfe3f3" stroke="#0b5a8f"/>
<text x="104.7" y="240.0" font-size="13" text-anchor="start" fill="#1f1f1f">convolution stage</text>
<rect x="253.6" y="230.0" width="12" height="12" fill="#f2f2f2" stroke="#8a8a8a"/>
<text x="271.6" y="240.0" font-size="13" text-anchor="start" fill="#1f1f1f">pooling (no parameters)</text>
<rect x="14.0" y="251.0" width="12" height="12" fill="#fbe3c2" stroke="#a0620a"/>
<text x="32.0" y="261.0" font-size="13" text-anchor="start" fill="#1f1f1f">up-convolution</text>
<rect x="158.8" y="251.0" width="12" height="12" fill="#cdeee2" stroke="#0b6e4f"/>
<text x="176.8" y="261.0" font-size="13" text-anchor="start" fill="#1f1f1f">output layer</text>
<line x1="286.9" y1="257.0" x2="299.9" y2="257.0" stroke="#a3367a" stroke-width="2"/>
<text x="304.9" y="261.0" font-size="13" text-anchor="start" fill="#1f1f1f">skip connection</text>
<text x="14.0" y="280.0" font-size="13" text-anchor="start" fill="#555">Label: output size, then × channels; ×n: n equal blocks in a row;</text>
<text x="14.0" y="297.0" font-size="13" text-anchor="start" fill="#555">box height ∝ log side, width ∝ log channels.</text>
</svg>"""


def test_svg_of_a_small_model_is_pinned_byte_for_byte():
    data, _ = diagram.architecture_output(on_meta(Tiny), (1, 3, 32, 32), "Tiny.", name="Tiny")
    assert data["image/svg+xml"] == TINY_SVG
    # a model on the CPU is copied to meta first: the same figure
    assert diagram.architecture_output(Tiny(), (1, 3, 32, 32), "Tiny.", name="Tiny")[0]["image/svg+xml"] == TINY_SVG


# --------------------------------------------------------------------------- the meta pass's stand-ins


def meta(*shape, dtype=torch.float32):
    return torch.empty(*shape, device="meta", dtype=dtype)


X = meta(2, 4, 5, 5)
STAND_IN_CALLS = [  # (function, args, kwargs), every function of diagram._SAME_SHAPE at least once
    (F.relu, (X,), {}), (F.relu, (X, True), {}), (F.relu6, (X,), {"inplace": True}), (F.relu6, (X.half(),), {}),
    (F.hardtanh, (X, 0.0, 6.0), {}), (F.hardtanh, (X, 0.0, 6.0, True), {}), (F.hardswish, (X,), {}),
    (F.hardsigmoid, (X, True), {}), (F.silu, (X,), {}), (F.mish, (X,), {}), (F.leaky_relu, (X, 0.1, True), {}),
    (F.elu, (X,), {}), (torch.relu, (X,), {}), (torch.sigmoid, (meta(3, 7, dtype=torch.float64),), {}),
    (torch.tanh, (X,), {}),
    (F.batch_norm, (X, meta(4), meta(4), meta(4), meta(4)), {}),
    (F.batch_norm, (X, meta(4), meta(4)), {"weight": meta(4), "training": False}),
    (F.batch_norm, (meta(3, 4),), {"running_mean": meta(4), "running_var": meta(4)}),
    (torch.prelu, (X, meta(4)), {}), (torch.prelu, (X, meta(1)), {}),
]


def test_every_stand_in_is_checked_against_pytorch():
    assert {func for func, _, _ in STAND_IN_CALLS} == set(diagram._SAME_SHAPE)


@pytest.mark.parametrize("func, args, kwargs", STAND_IN_CALLS)
def test_stand_ins_give_pytorchs_shape_dtype_and_identity(func, args, kwargs):
    got = diagram._SAME_SHAPE[func](args, kwargs)
    want = func(*args, **kwargs)
    assert got is not None
    assert (got.shape, got.dtype, got.device) == (want.shape, want.dtype, want.device)
    assert (got is args[0]) == (want is args[0])  # in place: the input itself, as PyTorch returns it


@pytest.mark.parametrize("func, args, kwargs", [
    (F.batch_norm, (X, meta(3), meta(3)), {}),                    # 3 running means for 4 channels
    (F.batch_norm, (X, None, None), {"training": True}),          # batch statistics
    (F.batch_norm, (X, meta(4), meta(4), meta(4, dtype=torch.float64)), {}),
    (F.relu, (torch.empty(2, 4),), {}),                            # not on meta
    (torch.sigmoid, (meta(2, 4, dtype=torch.int64),), {}),        # an integer input gives floats
    (torch.prelu, (X, meta(3)), {}),
])
def test_stand_ins_leave_unusual_calls_to_pytorch(func, args, kwargs):
    assert diagram._SAME_SHAPE[func](args, kwargs) is None


def test_a_batch_norm_of_the_wrong_width_still_fails_the_pass():
    with pytest.raises(RuntimeError, match="running_mean should contain 8 elements not 4"):
        diagram.stages(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(4)), (1, 3, 8, 8))


@pytest.mark.parametrize("factory, args, shape", [
    (MobileNetV3, ("large",), IMAGENET),   # batch norms, h-swish, ReLU6, squeeze-excite, residual additions
    (VNet, (), (1, 1, *INPUT_SIZE)),       # PReLU in 3D, skip connections
])
def test_stand_ins_change_no_stage(monkeypatch, factory, args, shape):
    fast = diagram.stages(on_meta(factory, *args), shape)
    monkeypatch.setattr(diagram, "_SAME_SHAPE", {})  # every layer computed by PyTorch
    assert diagram.stages(on_meta(factory, *args), shape) == fast
