"""``python -m agi [--config FILE] serve [--host H] [--port P]`` or ``python -m agi eagi``."""

from agi.cli import main

raise SystemExit(main())
