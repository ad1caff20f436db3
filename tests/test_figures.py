"""kb.figures: every figure shown with a caption and alt text, readable at the page's width, nothing cut off.

And over every notebook: no figure reaches the page except through ``kb.figures.show``.
"""

from __future__ import annotations

import ast
import base64
import re
import struct
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from kb import figures  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
CAPTION = "Two lines cross at x = 1: read which one is above on each side."
ALT = "Line plot: a rising line from 0 to 2 and a falling line from 2 to 0 cross at x = 1."


@pytest.fixture
def shell():
    """An IPython shell, as in a kernel: ``show`` displays through it and ``capture_output`` collects the outputs."""
    from IPython.core.interactiveshell import InteractiveShell

    instance = InteractiveShell.instance()
    yield instance
    InteractiveShell.clear_instance()


def crossing_lines(figsize=None) -> plt.Figure:
    """A styled figure with a title, labels, a legend and an image with a colourbar: every kind of text."""
    figures.style()
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize)
    left.plot([0, 1, 2], [0, 1, 2], label="rising")
    left.plot([0, 1, 2], [2, 1, 0], label="falling")
    left.set(title="Lines", xlabel="$x$", ylabel="value")
    left.legend()
    image = right.imshow(np.arange(16).reshape(4, 4))
    right.set_title("Image")
    fig.colorbar(image, ax=right, label="index")
    return fig


def smallest_text_px(fig: plt.Figure, rendered: figures.Rendered) -> float:
    """The smallest visible text of ``fig`` in CSS px at the displayed width, from the figure's own font sizes."""
    pixels_wide = struct.unpack(">II", rendered.png[16:24])[0]
    css_per_pixel = rendered.width_px / pixels_wide
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) / 72 * rendered.dpi * css_per_pixel


def test_show_attaches_caption_and_alt_as_output_metadata(shell):
    from IPython.utils.capture import capture_output

    fig = crossing_lines()
    with capture_output() as captured:
        figures.show(fig, caption=CAPTION, alt=ALT)
    (output,) = captured.outputs
    assert output.metadata["kb"] == {"caption": CAPTION, "alt": ALT}
    png = base64.b64decode(output.data["image/png"])
    assert png.startswith(b"\x89PNG")
    assert output.metadata["image/png"]["width"] == figures.PAGE_WIDTH_PX
    assert struct.unpack(">I", png[16:20])[0] == pytest.approx(figures.DENSITY * figures.PAGE_WIDTH_PX, abs=2)
    assert output.data["text/plain"] == f"Figure: {CAPTION}"
    assert not plt.fignum_exists(fig.number), "show closes the figure (no second, implicit display)"


