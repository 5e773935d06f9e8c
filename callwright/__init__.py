"""Callwright: the engine shared by every adapter (media, speech, dialog, store, config, CLI)."""

__version__ = "0.1.0"
