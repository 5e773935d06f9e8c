"""Eager end of turn: the reply prepared while the caller's turn is only likely over.

When the end-of-turn decider announces a likely end (:class:`~callwright.speech.turn_end.
LikelyEnd`: the answer looks complete and the caller has been quiet a moment), the pipeline starts
a :class:`Speculation`: the dialog engine's step for the words heard so far (the recogniser's
partial), run on the engine's own state after a snapshot, with its side effects held
(:mod:`callwright.dialog.speculation`: webhooks and tool calls wait for the confirmation). The
actions it yields are held in a queue; the first sentence is synthesised at once, so its audio is
ready, but nothing is played, no grammar set, no transfer or hang-up made.

- Confirmed (the turn ends and the final transcript has the same words as the speculation, see
  :func:`same_words`): the held actions and the rest of the step are the reply (:meth:`Speculation.
  keep`); the first sentence's audio goes out at once.
- The caller goes on (:class:`~callwright.speech.turn_end.TurnResumed`), or the final transcript
  says something else: the step is cancelled (the LLM stream closed, the audio dropped) and the
  engine's state put back; the turn is then answered as usual. Nothing of it was heard.

:class:`EagerTurns` keeps one call's speculation and says per caller turn how the eager end went
(:class:`EagerOutcome`, written in the turn's ``meta.eager``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from callwright.dialog.actions import CallerTurn, DialogAction, DialogEngine, Say
from callwright.dialog.speculation import Speculative

__all__ = ["Confirmed", "EagerOutcome", "EagerTurns", "PreparedSay", "Speculation", "same_words"]

_NOT_WORD = re.compile(r"[^\w\s']+")


class EagerOutcome(enum.Enum):
    KEPT = "kept"              # prepared on a likely end, confirmed, played
    CANCELLED = "cancelled"    # the caller went on: taken back, the turn answered as usual
    MISMATCHED = "mismatched"  # confirmed, but the final transcript said something else


def normalised(text: str) -> list[str]:
    """The words of ``text`` as compared: lower case, no punctuation, no Vosk ``[unk]``."""
    cleaned = _NOT_WORD.sub(" ", text.replace("[unk]", " ").lower())
    return cleaned.split()


def same_words(a: str, b: str) -> bool:
    """Whether two transcripts say the same words (case and punctuation aside)."""
    return normalised(a) == normalised(b)


@runtime_checkable
class SpeculativeDialog(DialogEngine, Speculative, Protocol):
    """A dialog engine whose steps can be taken back (FlowEngine, LlmEngine)."""


@dataclass(frozen=True, slots=True)
class PreparedSay:
    """A :class:`Say` whose audio was synthesised while the turn was only likely over."""

    say: Say
    audio: asyncio.Task[bytes]


@dataclass(frozen=True, slots=True)
class _Done:
    error: BaseException | None = None


ReplyItem = DialogAction | PreparedSay
Synthesize = Callable[[str], Coroutine[Any, Any, bytes]]


class Speculation:
    """One dialog step started on a likely end. Created in a running loop."""

    def __init__(self, dialog: SpeculativeDialog, text: str, synthesize: Synthesize) -> None:
        self.text = text
        self._dialog = dialog
        self._synthesize = synthesize
        self._snapshot = dialog.snapshot()
        dialog.side_effects.hold()
        self._queue: asyncio.Queue[ReplyItem | _Done] = asyncio.Queue()
        self._audio: asyncio.Task[bytes] | None = None
        self.prepared: list[ReplyItem] = []  # what the step yielded so far (for tests, logs)
        self._task = asyncio.get_running_loop().create_task(
            self._produce(dialog.on_caller_turn(CallerTurn(text)))
        )
        self._settled = False

    async def _produce(self, actions: AsyncIterator[DialogAction]) -> None:
        try:
            async with aclosing(actions) as steps:  # type: ignore[type-var]
                async for action in steps:
                    item: ReplyItem = action
                    if isinstance(action, Say) and self._audio is None:
                        self._audio = asyncio.get_running_loop().create_task(
                            self._synthesize(action.text))
                        item = PreparedSay(action, self._audio)
                    self.prepared.append(item)
                    self._queue.put_nowait(item)
        except Exception as exc:  # handed to whoever plays the reply, raised there
            self._queue.put_nowait(_Done(exc))
            return
        self._queue.put_nowait(_Done())

    @property
    def audio_ready(self) -> bool:
        """The first sentence's audio is synthesised."""
        return self._audio is not None and self._audio.done()

    async def cancel(self) -> None:
        """Take the step back: stop it (closing an LLM stream), drop its audio, restore the
        dialog's state and let side effects through again."""
        if self._settled:
            return
        self._settled = True
        await _cancel(self._task)
        if self._audio is not None:
            await _cancel(self._audio)
        self._dialog.restore(self._snapshot)
        self._dialog.side_effects.release()

    def keep(self) -> AsyncIterator[ReplyItem]:
        """The turn is confirmed: the step's actions, the held ones first, as the reply."""
        if self._settled:
            raise RuntimeError("this speculation was already kept or cancelled")
        self._settled = True
        self._dialog.side_effects.release()
        return self._consume()

    async def _consume(self) -> AsyncIterator[ReplyItem]:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, _Done):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            await _cancel(self._task)  # the reply was stopped (barge-in, hang-up)


