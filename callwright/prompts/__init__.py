"""Recorded prompts: audio an editor uploads, played instead of TTS for the same text."""
