"""``python -m cli ...``: the same as the ``callwright`` command."""

from cli.main import main

raise SystemExit(main())
