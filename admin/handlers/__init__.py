"""Handlers, one module per area; each exposes ``ROUTES`` (guarded) and some also ``setup``."""
