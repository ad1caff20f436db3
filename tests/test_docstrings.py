"""The API reference is complete: one row per parameter, for every public function and class of refimpl/.

mkdocstrings renders each line of a Google ``Args:`` section as one table row. A line naming two
parameters (``in_channels, out_channels: ...``) becomes one row whose name is the pair, and the second
parameter has no row of its own; a ``Returns:`` section whose continuation lines look like
``name: description`` becomes several rows. These tests read the docstrings with griffe, the library
mkdocstrings renders them with, under the site's options (Google style, ``merge_init_into_class``,
private names filtered out), so what they check is what the pages show.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = griffe.load("refimpl", search_paths=[str(ROOT)], resolve_aliases=False)

MODULE_HOOKS = {"forward", "extra_repr"}
"""``nn.Module`` methods every model overrides: their contract is the class's docstring, so they have none
of their own and mkdocstrings does not render them."""

PARAMETER_SECTIONS = (griffe.DocstringSectionKind.parameters, griffe.DocstringSectionKind.other_parameters)


def _public(name: str) -> bool:
    return not name.startswith("_")


def _api(obj: griffe.Object):
    """Every public module, function, class and method defined (not imported) under ``obj``, as mkdocstrings
    with ``filters: ["!^_"]`` renders them."""
    for name, member in obj.members.items():
        if member.is_alias or not _public(name):
            continue
        if member.is_module:
            yield from _api(member)
        elif member.is_class:
            yield member
            yield from _api(member)
        elif member.is_function and name not in MODULE_HOOKS:
            yield member


API = sorted(_api(PACKAGE), key=lambda obj: obj.path)


def _parse(docstring: griffe.Docstring | None, caplog: pytest.LogCaptureFixture) -> list[griffe.DocstringSection]:
    """The docstring's sections, parsed as mkdocstrings parses them; a parser warning fails the test."""
    if docstring is None:
        return []
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="griffe"):
        sections = griffe.parse_google(docstring)
    warnings = [record.getMessage() for record in caplog.records]
    assert not warnings, f"{docstring.parent.path}: griffe warns: {warnings}"
    return sections


def _is_record(cls: griffe.Class) -> bool:
    """A ``NamedTuple`` or a dataclass: its parameters are its fields, documented where they are declared."""
    bases = {str(base).rsplit(".", 1)[-1] for base in cls.bases}
    decorators = {str(decorator.value).split("(")[0].rsplit(".", 1)[-1] for decorator in cls.decorators}
    return "NamedTuple" in bases or "dataclass" in decorators


def _signature(obj: griffe.Object) -> list[griffe.Parameter]:
    """The parameters the rendered signature shows (``self`` and ``cls`` left out)."""
    if obj.is_class:
        init = obj.members.get("__init__")
        if init is None or init.is_alias:
            return []
        parameters = init.parameters
    else:
        parameters = obj.parameters
    return [p for p in parameters if p.name not in ("self", "cls")]


def _fields(cls: griffe.Class) -> list[str]:
    """The annotated attributes of a record, in declaration order: its constructor's parameters."""
    return [
        name for name, member in cls.members.items()
        if not member.is_alias and member.is_attribute and member.annotation is not None and "property" not in member.labels
        and not str(member.annotation).startswith(("ClassVar", "typing.ClassVar"))
    ]


def _star(parameter: griffe.Parameter) -> str:
    """The name as a docstring writes it: ``*args`` and ``**kwargs`` with their stars."""
    if parameter.kind is griffe.ParameterKind.var_positional:
        return f"*{parameter.name}"
    if parameter.kind is griffe.ParameterKind.var_keyword:
        return f"**{parameter.name}"
    return parameter.name


def _documented(obj: griffe.Object, caplog) -> tuple[list[str], list[griffe.DocstringSection]]:
    """The names the Parameters sections document (class and ``__init__`` docstrings merged), and every section."""
    sections = _parse(obj.docstring, caplog)
    if obj.is_class and "__init__" in obj.members and not obj.members["__init__"].is_alias:
        sections += _parse(obj.members["__init__"].docstring, caplog)
    names = [item.name for section in sections if section.kind in PARAMETER_SECTIONS for item in section.value]
    return names, sections


def test_the_api_is_found():
    paths = {obj.path for obj in API}
    for expected in ("refimpl.layers.DepthwiseSeparable", "refimpl.unet.ConvUnit", "refimpl.unet3d.unet3d",
                     "refimpl.analysis.receptive_field", "refimpl.analysis.ModelCost.by_type",
                     "refimpl.loaders.load_weights", "refimpl.evaluate.Target"):
        assert expected in paths
    assert not any("._" in path for path in paths), "private names are not part of the API"
    assert len(API) > 100


