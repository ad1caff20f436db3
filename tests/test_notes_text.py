"""The notes' Markdown renders as written: lists stay lists, table cells show no escape, one tag vocabulary."""

from __future__ import annotations

import re
from pathlib import Path

import markdown
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTES = sorted(p for p in (ROOT / "notes").glob("*.md") if re.match(r"---\nkey: ", p.read_text(encoding="utf-8")))
SYNONYMS = [{"biomedical", "medical"}]
"""Tags that name the same topic: one of each set may be used across the notes, not both."""


def front_matter(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---", 2)[1])


def body(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("---", 2)[2]


def swallowed_items(html: str) -> list[str]:
    """Lines of rendered paragraphs that start like a list item: Markdown did not make them one."""
    return [line for paragraph in re.findall(r"<p>(.*?)</p>", html, re.S)
            for line in paragraph.splitlines()[1:] if re.match(r"\s*[-*] ", line)]


@pytest.mark.parametrize("path", NOTES, ids=[p.stem for p in NOTES])
def test_no_list_item_is_swallowed_by_the_paragraph_above(path):
    """A ``- item`` right under an indented paragraph, with no blank line, is that paragraph's text, not an item."""
    swallowed = swallowed_items(markdown.markdown(body(path), extensions=["tables", "admonition"]))
    assert not swallowed, f"{path.name}: a list item is rendered as text: {swallowed[0]!r}"


@pytest.mark.parametrize("path", NOTES, ids=[p.stem for p in NOTES])
def test_table_cells_show_no_escaped_pipe(path):
    r"""Inside a code span ``\|`` is shown as a backslash and a bar: write the alternatives as separate spans."""
    rows = [(n, line) for n, line in enumerate(body(path).splitlines(), 1) if line.lstrip().startswith("|")]
    assert not [n for n, line in rows if "\\|" in line], f"{path.name}: a table row has a literal \\|"


def test_one_tag_for_one_topic():
    used = {tag for path in NOTES for tag in front_matter(path).get("tags") or []}
    assert "segmentation" in used  # the notes were read
    for names in SYNONYMS:
        assert len(names & used) <= 1, f"tags {sorted(names & used)} name one topic: use one of them in every note"


def test_the_list_check_catches_a_swallowed_item():
    assert swallowed_items(markdown.markdown("- first\n\n    more of the first.\n- second\n")) == ["- second"]
    assert not swallowed_items(markdown.markdown("- first\n\n    more of the first.\n\n- second\n"))
