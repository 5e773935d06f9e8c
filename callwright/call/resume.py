"""Reading where a call was from its journal, to pick it up after a restart.

A call's turns (what was said and heard, in order, the assistant's with the flow node it was at)
and its slots (saved as the dialog collects them, see ``ari_app.call_setup.SlotCheckpoint``) are
all a resumed call needs: :func:`resume_point` turns them into a
:class:`~callwright.dialog.resume.ResumePoint`.
"""

from __future__ import annotations

from dataclasses import dataclass

from callwright.dialog.resume import ResumePoint
from callwright.store.calls import CallRepository
from callwright.store.turns import Turn

__all__ = ["JournalledCall", "resume_point", "resume_point_from"]


@dataclass(frozen=True, slots=True)
class JournalledCall:
    """Where the call was, and the last turn number used (the journal goes on after it)."""

    point: ResumePoint
    last_seq: int


def resume_point_from(turns: list[Turn], slots: dict[str, object]) -> JournalledCall:
    """The resume point of a call with ``turns`` (in order) and ``slots``. The node is the one
    of the last assistant turn that names one; an empty turn (nothing heard) is left out."""
    transcript: list[tuple[str, str]] = []
    node: str | None = None
    for turn in turns:
        if turn.speaker == "assistant":
            named = turn.meta.get("node")
            if isinstance(named, str) and named:
                node = named
        if turn.text.strip():
            transcript.append(("assistant" if turn.speaker == "assistant" else "user", turn.text))
    last_seq = max((t.seq for t in turns), default=0)
    return JournalledCall(ResumePoint(node, dict(slots), tuple(transcript)), last_seq)


async def resume_point(calls: CallRepository, call_id: int) -> JournalledCall:
    """Read call ``call_id``'s journal (turns and slots) from the store."""
    call = await calls.get(call_id)
    return resume_point_from(await calls.turns(call_id), dict(call.slots))