@pytest.mark.parametrize("obj", API, ids=lambda obj: obj.path.removeprefix("refimpl."))
def test_every_parameter_has_one_row_of_its_own(obj, caplog):
    assert obj.docstring is not None and obj.docstring.value.strip(), f"{obj.path} has no docstring: it is not rendered"
    names, _ = _documented(obj, caplog)
    merged = [name for name in names if "," in name or " " in name]
    assert not merged, f"{obj.path}: one row names several parameters: {merged} (write one parameter per line)"
    repeated = [name for name, count in Counter(names).items() if count > 1]
    assert not repeated, f"{obj.path}: documented more than once: {repeated}"
    signature = [_star(p) for p in _signature(obj)]
    unknown = [name for name in names if name not in signature]
    assert not unknown, f"{obj.path}: documents {unknown}, which are not parameters of {signature}"
    if obj.is_class and _is_record(obj):
        # A record's fields are its parameters; each is documented by the string under its declaration.
        assert not names, f"{obj.path}: a record documents its fields where they are declared, not in Args:"
        undocumented = [name for name in _fields(obj) if obj.members[name].docstring is None]
        assert not undocumented, f"{obj.path}: fields without a docstring (no row on the page): {undocumented}"
    else:
        missing = [name for name in signature if name not in names]
        assert not missing, f"{obj.path}: parameters with no row: {missing}"


def _tuple_length(function: griffe.Function) -> int | None:
    """How many elements the return annotation's ``tuple[...]`` has, or ``None`` when it is no fixed tuple."""
    returns = function.returns
    if isinstance(returns, griffe.ExprSubscript) and str(returns.left).rsplit(".", 1)[-1] in ("tuple", "Tuple"):
        elements = returns.slice.elements if isinstance(returns.slice, griffe.ExprTuple) else [returns.slice]
        if not any(str(element) == "..." for element in elements):
            return len(elements)
    return None


@pytest.mark.parametrize("obj", [obj for obj in API if obj.is_function], ids=lambda obj: obj.path.removeprefix("refimpl."))
def test_a_returns_section_is_one_row_unless_it_documents_a_tuple(obj, caplog):
    _, sections = _documented(obj, caplog)
    for section in sections:
        if section.kind is griffe.DocstringSectionKind.returns:
            rows = [item.name or str(item.annotation) for item in section.value]
            expected = {1, _tuple_length(obj)}
            assert len(rows) in expected, (
                f"{obj.path}: Returns renders as {len(rows)} rows {rows}; continuation lines must not start "
                f"with 'word:' unless each row is one element of a returned tuple")


def test_the_checks_catch_the_merged_row_bug(caplog):
    """The check itself: a two-parameter line is seen as one merged row and two missing parameters."""
    module = griffe.visit("probe", Path("probe.py"), 'def f(a: int, b: int) -> int:\n'
                          '    """Probe.\n\n    Args:\n        a, b: the operands.\n\n'
                          '    Returns:\n        The sum.\n        a: not a row of its own.\n    """\n')
    function = module.members["f"]
    with caplog.at_level(logging.WARNING, logger="griffe"):
        sections = griffe.parse_google(function.docstring)
    names = [item.name for section in sections if section.kind in PARAMETER_SECTIONS for item in section.value]
    assert names == ["a, b"]
    returns = [section for section in sections if section.kind is griffe.DocstringSectionKind.returns]
    assert len(returns[0].value) == 2 and _tuple_length(function) is None


def test_api_pages_link_only_to_api_pages():
    """``notes/api/*.md`` is on every build, a paper's note only when that paper is built (``KB_PAPERS``): a
    cross-reference from an API page into a paper's module would break a partial build's strict run."""
    import re

    pages = (ROOT / "notes" / "api").glob("*.md")
    shared = {line.split()[1] for page in pages for line in page.read_text(encoding="utf-8").splitlines()
              if line.startswith("::: refimpl.")}
    assert {"refimpl.layers", "refimpl.analysis", "refimpl.loaders", "refimpl.evaluate"} <= shared
    outside = []
    for module in sorted(shared):
        source = (ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        for target in re.findall(r"\]\[(refimpl\.[\w.]+)\]", source):
            if not any(target == m or target.startswith(m + ".") for m in shared):
                outside.append(f"{module} → {target}")
    assert not outside, f"API pages link into modules only a paper's note renders: {outside}"