async def _cancel(task: asyncio.Task[Any]) -> None:
    if task.done():
        if not task.cancelled():
            task.exception()  # retrieved: a failed synthesis dropped is not an error
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


class EagerTurns:
    """One call's eager ends: at most one speculation at a time, and how each caller turn's went.

    Used by the pipeline from its event loop: :meth:`likely` on a likely end (or a later partial
    while one is held), :meth:`resumed` when the caller goes on, :meth:`confirm` with the turn's
    final transcript, :meth:`drop` when something else comes first (keys, an error, the end)."""

    def __init__(self, dialog: SpeculativeDialog, synthesize: Synthesize) -> None:
        self._dialog = dialog
        self._synthesize = synthesize
        self._current: Speculation | None = None
        self._cancelled = 0  # speculations of this turn taken back because the caller went on
        self.started = 0

    @property
    def current(self) -> Speculation | None:
        return self._current

    async def likely(self, text: str) -> None:
        """Prepare the reply to ``text``; a speculation on other words is taken back first."""
        current = self._current
        if current is not None:
            if same_words(current.text, text):
                return
            self._current = None
            await current.cancel()
        if not normalised(text):
            return
        self.started += 1
        self._current = Speculation(self._dialog, text, self._synthesize)

    async def resumed(self) -> None:
        """The caller went on: take back what was prepared (the turn is not over)."""
        if self._current is not None:
            self._cancelled += 1
            await self.drop()

    async def drop(self) -> None:
        current, self._current = self._current, None
        if current is not None:
            await current.cancel()

    async def confirm(self, final_text: str) -> Confirmed:
        """The turn ended with ``final_text``: how its eager end went, and the reply to play
        when the speculation is kept."""
        current, self._current = self._current, None
        cancelled, self._cancelled = self._cancelled, 0
        if current is None:
            return Confirmed(EagerOutcome.CANCELLED if cancelled else None, cancelled)
        if same_words(final_text, current.text):
            return Confirmed(EagerOutcome.KEPT, cancelled, current.keep())
        await current.cancel()
        return Confirmed(EagerOutcome.MISMATCHED, cancelled)

    def forget(self) -> None:
        """A new turn: the count of speculations taken back starts again (a turn that was not
        confirmed, e.g. noise or a failed recognition, leaves none behind)."""
        self._cancelled = 0


@dataclass(frozen=True, slots=True)
class Confirmed:
    """How a caller turn's eager end went."""

    outcome: EagerOutcome | None  # None: the turn had no likely end
    taken_back: int = 0           # speculations cancelled because the caller went on
    reply: AsyncIterator[ReplyItem] | None = None  # the kept reply

    def meta(self) -> dict[str, object]:
        """For the caller turn's ``meta`` in the journal."""
        if self.outcome is None:
            return {}
        meta: dict[str, object] = {"eager": self.outcome.value}
        if self.taken_back and self.outcome is not EagerOutcome.CANCELLED:
            meta["eager_cancelled"] = self.taken_back
        return meta
