"""One call's conversation loop, independent of the PBX adapter.

The session (ari_app) creates the media transport and the call row, then runs a ``CallPipeline``
until it returns a :class:`CallOutcome`. The pipeline wires the caller side (``CallerListener``),
the assistant side (``AssistantSpeaker`` on a pacer ticked by the shared ``PacerClock``) and the
dialog engine, writes every turn through the ``CallJournal`` as it happens, and records both sides
into the stereo recorder when there is one.

Failures (a dead speech engine, a dialog error) end the call politely: the caller hears a short
apology and the outcome says what failed. The pipeline never closes the transport or the recorder:
whoever created them does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from callwright.call.journal import CallJournal, TurnRecord
from callwright.call.listener import CallerListener, CallerSpeech
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline_events import (
    _Dtmf,
    _End,
    _Event,
    _Failed,
    _Finish,
    _Next,
    _NoInput,
    _Turn,
)
from callwright.call.pipeline_settings import PipelineSettings
from callwright.call.speaker import AssistantSpeaker, ReplyTiming
from callwright.dialog.actions import (
    CallContext,
    CallerTurn,
    DialogAction,
    DialogEngine,
    Hangup,
    Listen,
    Say,
    Transfer,
)
from callwright.errors import CallwrightError
from callwright.media.pacer import Pacer, PacerClock, PacerEvent, SegmentStarted
from callwright.media.recorder import StereoWavRecorder
from callwright.media.tones import ringback
from callwright.media.transport import MediaTransport
from callwright.speech.barge_in import BargeInDetector, Decision, Interrupt, Pause, Resume
from callwright.speech.endpointing import Endpointer
from callwright.speech.protocols import SttEngine, TtsEngine
from callwright.speech.vad import VoiceActivityDetector
from callwright.store.clock import utc_now_iso

log = logging.getLogger(__name__)

RINGBACK_TAG = "ringback"

#: Tries a transfer to ``target``; True when the caller was handed over (the call is then the
#: transfer target's), False when it failed and the assistant should take the caller back.
TransferHandler = Callable[[str], Awaitable[bool]]


class CallPipeline:
    def __init__(
        self,
        *,
        transport: MediaTransport,
        stt: SttEngine,
        tts: TtsEngine,
        dialog: DialogEngine,
        ctx: CallContext,
        journal: CallJournal,
        clock: PacerClock,
        settings: PipelineSettings,
        recorder: StereoWavRecorder | None = None,
        transfer: TransferHandler | None = None,
        ringback_region: str = "eu",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._transfer = transfer
        self._ringback_region = ringback_region
        self._dialog = dialog
        self._ctx = ctx
        self._journal = journal
        self._clock = clock
        self._settings = settings
        self._recorder = recorder
        self._monotonic = monotonic
        fmt = transport.format
        self._rate = fmt.sample_rate
        self._spf = fmt.samples_per_frame
        self._frames_per_ms = self._rate / 1000.0 / self._spf
        self._pacer = Pacer(
            fmt.pcm_frame_bytes, self._send, send_silence_when_idle=True,
            on_event=self._on_pacer_event,
        )
        self._speaker = AssistantSpeaker(
            pacer=self._pacer, tts=tts, sample_rate=self._rate, voice=settings.voice,
            monotonic=monotonic,
        )
        self._listener = CallerListener(
            sample_rate=self._rate,
            vad=VoiceActivityDetector(self._rate, settings.vad_aggressiveness, fmt.frame_ms),
            endpointer=Endpointer(settings.endpointing),
            barge_in=BargeInDetector(settings.barge_in),
            stt=stt,
            pre_roll_ms=settings.pre_roll_ms,
            on_turn=lambda speech: self._post(_Turn(speech)),
            on_speech_start=self._on_speech_start,
            on_barge_in=self._on_barge_in,
            on_error=lambda exc: self._post(_Failed(exc)),
            monotonic=monotonic,
        )
        self._events: asyncio.Queue[_Event] = asyncio.Queue()
        self._t0 = monotonic()
        self._reply: asyncio.Task[None] | None = None
        self._reply_turn_end: float | None = None
        self._reply_speech_end: float | None = None
        self._transcript_ready: float | None = None
        self._listen: Listen | None = None
        self._listening_since: float | None = None
        self._ended = False
        self._last_activity_ms = 0.0
        self._unrecorded: tuple[bytes, int] | None = None  # assistant frame sent, not recorded yet
        self.barge_ins = 0

    # -- public ----------------------------------------------------------------------------------

    @property
    def journal(self) -> CallJournal:
        return self._journal

    def now_ms(self) -> float:
        return (self._monotonic() - self._t0) * 1000.0

    def on_dtmf(self, digit: str) -> None:
        self._post(_Dtmf(digit))

    def end(self, outcome: CallOutcome) -> None:
        """The call ended outside the pipeline (caller hung up, PBX gone)."""
        self._post(_End(outcome))

    def finish(self, outcome: CallOutcome, text: str | None = None) -> None:
        """End the call from outside while the caller is still here (the service drains and
        hands callers back): the reply in progress stops, ``text`` is said whole (no barge-in),
        then :meth:`run` returns ``outcome``."""
        self._post(_Finish(outcome, text))

    async def run(self) -> CallOutcome:
        registration = self._clock.register(self._pacer, self._on_tick)
        try:
            await self._transport.start(self._on_frame, self._on_transport_closed)
            self._start_reply(self._dialog.begin(self._ctx), None)
            while True:
                event = await self._events.get()
                outcome = await self._handle(event)
                if outcome is not None:
                    return outcome
        except CallwrightError as exc:
            log.error("call %s failed: %s", self._ctx.call_uid, exc)
            await self._journal.event("error", message=str(exc), error=type(exc).__name__)
            await self._apologise()
            return CallOutcome("failed", f"error: {type(exc).__name__}: {exc}")
        finally:
            self._ended = True
            # A reply still playing when the call ends is logged with the part that was heard.
            await self._interrupt_reply("call_ended")
            await self._stop_reply()
            await self._listener.close()
            self._clock.unregister(registration)
            self._record_sent()

    # -- event handling --------------------------------------------------------------------------

    def _post(self, event: _Event) -> None:
        if not self._ended:
            self._events.put_nowait(event)

    async def _handle(self, event: _Event) -> CallOutcome | None:
        if isinstance(event, _End):
            if event.drain:
                await self._wait_drained(limit_s=30.0)
            return event.outcome
        if isinstance(event, _Finish):
            await self._interrupt_reply("finish")
            if event.text:
                await self._journal.event("last_words", text=event.text)
                await self._say_whole(event.text)
            return event.outcome
        if isinstance(event, _Failed):
            if isinstance(event.error, CallwrightError):
                raise event.error
            raise CallwrightError(str(event.error)) from event.error
        if isinstance(event, _Turn):
            await self._caller_turn(event.speech)
        elif isinstance(event, _Dtmf):
            await self._journal.event("dtmf", digit=event.digit)
            if self._listen is not None and not self._listen.dtmf:
                return None
            await self._interrupt_reply("dtmf")
            self._transcript_ready = self._monotonic()
            self._start_reply(self._dialog.on_caller_turn(CallerTurn("", dtmf=event.digit)), None)
        elif isinstance(event, _NoInput):
            await self._journal.event("no_input")
            self._start_reply(self._dialog.on_no_input(), None)
        elif isinstance(event, _Next):
            self._start_reply(event.actions, None)
        return None

    async def _caller_turn(self, speech: CallerSpeech) -> None:
        now_iso = utc_now_iso()
        await self._journal.turn(
            TurnRecord(
                speaker="caller",
                text=speech.text,
                started_at=self._iso_at(speech.onset_ms),
                ended_at=now_iso,
                stt_ms=round(speech.stt_ms),
                confidence=speech.confidence,
                meta={"grammar": list(self._listen.grammar)}
                if self._listen and self._listen.grammar
                else {},
            )
        )
        await self._interrupt_reply("caller_turn")
        self._transcript_ready = self._monotonic()
        detected_at = self._t0 + speech.detected_ms / 1000.0
        turn = CallerTurn(speech.text, confidence=speech.confidence)
        speech_end = self._t0 + speech.end_ms / 1000.0
        self._start_reply(self._dialog.on_caller_turn(turn), detected_at, speech_end)

    # -- replies ---------------------------------------------------------------------------------

    def _start_reply(
        self, actions: AsyncIterator[DialogAction], turn_end: float | None,
        speech_end: float | None = None,
    ) -> None:
        self._listening_since = None
        self._reply_turn_end = turn_end
        self._reply_speech_end = speech_end
        timing = self._speaker.new_reply()
        self._reply = asyncio.get_running_loop().create_task(self._run_reply(actions, timing))

    async def _run_reply(self, actions: AsyncIterator[DialogAction], timing: ReplyTiming) -> None:
        end: CallOutcome | None = None
        try:
            async for action in actions:
                if isinstance(action, Say):
                    await self._speaker.say(action.text, action.interruptible)
                elif isinstance(action, Listen):
                    self._listen = action
                    self._listener.set_grammar(action.grammar)
                elif isinstance(action, Hangup):
                    end = CallOutcome("completed", action.reason)
                    break
                elif isinstance(action, Transfer):
                    await self._wait_drained(limit_s=None)
                    if await self._try_transfer(action.target):
                        end = CallOutcome("transferred", action.reason, action.target)
                    break
            await self._wait_drained(limit_s=None)
        except CallwrightError as exc:
            self._post(_Failed(exc))
            return
        finally:
            with contextlib.suppress(AttributeError, RuntimeError):
                await actions.aclose()  # type: ignore[attr-defined]
        if timing.sentences:
            await self._log_reply(timing, " ".join(timing.sentences), interrupted=False)
        if end is not None:
            self._post(_End(end, drain=True))
        else:
            self._listening_since = self.now_ms()

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
            self._post(_Next(fallback()))
        return False

    def ringback(self, on: bool) -> None:
        """Play (or stop) ringback to the caller while a transfer rings."""
        if on:
            self._pacer.enqueue(ringback(self._rate, 60_000, self._ringback_region), RINGBACK_TAG)
        else:
            self._pacer.flush()

    async def _log_reply(self, timing: ReplyTiming, text: str, interrupted: bool) -> None:
        def ms(a: float | None, b: float | None) -> int | None:
            return None if a is None or b is None else round((b - a) * 1000)

        await self._journal.turn(
            TurnRecord(
                speaker="assistant",
                text=text,
                started_at=self._iso_at_monotonic(timing.first_frame_at or self._monotonic()),
                ended_at=utc_now_iso(),
                interrupted=interrupted,
                dialog_ms=ms(self._transcript_ready, timing.first_text_at),
                tts_ms=ms(timing.first_text_at, timing.first_audio_ready_at),
                first_frame_ms=ms(self._reply_turn_end, timing.first_frame_at),
                heard_gap_ms=ms(self._reply_speech_end, timing.first_frame_at),
                meta={"node": self._dialog.node_id()} if self._dialog.node_id() else {},
            )
        )

    async def _interrupt_reply(self, why: str) -> None:
        """Stop the current reply (if any) and log what the caller heard of it."""
        task = self._reply
        if task is None or task.done():
            return
        timing = self._speaker.timing
        heard = self._speaker.interrupt()
        self._pacer.resume()
        await self._stop_reply()
        self._dialog.on_interrupted(heard)
        await self._journal.event("barge_in", why=why, heard=heard)
        if timing.sentences:
            await self._log_reply(timing, heard, interrupted=True)

    async def _stop_reply(self) -> None:
        task, self._reply = self._reply, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _wait_drained(self, limit_s: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pacer.drained(), limit_s)

    async def _say_whole(self, text: str) -> None:
        """Say ``text`` to its end, barge-in or not, within bounds: the call is ending."""
        try:
            self._speaker.new_reply()
            await asyncio.wait_for(self._speaker.say(text, interruptible=False), 5.0)
            await self._wait_drained(limit_s=15.0)
        except (CallwrightError, TimeoutError) as exc:
            log.warning("call %s: could not say its last words: %s", self._ctx.call_uid, exc)

    async def _apologise(self) -> None:
        try:
            await self._stop_reply()
            self._speaker.new_reply()
            await asyncio.wait_for(self._speaker.say(self._settings.apology_text), 5.0)
            await self._wait_drained(limit_s=15.0)
        except (CallwrightError, TimeoutError) as exc:
            log.warning("could not apologise to the caller: %s", exc)

    # -- hooks from media and the clock ----------------------------------------------------------

    def _on_frame(self, pcm: bytes) -> None:
        t = self.now_ms()
        if self._recorder is not None:
            self._recorder.write_caller(pcm, self._slot(t))
        self._listener.on_frame(pcm, t)

    def _send(self, frame: bytes) -> None:
        self._transport.send_frame(frame)
        if self._recorder is not None:
            # Recorded in _on_tick, which the clock runs once every call's frame is on the wire:
            # the sends of one tick stay packed together (pacing), the file write comes after.
            self._unrecorded = (frame, self._slot(self.now_ms()))

    def _record_sent(self) -> None:
        """Record the assistant frame :meth:`_send` put on the wire, if not done yet."""
        unrecorded, self._unrecorded = self._unrecorded, None
        if unrecorded is not None and self._recorder is not None:
            self._recorder.write_assistant(*unrecorded)

    def _slot(self, t_ms: float) -> int:
        """The recording position of a frame handled at ``t_ms``: the nearest frame boundary."""
        return int(t_ms * self._frames_per_ms + 0.5) * self._spf

    def _on_tick(self, *_: object) -> None:
        t = self.now_ms()
        self._record_sent()
        speaking = self._pacer.is_speaking
        self._listener.set_assistant_speaking(speaking)
        self._listener.on_tick(t)
        self._listener.on_partial_check(t)
        listen = self._listen
        if (
            listen is not None
            and self._listening_since is not None
            and not speaking
            and not self._listener.in_speech
            and t - self._listening_since > listen.no_input_s * 1000.0
        ):
            self._listening_since = None
            self._post(_NoInput())
        if t > self._settings.max_call_s * 1000.0:
            self._post(_End(CallOutcome("completed", "max_duration"), drain=True))
        silence_s = self._settings.silence_hangup_s
        if speaking or self._listener.in_speech:
            self._last_activity_ms = t
        elif silence_s > 0 and t - self._last_activity_ms > silence_s * 1000.0:
            self._last_activity_ms = t  # post once
            self._post(_End(CallOutcome("completed", "caller_silent")))

    def _on_pacer_event(self, event: PacerEvent) -> None:
        if isinstance(event, SegmentStarted):
            self._speaker.on_segment_started(event.tag, event.at)

    def _on_speech_start(self, onset_ms: float) -> None:
        self._listening_since = None
        self._last_activity_ms = self.now_ms()

    def _on_barge_in(self, decision: Decision) -> None:
        if not self._speaker.interruptible:
            return  # a notice that must be heard whole (consent, legal text)
        if isinstance(decision, Pause):
            self._pacer.pause()
        elif isinstance(decision, Resume):
            self._pacer.resume()
        elif isinstance(decision, Interrupt):
            self.barge_ins += 1
            asyncio.get_running_loop().create_task(self._interrupt_reply("barge_in"))

    def _on_transport_closed(self, reason: str) -> None:
        self._post(_End(CallOutcome("completed", f"media_closed: {reason}")))

    # -- time ------------------------------------------------------------------------------------

    def _iso_at(self, t_ms: float) -> str:
        return self._iso_at_monotonic(self._t0 + t_ms / 1000.0)

    def _iso_at_monotonic(self, at: float) -> str:
        wall = time.time() - (self._monotonic() - at)
        stamp = datetime.fromtimestamp(wall, tz=UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
