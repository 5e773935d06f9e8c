"""Outbound calls and campaigns: what the engine decides (no I/O), shared by every adapter."""
