"""The papers' experiments, re-run at toy scale: one module per paper key, each defining ``EXPERIMENTS``.

See [`kb.experiment`][kb.experiment] for what an experiment fixes before it runs, and ``kb reproduce KEY`` for
running it; the frozen results are in ``experiments/_freeze/KEY/``.
"""