def test_show_in_a_real_kernel_keeps_the_metadata_in_the_notebook():
    """What the site reads: the executed notebook's output, after the kernel's JSON and nbformat."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nfrom kb import figures\nfigures.style()\n"
        "fig, ax = plt.subplots(figsize=(4.8, 3))\nax.plot([0, 1])\n"
        f"figures.show(fig, caption={CAPTION!r}, alt={ALT!r}, width_px=480)"
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute(
        env={"MPLBACKEND": "module://matplotlib_inline.backend_inline", "PYTHONPATH": str(ROOT)})
    (output,) = nb.cells[0].outputs  # one figure: the one show displayed, none implicit
    assert output.output_type == "display_data"
    assert output.metadata["kb"] == {"caption": CAPTION, "alt": ALT}
    assert output.metadata["image/png"]["width"] == 480
    assert base64.b64decode(output.data["image/png"]).startswith(b"\x89PNG")


@pytest.mark.parametrize("field", ["caption", "alt"])
@pytest.mark.parametrize("value", ["", "   \n", None, 3])
def test_show_refuses_an_empty_caption_or_alt_and_closes_the_figure(field, value):
    fig = crossing_lines()
    arguments = {"caption": CAPTION, "alt": ALT, field: value}
    with pytest.raises(ValueError, match=rf"kb.figures.show: {field} must be a non-empty sentence .*; got "):
        figures.show(fig, **arguments)
    assert not plt.fignum_exists(fig.number)


@pytest.mark.parametrize("width", [0, -720, "720", True, 10_000])
def test_show_refuses_a_width_that_is_not_css_pixels(width):
    with pytest.raises(ValueError, match=r"width_px must be a width in CSS px, 1 to 2880 \(the page column is 720\)"):
        figures.show(crossing_lines(), caption=CAPTION, alt=ALT, width_px=width)


def test_outside_ipython_show_checks_and_closes_but_renders_nothing(monkeypatch):
    """``python notebooks/KEY.py``: no shell, so nothing is rendered, saved or printed."""
    assert not figures._in_kernel()
    monkeypatch.setattr(figures, "render", lambda *a, **k: pytest.fail("rendered outside IPython"))
    fig = crossing_lines()
    figures.show(fig, caption=CAPTION, alt=ALT)
    assert not plt.fignum_exists(fig.number)


def test_styled_figure_text_is_at_least_9_pt_at_the_page_width():
    fig = crossing_lines()
    rendered = figures.render(fig)
    smallest = smallest_text_px(fig, rendered)
    assert smallest >= figures.MIN_TEXT_PX == 12
    assert rendered.texts[0][1] == pytest.approx(smallest)  # render measured the same smallest text
    assert {"rising", "falling", "Lines", "Image", "index"} <= {text for text, _ in rendered.texts}


def test_a_wide_figure_needs_larger_fonts_for_the_same_page_width():
    """10 in shown at 720 px is 72 px per inch: 9 pt is 9 px, too small; 13 pt (1.2 × 10 in, and the margin) is enough."""
    fig = crossing_lines(figsize=(10, 3))
    with pytest.raises(ValueError, match=r"would be 9\.\d px on a page showing this 10\.\d in wide figure at 720 px; "
                                         r"text must be at least 12 px \(9 pt\): make its font at least 1[12]\.\d pt"):
        figures.render(fig)
    for text in fig.findobj(Text):
        text.set_fontsize(13)
    rendered = figures.render(fig)
    assert smallest_text_px(fig, rendered) >= 12


def test_a_narrower_display_is_refused_when_its_text_becomes_too_small():
    with pytest.raises(ValueError, match=r"at 360 px; text must be at least 12 px"):
        figures.render(crossing_lines(), width_px=360)


def test_nothing_drawn_is_cut_off_at_the_figure_edge():
    """A label that sticks out of the figure is inside the tight image: the image grows to hold it."""
    figures.style()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.set_ylabel("a label " * 3)
    fig.text(1.0, 0.5, "outside the figure on the right", ha="left")
    rendered = figures.render(fig)
    assert "outside the figure on the right" in {text for text, _ in rendered.texts}
    pixels_wide = struct.unpack(">I", rendered.png[16:20])[0]
    assert pixels_wide / rendered.dpi > 5 + 1, "the image is wider than the figure: the text was kept"


def test_an_annotation_across_the_axes_edge_is_refused():
    figures.style()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.annotate("Large 1.0 (the last point)", (1, 1), textcoords="offset points", xytext=(5, -10))
    with pytest.raises(ValueError, match=r"the text 'Large 1.0 \(the last point\)' crosses the edge of its axes"):
        figures.render(fig)
    ax.set_xlim(0, 2)
    figures.render(fig)


# --------------------------------------------------------------------------- every notebook

FIGURE_MAKERS = {"subplots", "figure", "subplot_mosaic", "subplots_mosaic"}


def cells(path: Path) -> list[tuple[int, str]]:
    """The notebook's jupytext cells as ``(first line number, source)``."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    bounds = [0] + [i for i, line in enumerate(lines) if line.startswith("# %%")] + [len(lines)]
    return [(start + 1, "".join(lines[start:end])) for start, end in zip(bounds, bounds[1:])]


def calls(tree: ast.AST, owner: str, names: set[str]) -> list[ast.Call]:
    """The calls ``owner.name(...)`` in ``tree`` for ``name`` in ``names``."""
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names
            and isinstance(node.func.value, ast.Name) and node.func.value.id == owner]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_figure_goes_through_kb_figures_show(path):
    problems = []
    for line, source in cells(path):
        tree = ast.parse(source)
        for call in calls(tree, "plt", {"show"}):
            problems.append(f"{path.name}:{line + call.lineno - 1}: plt.show() shows a figure without caption or alt text")
        made = calls(tree, "plt", FIGURE_MAKERS)
        shown = calls(tree, "figures", {"show"})
        for call in shown:
            keywords = {k.arg for k in call.keywords}
            if not {"caption", "alt"} <= keywords:
                problems.append(f"{path.name}:{line + call.lineno - 1}: figures.show without caption= and alt=")
        if len(shown) < len(made):
            problems.append(f"{path.name}:{line}: the cell makes {len(made)} figure(s) and shows {len(shown)} with "
                            "kb.figures.show: the rest would be displayed implicitly, without caption or alt text")
    if re.search(r"^\s*%matplotlib", path.read_text(encoding="utf-8"), re.M):
        problems.append(f"{path.name}: a %matplotlib magic changes how figures are displayed")
    assert not problems, "\n".join(problems)


def test_the_notebook_check_sees_the_figures():
    """The check above is not vacuous: the notebooks have figures, and the check catches a bare plt.show()."""
    assert sum(len(calls(ast.parse(s), "figures", {"show"})) for p in NOTEBOOKS for _, s in cells(p)) >= 17
    bad = ast.parse("fig, ax = plt.subplots()\nax.plot([1])\nplt.show()\n")
    assert calls(bad, "plt", {"show"}) and calls(bad, "plt", FIGURE_MAKERS) and not calls(bad, "figures", {"show"})
