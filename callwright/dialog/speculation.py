"""A dialog step taken before the caller's turn is confirmed (eager end of turn), and taken back.

When the end-of-turn decider says the caller has likely finished, the call pipeline asks the
dialog engine for its reply to the words heard so far, before the turn is confirmed; the caller
may yet go on, and then the step must leave no trace. An engine that can do this is
:class:`Speculative`:

- :meth:`Speculative.snapshot` returns its state (slots, transcript, where the flow is, the LLM's
  history) and :meth:`Speculative.restore` puts it back, so a step run for nothing is undone;
- :attr:`Speculative.side_effects` is a :class:`SideEffectGate` the engine passes through before
  anything the world sees (a webhook, a message notification, an LLM tool call): while the gate is
  held (the step is speculative) it waits there, and only goes on once the turn is confirmed.
  Reading (a knowledge search, an intent classification, the LLM's streamed answer) goes ahead.

The pipeline holds every action the step yields (nothing is said, no grammar set, no transfer or
hang-up made) until the turn is confirmed.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

__all__ = ["SideEffectGate", "Speculative", "restore_fields", "snapshot_fields"]


class SideEffectGate:
    """Open (side effects allowed) unless held. Engines ``await gate.wait()`` before a side
    effect; a speculative step waits there until the turn is confirmed (:meth:`release`) or is
    cancelled."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()

    @property
    def held(self) -> bool:
        return not self._open.is_set()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def wait(self) -> None:
        """Return once side effects are allowed."""
        await self._open.wait()


@runtime_checkable
class Speculative(Protocol):
    """A dialog engine whose next step can be run speculatively and undone."""

    @property
    def side_effects(self) -> SideEffectGate:
        """Held while a step runs speculatively; the engine waits on it before side effects."""

    def snapshot(self) -> object:
        """The engine's state, to be given back to :meth:`restore`."""

    def restore(self, snapshot: object) -> None:
        """Put back the state of :meth:`snapshot`: the steps run since leave no trace."""


def snapshot_fields(
    owner: object, names: Iterable[str], deep: Iterable[str] = ()
) -> dict[str, tuple[bool, Any]]:
    """Copies of ``owner``'s attributes ``names`` (lists, dicts and sets copied, what they hold
    shared; other values kept as they are) and ``deep`` (deep copies, for containers whose items
    are changed in place)."""
    state = {name: (False, _shallow(getattr(owner, name))) for name in names}
    state.update({name: (True, copy.deepcopy(getattr(owner, name))) for name in deep})
    return state


def restore_fields(owner: object, state: object) -> None:
    """Set back the attributes saved by :func:`snapshot_fields` (copied again: the snapshot
    stays as it was)."""
    if not isinstance(state, dict):
        raise TypeError("not a snapshot of this engine")
    for name, (deep, value) in state.items():
        setattr(owner, name, copy.deepcopy(value) if deep else _shallow(value))


def _shallow(value: Any) -> Any:
    return copy.copy(value) if isinstance(value, list | dict | set) else value
