"""The site's content, written by kb as files: any MkDocs-compatible generator renders it.

``kb build`` and ``kb serve`` check the claims, then [`stage`][kb.site.stage.stage] writes every
page into ``build/docs/`` and the generator's configuration into ``build/mkdocs.yml``; the
generator (MkDocs, or its fork ProperDocs) sees only Markdown, assets and that configuration. One
module per page kind:

| module | writes |
|---|---|
| [`kb.site.index`][kb.site.index] | the home page's paper index |
| [`kb.site.notes`][kb.site.notes] | each paper's note, with its header (citation, BibTeX, links, relations) and claims |
| [`kb.site.claims`][kb.site.claims] | the claims page, and the claims tables and badges the other pages show |
| [`kb.site.notebooks`][kb.site.notebooks] | each executed notebook as Markdown, its figures as files, an anchor per claim |
| [`kb.site.nav`][kb.site.nav] | the navigation |
| [`kb.site.config`][kb.site.config] | ``build/mkdocs.yml``, from the checkout's ``mkdocs.yml`` |
| [`kb.site.stage`][kb.site.stage] | all of it into ``build/docs/``, a file rewritten only when its content changes |
| [`kb.site.generator`][kb.site.generator] | runs the generator, and not at all when nothing changed |
| [`kb.site.serve`][kb.site.serve] | ``kb serve``: follows notes, notebooks and ``refimpl/`` while serving |
| [`kb.site.hooks`][kb.site.hooks] | the only MkDocs hook: presentation (Chinese search words, the offline check) |
| [`kb.site.safe_links`][kb.site.safe_links] | a Markdown extension: only http(s) and relative URLs become links |
| [`kb.site.model`][kb.site.model] | what the pages are made from, read once per build |

``notes/`` is the author's folder: a build never writes there.
"""
