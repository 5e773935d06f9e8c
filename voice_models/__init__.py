"""Where Callwright's speech models live.

``manifest.json`` lists the models Callwright knows how to fetch (``callwright models list``);
downloaded models are unpacked under ``data/`` (ignored by git) unless another data directory is
configured. The code that reads the manifest, fetches and verifies models is in
:mod:`callwright.speech.model_store` and :mod:`callwright.speech.model_fetch`.
"""

from __future__ import annotations

from pathlib import Path

#: This package's directory.
PACKAGE_DIR = Path(__file__).resolve().parent
#: The manifest of known models shipped with Callwright.
MANIFEST_PATH = PACKAGE_DIR / "manifest.json"
#: Where fetched models go unless configured otherwise.
DEFAULT_DATA_DIR = PACKAGE_DIR / "data"
