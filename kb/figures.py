r"""Figures a reader can read: a notebook shows each matplotlib figure with [`show`][kb.figures.show].

```python
from kb import figures

figures.style()                      # once, after the imports: readable defaults
fig, ax = plt.subplots()
...
figures.show(fig, caption="What it shows, and what to read from it.",
             alt="Line plot: ... (the content, for a reader who cannot see it)")
```

[`show`][kb.figures.show] refuses a figure without a caption or alt text, and one whose smallest
text would be too small to read or whose annotation crosses its axes' edge, with one line that
names the text. It renders the figure with ``bbox_inches="tight"`` (nothing drawn is cut off at
the figure's edge), closes it, and displays the PNG with the output metadata
``{"kb": {"caption": ..., "alt": ...}}``, which the site turns into the figure's caption and the
image's alt text. Outside IPython (``python notebooks/KEY.py``) it checks the caption and alt text
and closes the figure; nothing is rendered or saved.

**How large text is on the page.** Sizes in a figure are in points (1 pt = 1/72 in) of the figure's
inches, but a page shows the image scaled to a width in CSS pixels. An image ``W`` inches wide
(its width after the tight crop), shown ``P`` CSS px wide, has ``P / W`` px per inch, so a text of
``s`` pt is

$$ s \cdot \frac{1}{72} \cdot \frac{P}{W} \ \text{px}. $$

The rule is at least [`MIN_TEXT_PX`][kb.figures.MIN_TEXT_PX] = 12 px: 9 pt at CSS's 96 px per inch
($9 / 72 \cdot 96 = 12$). For [`style`][kb.figures.style]'s figure, 7.2 in shown at the page's
720 px (100 px per inch), a text of ``s`` pt is ``1.39 s`` px, so its smallest font, 9 pt, is
12.5 px. A 10 in figure shown at 720 px has 72 px per inch: 1 pt is 1 px, and its text needs 12 pt (a little
more: the crop keeps a margin of [`PAD_INCHES`][kb.figures.PAD_INCHES] on each side).
In general the smallest font must be at least ``12 · 72 · W / P`` pt = ``1.2 W`` pt at 720 px.

The PNG is rendered at ``dpi = 2 · P / W`` (two image pixels per CSS pixel, sharp on high-density
screens) and its metadata asks for a display ``P`` px wide: the DPI sets the sharpness, the display
width sets the size, and the check uses the image's actual pixel width.
"""

from __future__ import annotations

import base64
import io
import struct
import sys
from contextlib import contextmanager
from typing import Any, Iterator, NamedTuple

import matplotlib
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure

PAGE_WIDTH_PX = 720
"""Width of the site's text column in CSS px (Material's content column at 1280 px)."""

MIN_TEXT_PX = 12.0
"""Smallest text on the page, in CSS px: 9 pt at 96 px per inch."""

DENSITY = 2
"""Image pixels per CSS pixel of the displayed width."""

PAD_INCHES = 0.05
"""Margin kept around the tight crop, in inches."""

STYLE: dict[str, Any] = {
    "figure.figsize": (7.2, 3.6),  # the page's 720 px at 100 px per inch
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,  # titles, labels and colorbars never overlap
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 11,
    "image.interpolation": "nearest",  # a pixel of data stays a pixel: labels are not blurred
}
"""The rcParams [`style`][kb.figures.style] sets: at 7.2 in shown 720 px wide, 9 pt is 12.5 px."""


class Rendered(NamedTuple):
    """A figure rendered for the page by [`render`][kb.figures.render]."""

    png: bytes
    """The PNG image."""
    dpi: float
    """Image pixels per inch of the figure."""
    width_px: float
    """Width the page shows the image at, in CSS px."""
    height_px: float
    """Height the page shows the image at, in CSS px."""
    texts: tuple[tuple[str, float], ...]
    """Every text drawn, as ``(text, size in CSS px at the displayed width)``, smallest first."""


def style() -> None:
    """Sets matplotlib's defaults to [`STYLE`][kb.figures.STYLE]: fonts of 9 pt and more, constrained layout."""
    matplotlib.rcParams.update(STYLE)


