"""The generator's configuration, ``build/mkdocs.yml``, written from the checkout's ``mkdocs.yml``.

The checkout's file says how the site looks (theme, search, Markdown extensions, mkdocstrings);
kb changes only where things are and what is in the navigation:

* ``docs_dir`` is the staged folder (``build/docs``) and ``site_dir`` the site, both absolute;
* ``nav`` is the generated navigation ([`kb.site.nav`][kb.site.nav]);
* the hooks, mkdocstrings' ``paths`` and ``theme.custom_dir`` are made absolute (they are written
  relative to the checkout);
* snippets (``--8<-- "refimpl/unet.py"``) are read only from the staged copy of ``refimpl/`` and
  ``notebooks/`` (``build/snippets``), never downloaded, never from outside it;
* [`SafeLinks`][kb.site.safe_links.SafeLinks] is the last Markdown extension: only http(s) and
  relative URLs become links;
* the claims dashboard's script ([`CLAIMS_SCRIPT`][kb.site.config.CLAIMS_SCRIPT]) is in ``extra_javascript``.

YAML tags the generator understands (``!ENV``, ``!!python/name:…``) are kept as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kb.site import safe_links

CLAIMS_SCRIPT = "assets/javascripts/claims.js"
"""The claims dashboard's script, shipped in ``notes/assets/``; every generated configuration lists it."""


class Tagged:
    """A YAML value with a tag kb does not interpret (``!ENV [X, default]``), written back unchanged."""

    def __init__(self, tag: str, value: Any):
        self.tag, self.value = tag, value


class _Loader(yaml.SafeLoader):
    pass


class _Dumper(yaml.SafeDumper):
    pass


def _tagged(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged(node.tag, value)


def _represent(dumper: yaml.Dumper, data: Tagged) -> yaml.Node:
    if isinstance(data.value, list):
        return dumper.represent_sequence(data.tag, data.value)
    if isinstance(data.value, dict):
        return dumper.represent_mapping(data.tag, data.value)
    return dumper.represent_scalar(data.tag, data.value)


_Loader.add_multi_constructor("!", _tagged)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _tagged)
_Dumper.add_representer(Tagged, _represent)


def load(path: Path) -> dict[str, Any]:
    """The checkout's configuration as data (unknown tags kept)."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a YAML mapping")
    return data


def _absolute(root: Path, value: Any) -> Any:
    if isinstance(value, str) and not Path(value).is_absolute():
        return str((root / value).resolve())
    return value


def _plugin(plugins: list[Any], name: str) -> tuple[int, Any]:
    for i, item in enumerate(plugins):
        if item == name or (isinstance(item, dict) and name in item):
            return i, item
    return -1, None


def generated(source: dict[str, Any], root: Path, docs_dir: Path, site_dir: Path, snippets_dir: Path,
              nav: list[Any]) -> dict[str, Any]:
    """The generated configuration.

    Args:
        source: the checkout's configuration ([`load`][kb.site.config.load]).
        root: the checkout.
        docs_dir: the staged folder.
        site_dir: where the site goes.
        snippets_dir: the staged snippet sources.
        nav: the navigation.
    """
    config = dict(source)
    config.pop("INHERIT", None)
    config["docs_dir"] = str(docs_dir)
    config["site_dir"] = str(site_dir)
    config["nav"] = nav
    config["hooks"] = [_absolute(root, h) for h in config.get("hooks") or []]
    config["watch"] = [_absolute(root, w) for w in config.get("watch") or []]
    if not config["watch"]:
        del config["watch"]
    theme = config.get("theme")
    if isinstance(theme, dict) and theme.get("custom_dir"):
        config["theme"] = {**theme, "custom_dir": _absolute(root, theme["custom_dir"])}
    plugins = list(config.get("plugins") or [])
    i, item = _plugin(plugins, "mkdocstrings")
    if isinstance(item, dict):
        options = dict(item["mkdocstrings"] or {})
        handlers = {name: dict(h or {}) for name, h in (options.get("handlers") or {}).items()}
        python = handlers.setdefault("python", {})
        python["paths"] = [_absolute(root, p) for p in python.get("paths") or ["."]]
        options["handlers"] = handlers
        plugins[i] = {"mkdocstrings": options}
    config["plugins"] = plugins
    extensions = list(config.get("markdown_extensions") or [])
    i, item = _plugin(extensions, "pymdownx.snippets")
    if i >= 0:
        options = dict(item["pymdownx.snippets"] or {}) if isinstance(item, dict) else {}
        options.update(base_path=[str(snippets_dir)], restrict_base_path=True, url_download=False)
        extensions[i] = {"pymdownx.snippets": options}
    if safe_links.NAME not in extensions:
        extensions.append(safe_links.NAME)  # last: it sees the links every other extension made
    config["markdown_extensions"] = extensions
    scripts = list(config.get("extra_javascript") or [])
    if CLAIMS_SCRIPT not in scripts:
        scripts.append(CLAIMS_SCRIPT)  # the claims dashboard's filters (kb.site.claims)
    config["extra_javascript"] = scripts
    return config


def dump(config: dict[str, Any]) -> str:
    """``config`` as YAML, with a first line saying where it comes from."""
    text = yaml.dump(config, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=2**16)
    return "# Written by kb (kb/site/config.py) from the checkout's mkdocs.yml: edit that one.\n" + text
