"""The assistant's side of a call: playing the dialog's replies, and cutting them.

A reply is a task that says the dialog's lines through the :class:`AssistantSpeaker`, takes on
its :class:`Listen` (through ``on_listen``) and carries out its hang-up or transfer. The caller
talking over it (barge-in), keys, another turn or the call ending interrupt it: the part heard is
journalled and the dialog told; a hang-up or transfer the dialog has yielded survives that
(:mod:`callwright.call.terminal_actions`). A transfer rings back to the caller while it tries.
The player posts what the pipeline's loop must handle (a failure, the end, a fallback turn).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from callwright.call.eager import PreparedSay, ReplyItem
from callwright.call.journal import CallJournal
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline_events import End, Event, Failed, Next
from callwright.call.speaker import AssistantSpeaker, ReplyTiming
from callwright.call.terminal_actions import TerminalStep
from callwright.call.timeline import CallTimeline
from callwright.dialog.actions import DialogEngine, Hangup, Listen, Say, Transfer
from callwright.errors import CallwrightError
from callwright.media.pacer import Pacer
from callwright.media.tones import ringback
from callwright.speech.barge_in import Decision, Interrupt, Pause, Resume

log = logging.getLogger(__name__)

RINGBACK_TAG = "ringback"

#: Tries a transfer to ``target``; True when the caller was handed over (the call is then the
#: transfer target's), False when it failed and the assistant should take the caller back.
TransferHandler = Callable[[str], Awaitable[bool]]


class ReplyPlayer:
    """Plays one reply at a time; the pipeline starts, interrupts and stops them."""

    def __init__(
        self,
        *,
        speaker: AssistantSpeaker,
        pacer: Pacer,
        dialog: DialogEngine,
        journal: CallJournal,
        timeline: CallTimeline,
        post: Callable[[Event], None],
        on_listen: Callable[[Listen], None],
        on_done: Callable[[], None],
        call_uid: str,
        sample_rate: int,
        transfer: TransferHandler | None,
        ringback_region: str,
        monotonic: Callable[[], float],
    ) -> None:
        """``on_listen``: the reply yielded a :class:`Listen`; ``on_done``: it ended without
        ending the call (the caller's turn now)."""
        self._speaker = speaker
        self._pacer = pacer
        self._dialog = dialog
        self._journal = journal
        self._time = timeline
        self._post = post
        self._on_listen = on_listen
        self._on_done = on_done
        self._call_uid = call_uid
        self._rate = sample_rate
        self._transfer = transfer
        self._ringback_region = ringback_region
        self._monotonic = monotonic
        self._reply: asyncio.Task[None] | None = None
        self._terminal = TerminalStep()  # the current reply's hang-up or transfer, once yielded
        self._turn_end: float | None = None
        self._speech_end: float | None = None
        #: When the caller's last turn (or key) was known (monotonic), for the reply's timings.
        self.transcript_ready: float | None = None

    @property
    def running(self) -> bool:
        """A reply is in progress."""
        return self._reply is not None and not self._reply.done()

    def start(
        self, actions: AsyncIterator[ReplyItem], turn_end: float | None,
        speech_end: float | None = None,
    ) -> None:
        self._turn_end = turn_end
        self._speech_end = speech_end
        timing = self._speaker.new_reply()
        self._terminal = terminal = TerminalStep()
        self._reply = asyncio.get_running_loop().create_task(
            self._run(actions, timing, terminal))

    def heard_before_the_end(self) -> bool:
        """The caller's input (after barge-in) came while a hang-up or transfer is pending: it
        lets the step go on (:mod:`callwright.call.terminal_actions`), no reply is made."""
        if not self.running or not self._terminal.committed:
            return False
        self._terminal.caller_done()
        return True

    async def _run(
        self, actions: AsyncIterator[ReplyItem], timing: ReplyTiming, terminal: TerminalStep,
    ) -> None:
        """Play the dialog's reply. Its hang-up or transfer is committed as it is yielded: barge-in
        then cuts the words, not the step (:mod:`callwright.call.terminal_actions`)."""
        end: CallOutcome | None = None
        try:
            async for action in actions:
                if isinstance(action, PreparedSay):  # an eager reply's first sentence
                    await self._speaker.say(action.say.text, action.say.interruptible,
                                            audio=action.audio)
                elif isinstance(action, Say):
                    await self._speaker.say(action.text, action.interruptible)
                elif isinstance(action, Listen):
                    self._on_listen(action)
                elif isinstance(action, Hangup):
                    terminal.commit(action)
                    end = CallOutcome("completed", action.reason)
                    await self.wait_drained(limit_s=None)
                    await terminal.hold()
                    break
                elif isinstance(action, Transfer):
                    terminal.commit(action)
                    await self.wait_drained(limit_s=None)
                    await terminal.hold()
                    if await self._try_transfer(action.target):
                        end = CallOutcome("transferred", action.reason, action.target)
                    break
            await self.wait_drained(limit_s=None)
        except CallwrightError as exc:
            self._post(Failed(exc))
            return
        finally:
            with contextlib.suppress(AttributeError, RuntimeError):
                await actions.aclose()  # type: ignore[attr-defined]
        if timing.sentences and not terminal.interrupted:
            await self._log_reply(timing, " ".join(timing.sentences), interrupted=False)
        if end is not None:
            self._post(End(end, drain=True))
        else:
            self._on_done()

    async def _try_transfer(self, target: str) -> bool:
        """Hand the caller to ``target``; on failure queue the dialog's fallback turn."""
        if self._transfer is None:
            return True  # the session transfers once the pipeline has ended
        await self._journal.event("transfer_started", target=target)
        self.ringback(True)
        try:
            done = await self._transfer(target)
        finally:
            self.ringback(False)
        if done:
            return True
        await self._journal.event("transfer_failed", target=target)
        fallback = getattr(self._dialog, "on_transfer_failed", None)
        if callable(fallback):
            self._post(Next(fallback()))
        return False

    def ringback(self, on: bool) -> None:
        """Play (or stop) ringback to the caller while a transfer rings."""
        if on:
            self._pacer.enqueue(ringback(self._rate, 60_000, self._ringback_region), RINGBACK_TAG)
        else:
            self._pacer.flush()

    async def _log_reply(self, timing: ReplyTiming, text: str, interrupted: bool) -> None:
        node = self._dialog.node_id()
        await self._journal.turn(timing.record(
            text, interrupted,
            started_at=self._time.iso_at(timing.first_frame_at or self._monotonic()),
            transcript_ready=self.transcript_ready, turn_end=self._turn_end,
            speech_end=self._speech_end, meta={"node": node} if node else {},
        ))

    async def interrupt(self, why: str) -> None:
        """Stop the current reply (if any) and log what the caller heard of it. A hang-up or
        transfer it has yielded stays (only the audio stops) unless the call is ending."""
        if not self.running:
            return
        terminal = self._terminal
        spared = terminal.spares(why)
        if terminal.interrupted or (spared and terminal.started):
            if not spared:  # the call ends while the step waits: it goes, its words were logged
                await self.stop()
            return  # the words were cut already, or the transfer rings
        timing = self._speaker.timing
        heard = self._speaker.interrupt()
        self._pacer.resume()
        if spared:
            terminal.interrupted = True
        else:
            await self.stop()
        self._dialog.on_interrupted(heard)
        await self._journal.event("barge_in", why=why, heard=heard)
        if timing.sentences:
            await self._log_reply(timing, heard, interrupted=True)

    def on_barge_in(self, decision: Decision) -> bool:
        """The caller talks over the reply: pause, resume or interrupt it (in a task). True when
        it interrupts; nothing for a line that must be heard whole (consent, legal text)."""
        if not self._speaker.interruptible:
            return False
        if isinstance(decision, Pause):
            self._pacer.pause()
        elif isinstance(decision, Resume):
            self._pacer.resume()
        elif isinstance(decision, Interrupt):
            asyncio.get_running_loop().create_task(self.interrupt("barge_in"))
            return True
        return False

    async def stop(self) -> None:
        """Cancel the current reply, without logging it."""
        task, self._reply = self._reply, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_drained(self, limit_s: float | None) -> None:
        """Wait (at most ``limit_s``; None: no limit) for the queued audio to be sent."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pacer.drained(), limit_s)

    async def say_whole(self, text: str) -> None:
        """Say ``text`` to its end, barge-in or not, within bounds: the call is ending."""
        try:
            await self._speaker.say_to_the_end(text)
        except (CallwrightError, TimeoutError) as exc:
            log.warning("call %s: could not say its last words: %s", self._call_uid, exc)