@contextmanager
def _recording_texts() -> Iterator[list[tuple[str, float]]]:
    """Records ``(text, size in points)`` of every text the Agg renderer draws (mathtext included)."""
    drawn: list[tuple[str, float]] = []
    original = RendererAgg.draw_text

    def draw_text(self: RendererAgg, gc: Any, x: float, y: float, s: str, prop: Any, angle: float,
                  ismath: Any = False, mtext: Any = None) -> None:
        if s.strip():
            drawn.append((s, prop.get_size_in_points()))
        original(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    RendererAgg.draw_text = draw_text
    try:
        yield drawn
    finally:
        RendererAgg.draw_text = original


def _check_annotations(fig: Figure) -> None:
    """Refuses a text or annotation of an axes that crosses the axes' edge (over the frame, or cut off)."""
    for ax in fig.axes:
        box = ax.get_window_extent()
        for text in ax.texts:
            if not text.get_visible() or not text.get_text().strip():
                continue
            extent = text.get_window_extent()
            if (extent.x0 < box.x0 - 1 or extent.x1 > box.x1 + 1 or extent.y0 < box.y0 - 1
                    or extent.y1 > box.y1 + 1):
                raise ValueError(f"kb.figures: the text {text.get_text()!r} crosses the edge of its axes "
                                 f"{ax.get_title()!r}: move it inside (another offset, ha/va, or a wider "
                                 f"axis limit); a text outside every axes is fig.text(...)")


def render(fig: Figure, width_px: float = PAGE_WIDTH_PX) -> Rendered:
    """Renders ``fig`` as a PNG for a page that shows it ``width_px`` CSS px wide, checking its text.

    Args:
        fig: the matplotlib figure; it is not closed.
        width_px: the width the page shows the image at, in CSS px.

    Raises:
        ValueError: a text would be smaller than [`MIN_TEXT_PX`][kb.figures.MIN_TEXT_PX] at that
            width, or an annotation crosses the edge of its axes.
    """
    fig.draw_without_rendering()  # lays the figure out (constrained layout) before it is measured
    _check_annotations(fig)
    tight = fig.get_tightbbox()
    dpi = DENSITY * width_px / (tight.width + 2 * PAD_INCHES)
    buffer = io.BytesIO()
    with _recording_texts() as drawn:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=PAD_INCHES,
                    metadata={"Software": None})
    png = buffer.getvalue()
    pixels_wide, pixels_high = struct.unpack(">II", png[16:24])  # the PNG header's IHDR chunk
    css_per_pixel = width_px / pixels_wide
    texts = tuple(sorted({(s, float(points / 72 * dpi * css_per_pixel)) for s, points in drawn}, key=lambda t: t[1]))
    if texts and texts[0][1] < MIN_TEXT_PX - 1e-9:
        text, size = texts[0]
        inches = pixels_wide / dpi
        needed = MIN_TEXT_PX * 72 * inches / width_px
        raise ValueError(f"kb.figures: the text {text!r} would be {size:.1f} px on a page showing this "
                         f"{inches:.1f} in wide figure at {width_px:g} px; text must be at least "
                         f"{MIN_TEXT_PX:g} px (9 pt): make its font at least {needed:.1f} pt, or the figure narrower")
    return Rendered(png, dpi, float(width_px), pixels_high * css_per_pixel, texts)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"kb.figures.show: {name} must be a non-empty sentence ({_WHAT[name]}); got {value!r}")
    return " ".join(value.split())


_WHAT = {
    "caption": "what the figure shows and what to read from it",
    "alt": "the figure's content in words, for a reader who cannot see it",
}


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    return bool(shell and getattr(shell, "get_ipython", lambda: None)())


def show(fig: Figure, caption: str, alt: str, *, width_px: float = PAGE_WIDTH_PX, role: str = "") -> None:
    """Shows ``fig`` in the notebook with its caption and alt text, and closes it.

    The output is the PNG of [`render`][kb.figures.render], with the metadata
    ``{"kb": {"caption": caption, "alt": alt}, "image/png": {"width": ..., "height": ...}}``
    (display size in CSS px). Outside IPython only the arguments are checked and the figure closed.

    Args:
        fig: the matplotlib figure.
        caption: what the figure shows and what to read from it (a sentence or two).
        alt: the content in words for a reader who cannot see it ("Line plot: ... falls from ... to ...").
        width_px: the width the page shows the image at, in CSS px; the page column is 720.
        role: what the site does with it besides the notebook page (``"experiment:<id>"``: also shown in
            the note's 实验 section with that experiment's claims); stored as ``metadata.kb.role``.

    Raises:
        ValueError: an empty caption or alt text, a width that is not a positive number, or a figure
            that [`render`][kb.figures.render] refuses.
    """
    import matplotlib.pyplot as plt

    try:
        caption, alt = _text("caption", caption), _text("alt", alt)
        if isinstance(width_px, bool) or not isinstance(width_px, (int, float)) or not 0 < width_px <= 4 * PAGE_WIDTH_PX:
            raise ValueError(f"kb.figures.show: width_px must be a width in CSS px, 1 to {4 * PAGE_WIDTH_PX} "
                             f"(the page column is {PAGE_WIDTH_PX}); got {width_px!r}")
        if not _in_kernel():
            return
        rendered = render(fig, width_px)
    finally:
        plt.close(fig)
    from IPython.display import display

    display({"image/png": base64.b64encode(rendered.png).decode("ascii"), "text/plain": f"Figure: {caption}"},
            raw=True, metadata={"image/png": {"width": round(rendered.width_px), "height": round(rendered.height_px)},
                                "kb": {"caption": caption, "alt": alt, **({"role": role} if role else {})}})
