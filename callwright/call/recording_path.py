"""Where a call's recording is kept, whatever PBX carried the call."""

from __future__ import annotations

from pathlib import Path

from callwright.store.calls import Call


def recording_path(recordings_dir: Path, call: Call) -> Path:
    """``<recordings dir>/YYYY/MM/DD/<call uid>.wav``, by the call's start date."""
    day = call.started_at[:10].replace("-", "/")
    return Path(recordings_dir) / day / f"{call.uid}.wav"
