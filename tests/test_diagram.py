"""Architecture figures (refimpl.diagram): stages read off the models, skip connections, the SVG, the notebook output."""

import re
import xml.etree.ElementTree as ET

import pytest

from refimpl import diagram
from refimpl.analysis import count_params, on_meta
from refimpl.mobilenet_v1 import MobileNetV1
from refimpl.mobilenet_v2 import BOTTLENECKS, MobileNetV2
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
