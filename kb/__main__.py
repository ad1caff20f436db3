"""``python -m kb`` is the ``kb`` command."""

from kb.cli import main

raise SystemExit(main())
