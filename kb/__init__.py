"""Tooling of the literature-notes knowledge base: the claims ledger, notebook execution and the ``kb`` command."""
