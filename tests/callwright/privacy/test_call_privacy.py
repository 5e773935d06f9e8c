"""What a declined recording leaves: no file, the row marked, the timeline told why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callwright.privacy.call_privacy import record_declined


class Calls:
    def __init__(self) -> None:
        self.events: list[tuple[int, str, dict[str, Any] | None]] = []
        self.declined: list[int] = []

    async def add_event(self, call_id: int, kind: str, detail: dict[str, Any] | None = None) -> int:
        self.events.append((call_id, kind, detail))
        return len(self.events)

    async def decline_recording(self, call_id: int) -> bool:
        self.declined.append(call_id)
        return True


async def test_a_declined_recording_is_deleted_and_the_row_marked(tmp_path: Path) -> None:
    wav = tmp_path / "call.wav"
    wav.write_bytes(b"RIFF")
    calls = Calls()
    await record_declined(calls, 7, wav.unlink, "key 9")
    assert not wav.exists()
    assert calls.declined == [7]
    assert calls.events == [(7, "recording_declined", {"how": "key 9"})]


async def test_a_recording_that_cannot_be_deleted_is_still_declined_and_the_error_noted() -> None:
    def refuse() -> None:
        raise PermissionError("read-only file system")

    calls = Calls()
    await record_declined(calls, 7, refuse, "said")
    assert calls.declined == [7]
    assert calls.events == [
        (7, "error", {"message": "declined recording not deleted: read-only file system"}),
        (7, "recording_declined", {"how": "said"}),
    ]
