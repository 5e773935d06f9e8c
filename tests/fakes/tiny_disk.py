"""A real, tiny filesystem for disk-full tests: a tmpfs of a few kilobytes mounted on a directory.

Mounting needs root (CAP_SYS_ADMIN); where that is not available the test using it is skipped
with the reason, and the ENOSPC handling is still covered by the tests that inject the error at
the file boundary (tests/callwright/media/test_recorder.py).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tiny_tmpfs(where: Path, size_kb: int) -> Iterator[Path]:
    """Mount a ``size_kb`` KiB tmpfs on ``where`` (created) for the ``with`` block."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)
