"""One call's conversation loop, independent of the PBX adapter.

The session (ari_app) creates the media transport and the call row, then runs a ``CallPipeline``
until it returns a :class:`CallOutcome`. The pipeline wires the caller side (``CallerListener``),
the assistant side (``AssistantSpeaker`` on a pacer ticked by the shared ``PacerClock``) and the
dialog engine, writes every turn through the ``CallJournal`` as it happens, and records both sides
into the stereo recorder when there is one.

A failing dependency degrades the call (an event on its timeline): a recogniser that fails on a
turn (crash, or no transcript in ``stt_timeout_s``) gets "could you say it again?" and listening
again; a failing TTS engine hands the sentence to espeak-ng; a recording the disk refuses stops.
Other failures end the call politely: a short apology, and the outcome says what failed. The
pipeline never closes the transport or the recorder: whoever created them does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from callwright.call.eager import EagerTurns, PreparedSay, ReplyItem, SpeculativeDialog
from callwright.call.journal import CallJournal, TurnRecord
from callwright.call.listener import CallerListener, CallerSpeech
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline_events import (
    _Dtmf,
    _End,
    _Event,
    _Failed,
    _Finish,
    _Likely,
    _Next,
    _NoInput,
    _Note,
    _Resumed,
    _SttFailed,
    _Turn,
)
from callwright.call.pipeline_settings import PipelineSettings
from callwright.call.recording_tap import RecordingTap
from callwright.call.speaker import AssistantSpeaker, ReplyTiming
from callwright.call.terminal_actions import TerminalStep
from callwright.call.timeline import CallTimeline
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
from callwright.errors import CallwrightError, MediaError, SpeechError
from callwright.media.pacer import Pacer, PacerClock, PacerEvent, SegmentStarted
from callwright.media.recorder import StereoWavRecorder
from callwright.media.tones import ringback
from callwright.media.transport import MediaTransport
from callwright.speech.barge_in import BargeInDetector, Decision, Interrupt, Pause, Resume
from callwright.speech.endpointing import Endpointer
from callwright.speech.protocols import SttEngine, TtsEngine
from callwright.speech.silero_vad import detector as vad_detector
from callwright.speech.turn_end import LikelyEnd
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
        fallback_tts: TtsEngine | None = None,
    ) -> None:
        """``fallback_tts`` says a sentence the TTS engine ``tts`` failed on (espeak-ng)."""
        self._transport = transport
        self._transfer = transfer
        self._ringback_region = ringback_region
        self._dialog = dialog
        self._ctx = ctx
        self._journal = journal
        self._clock = clock
        self._settings = settings
        self._tap = (
            RecordingTap(recorder, self._recording_stopped) if recorder is not None else None
        )
        self._monotonic = monotonic
        fmt = transport.format
        self._rate = fmt.sample_rate
        self._time = CallTimeline(self._rate, fmt.samples_per_frame, monotonic)
        self._pacer = Pacer(
            fmt.pcm_frame_bytes, self._send, send_silence_when_idle=True,
            on_event=self._on_pacer_event,
        )
        self._speaker = AssistantSpeaker(
            pacer=self._pacer, tts=tts, sample_rate=self._rate, voice=settings.voice,
            monotonic=monotonic, fallback=fallback_tts, fallback_voice=settings.fallback_voice,
            tts_timeout_s=settings.tts_timeout_s, on_fallback=self._tts_fell_back,
        )
        #: Eager end of turn: the reply prepared on a likely end (None: off, or a dialog whose
        #: steps cannot be taken back).
        self._eager = (
            EagerTurns(dialog, self._speaker.synthesize)
            if settings.eager and settings.turn_end is not None
            and isinstance(dialog, SpeculativeDialog) else None
        )
        self._listener = CallerListener(
            sample_rate=self._rate,
            vad=vad_detector(settings.vad, self._rate, settings.vad_aggressiveness, fmt.frame_ms),
            endpointer=Endpointer(settings.endpointing),
            barge_in=BargeInDetector(settings.barge_in),
            stt=stt,
            pre_roll_ms=settings.pre_roll_ms,
            on_turn=lambda speech: self._post(_Turn(speech)),
            on_speech_start=self._on_speech_start,
            on_barge_in=self._on_barge_in,
            on_error=lambda exc: self._post(_SttFailed(exc)),
            monotonic=monotonic,
            stt_timeout_s=settings.stt_timeout_s,
            language=settings.language,
            turn_end=settings.turn_end,
            on_likely_end=self._on_likely_end if self._eager is not None else None,
            on_resumed=(lambda _: self._post(_Resumed())) if self._eager is not None else None,
        )
        self._events: asyncio.Queue[_Event] = asyncio.Queue()
        self._reply: asyncio.Task[None] | None = None
        self._terminal = TerminalStep()  # the current reply's hang-up or transfer, once yielded
        self._reply_turn_end: float | None = None
        self._reply_speech_end: float | None = None
        self._transcript_ready: float | None = None
        self._listen: Listen | None = None
        self._listening_since: float | None = None
        self._ended = False
        self._last_activity_ms = 0.0
        self._stt_failures = 0  # in a row
        self.barge_ins = 0

    # -- public ----------------------------------------------------------------------------------

    @property
    def journal(self) -> CallJournal:
        return self._journal

    @property
    def settings(self) -> PipelineSettings:
        return self._settings

    @property
    def recording_error(self) -> MediaError | None:
        """Why the recording stopped during the call (None: it did not, or there is none)."""
        return self._tap.error if self._tap is not None else None

    def now_ms(self) -> float:
        return self._time.now_ms()

    def on_dtmf(self, digit: str) -> None:
        self._post(_Dtmf(digit))

    def caller_typed(self, text: str) -> None:
        """A caller turn typed instead of spoken (the admin's test calls from a browser): taken
        as a recognised turn said now (it interrupts the reply in progress, as speech would)."""
        t = self.now_ms()
        self._post(_Turn(CallerSpeech(
            text=text, confidence=None, onset_ms=t, end_ms=t, detected_ms=t, stt_ms=0.0,
            partial_seen=False,
        )))

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
            if self._eager is not None:
                await self._eager.drop()  # a reply prepared for a turn never confirmed
            # A reply still playing when the call ends is logged with the part that was heard.
            await self._interrupt_reply("call_ended")
            await self._stop_reply()
            await self._listener.close()
            self._clock.unregister(registration)
            if self._tap is not None:
                self._tap.write_sent()

    # -- event handling --------------------------------------------------------------------------

    def _post(self, event: _Event) -> None:
        if not self._ended:
            self._events.put_nowait(event)

    async def _handle(self, event: _Event) -> CallOutcome | None:
        eager = self._eager
        if eager is not None:
            if isinstance(event, _Likely):
                if self._reply is None or self._reply.done():  # not over a reply still running
                    await eager.likely(event.text)
                return None
            if isinstance(event, _Resumed):
                if event.new_turn:
                    await eager.drop()
                    eager.forget()
                else:
                    await eager.resumed()
                return None
            if not isinstance(event, _Turn | _Note):
                await eager.drop()  # keys, silence, an error, the end: the turn is not confirmed
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
            self._stt_failures = 0
            await self._caller_turn(event.speech)
        elif isinstance(event, _SttFailed):
            await self._stt_failed(event.error)
        elif isinstance(event, _Note):
            await self._journal.event(event.kind, **event.detail)
        elif isinstance(event, _Dtmf):
            await self._journal.event("dtmf", digit=event.digit)
            if self._listen is not None and not self._listen.dtmf:
                return None
            await self._interrupt_reply("dtmf")
            if self._heard_before_the_end():
                return None
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
        confirmed = await self._eager.confirm(speech.text) if self._eager is not None else None
        meta: dict[str, object] = {"end": speech.end_reason}
        if self._listen and self._listen.grammar:
            meta = {"grammar": list(self._listen.grammar), **meta}
        if confirmed is not None:
            meta.update(confirmed.meta())
        await self._journal.turn(
            TurnRecord(
                speaker="caller",
                text=speech.text,
                started_at=self._time.iso_at_ms(speech.onset_ms),
                ended_at=now_iso,
                stt_ms=round(speech.stt_ms),
                confidence=speech.confidence,
                meta=meta,
            )
        )
        await self._interrupt_reply("caller_turn")
        if self._heard_before_the_end():
            return
        self._transcript_ready = self._monotonic()
        detected_at = self._time.monotonic_at(speech.detected_ms)
        turn = CallerTurn(speech.text, confidence=speech.confidence)
        speech_end = self._time.monotonic_at(speech.end_ms)
        kept = confirmed.reply if confirmed is not None else None
        self._start_reply(kept if kept is not None else self._dialog.on_caller_turn(turn),
                          detected_at, speech_end)

    async def _stt_failed(self, error: SpeechError) -> None:
        """The recogniser failed on the caller's words: ask again and listen (the dialog is not
        told: it still waits for its answer), or end the call when it keeps failing."""
        self._stt_failures += 1
        log.warning("call %s: recognition failed (%d in a row): %s",
                    self._ctx.call_uid, self._stt_failures, error)
        await self._journal.event("stt_error", message=str(error), in_a_row=self._stt_failures)
        if self._heard_before_the_end():
            return
        if self._stt_failures >= self._settings.max_stt_failures:
            raise error
        await self._interrupt_reply("stt_error")
        self._start_reply(_say(self._settings.repeat_text), None)

    def _tts_fell_back(self, text: str, error: SpeechError) -> None:
        self._post(_Note("tts_fallback", {"text": text, "error": str(error)}))

    def _recording_stopped(self, error: MediaError) -> None:
        self._post(_Note("recording_stopped", {"reason": "write_failed", "error": str(error)}))

    # -- replies ---------------------------------------------------------------------------------

    def _start_reply(
        self, actions: AsyncIterator[ReplyItem], turn_end: float | None,
        speech_end: float | None = None,
    ) -> None:
        self._listening_since = None
        self._reply_turn_end = turn_end
        self._reply_speech_end = speech_end
        timing = self._speaker.new_reply()
        self._terminal = terminal = TerminalStep()
        self._reply = asyncio.get_running_loop().create_task(
            self._run_reply(actions, timing, terminal))

    def _heard_before_the_end(self) -> bool:
        """The caller's input (after barge-in) came while a hang-up or transfer is pending: it
        lets the step go on (:mod:`callwright.call.terminal_actions`), no reply is made."""
        if self._reply is None or self._reply.done() or not self._terminal.committed:
            return False
        self._terminal.caller_done()
        return True

    async def _run_reply(
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
                    self._listen = action
                    self._listener.set_grammar(action.grammar, min_digits=action.min_digits,
                                               max_digits=action.max_digits)
                elif isinstance(action, Hangup):
                    terminal.commit(action)
                    end = CallOutcome("completed", action.reason)
                    await self._wait_drained(limit_s=None)
                    await terminal.hold()
                    break
                elif isinstance(action, Transfer):
                    terminal.commit(action)
                    await self._wait_drained(limit_s=None)
                    await terminal.hold()
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
        if timing.sentences and not terminal.interrupted:
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
        node = self._dialog.node_id()
        await self._journal.turn(timing.record(
            text, interrupted,
            started_at=self._time.iso_at(timing.first_frame_at or self._monotonic()),
            transcript_ready=self._transcript_ready, turn_end=self._reply_turn_end,
            speech_end=self._reply_speech_end, meta={"node": node} if node else {},
        ))

    async def _interrupt_reply(self, why: str) -> None:
        """Stop the current reply (if any) and log what the caller heard of it. A hang-up or
        transfer it has yielded stays (only the audio stops) unless the call is ending."""
        task = self._reply
        if task is None or task.done():
            return
        terminal = self._terminal
        spared = terminal.spares(why)
        if terminal.interrupted or (spared and terminal.started):
            if not spared:  # the call ends while the step waits: it goes, its words were logged
                await self._stop_reply()
            return  # the words were cut already, or the transfer rings
        timing = self._speaker.timing
        heard = self._speaker.interrupt()
        self._pacer.resume()
        if spared:
            terminal.interrupted = True
        else:
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
            await self._speaker.say_to_the_end(text)
        except (CallwrightError, TimeoutError) as exc:
            log.warning("call %s: could not say its last words: %s", self._ctx.call_uid, exc)

    async def _apologise(self) -> None:
        await self._stop_reply()
        await self._say_whole(self._settings.apology_text)

    # -- hooks from media and the clock ----------------------------------------------------------

    def _on_frame(self, pcm: bytes) -> None:
        t = self.now_ms()
        if self._tap is not None:
            self._tap.caller(pcm, self._time.slot(t))
        self._listener.on_frame(pcm, t)

    def _send(self, frame: bytes) -> None:
        self._transport.send_frame(frame)
        if self._tap is not None:
            # Recorded in _on_tick, which the clock runs once every call's frame is on the wire:
            # the sends of one tick stay packed together (pacing), the file write comes after.
            self._tap.sent(frame, self._time.slot(self.now_ms()))

    def _on_tick(self, *_: object) -> None:
        t = self.now_ms()
        if self._tap is not None:
            self._tap.write_sent()
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

    def _on_likely_end(self, event: LikelyEnd) -> None:
        self._post(_Likely(event.partial))

    def _on_speech_start(self, onset_ms: float) -> None:
        if self._eager is not None and self._eager.current is not None:
            self._post(_Resumed(new_turn=True))  # prepared for a turn never confirmed (noise)
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


async def _say(text: str) -> AsyncIterator[DialogAction]:
    """A reply of one line, after which the dialog's last :class:`Listen` still holds."""
    yield Say(text)
