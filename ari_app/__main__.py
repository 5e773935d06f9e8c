"""``python -m ari_app``: the call service (same as ``callwright serve``)."""

import sys

from cli.main import main

raise SystemExit(main([*sys.argv[1:], "serve"]))  # e.g. python -m ari_app --config x.toml
