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
import logging
import time
from collections.abc import AsyncIterator, Callable

from callwright.call.call_timers import CallTimers
from callwright.call.eager import EagerTurns, ReplyItem, SpeculativeDialog
from callwright.call.journal import CallJournal, TurnRecord
from callwright.call.listener import CallerListener, CallerSpeech
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline_events import (
    Dtmf,
    End,
    Event,
    Failed,
    Finish,
    Likely,
    Next,
    NoInput,
    Note,
    Resumed,
    SttFailed,
    Turn,
)
from callwright.call.pipeline_settings import PipelineSettings
from callwright.call.recording_tap import RecordingTap
from callwright.call.reply_player import RINGBACK_TAG as RINGBACK_TAG
from callwright.call.reply_player import ReplyPlayer
from callwright.call.reply_player import TransferHandler as TransferHandler
from callwright.call.speaker import AssistantSpeaker
from callwright.call.timeline import CallTimeline
from callwright.dialog.actions import (
    CallContext,
    CallerTurn,
    DialogAction,
    DialogEngine,
    Listen,
    Say,
)
from callwright.errors import CallwrightError, MediaError, SpeechError
from callwright.media.pacer import Pacer, PacerClock, PacerEvent, SegmentStarted
from callwright.media.recorder import StereoWavRecorder
from callwright.media.transport import ArrivingFrames, MediaTransport
from callwright.speech.barge_in import BargeInDetector, Decision
from callwright.speech.endpointing import Endpointer
from callwright.speech.protocols import SttEngine, TtsEngine
from callwright.speech.silero_vad import detector as vad_detector
from callwright.speech.turn_end import LikelyEnd
from callwright.store.clock import utc_now_iso

log = logging.getLogger(__name__)


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
        self._replies = ReplyPlayer(
            speaker=self._speaker, pacer=self._pacer, dialog=dialog, journal=journal,
            timeline=self._time, post=self._post, on_listen=self._on_listen,
            on_done=lambda: self._timers.listening(self.now_ms()), call_uid=ctx.call_uid,
            sample_rate=self._rate, transfer=transfer, ringback_region=ringback_region,
            monotonic=monotonic,
        )
        self._timers = CallTimers(
            max_call_s=settings.max_call_s, silence_hangup_s=settings.silence_hangup_s)
        #: Eager end of turn: the reply prepared on a likely end (None: off, or a dialog whose
        #: steps cannot be taken back).
        self._eager = (
            EagerTurns(dialog, self._speaker.synthesize)
            if settings.eager and settings.turn_end is not None
            and isinstance(dialog, SpeculativeDialog) else None
        )
        # A transport with a jitter buffer also hands over frames as they arrive: barge-in (and
        # the taking back of a reply the caller went on over) acts ~40 ms sooner.
        arriving = transport if isinstance(transport, ArrivingFrames) else None
        self._listener = CallerListener(
            sample_rate=self._rate,
            vad=vad_detector(settings.vad, self._rate, settings.vad_aggressiveness, fmt.frame_ms),
            endpointer=Endpointer(settings.endpointing),
            barge_in=BargeInDetector(settings.barge_in),
            stt=stt,
            pre_roll_ms=settings.pre_roll_ms,
            on_turn=lambda speech: self._post(Turn(speech)),
            on_speech_start=self._on_speech_start,
            on_barge_in=self._on_barge_in,
            on_error=lambda exc: self._post(SttFailed(exc)),
            monotonic=monotonic,
            stt_timeout_s=settings.stt_timeout_s,
            language=settings.language,
            turn_end=settings.turn_end,
            on_likely_end=self._on_likely_end if self._eager is not None else None,
            on_resumed=(lambda _: self._post(Resumed())) if self._eager is not None else None,
            arrivals=arriving is not None,
        )
        if arriving is not None:
            arriving.set_arrival_sink(self._on_arrival)
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._listen: Listen | None = None
        self._ended = False
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
        self._post(Dtmf(digit))

    def caller_typed(self, text: str) -> None:
        """A caller turn typed instead of spoken (the admin's test calls from a browser): taken
        as a recognised turn said now (it interrupts the reply in progress, as speech would)."""
        t = self.now_ms()
        self._post(Turn(CallerSpeech(
            text=text, confidence=None, onset_ms=t, end_ms=t, detected_ms=t, stt_ms=0.0,
            partial_seen=False,
        )))

    def end(self, outcome: CallOutcome) -> None:
        """The call ended outside the pipeline (caller hung up, PBX gone)."""
        self._post(End(outcome))

    def finish(self, outcome: CallOutcome, text: str | None = None) -> None:
        """End the call from outside while the caller is still here (the service drains and
        hands callers back): the reply in progress stops, ``text`` is said whole (no barge-in),
        then :meth:`run` returns ``outcome``."""
        self._post(Finish(outcome, text))

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
            await self._replies.interrupt("call_ended")
            await self._replies.stop()
            await self._listener.close()
            self._clock.unregister(registration)
            if self._tap is not None:
                self._tap.write_sent()

    # -- event handling --------------------------------------------------------------------------

    def _post(self, event: Event) -> None:
        if not self._ended:
            self._events.put_nowait(event)

    async def _handle(self, event: Event) -> CallOutcome | None:
        eager = self._eager
        if eager is not None:
            if isinstance(event, Likely):
                if not self._replies.running:  # not over a reply still running
                    await eager.likely(event.text)
                return None
            if isinstance(event, Resumed):
                if event.new_turn:
                    await eager.drop()
                    eager.forget()
                else:
                    await eager.resumed()
                return None
            if not isinstance(event, Turn | Note):
                await eager.drop()  # keys, silence, an error, the end: the turn is not confirmed
        if isinstance(event, End):
            if event.drain:
                await self._replies.wait_drained(limit_s=30.0)
            return event.outcome
        if isinstance(event, Finish):
            await self._replies.interrupt("finish")
            if event.text:
                await self._journal.event("last_words", text=event.text)
                await self._replies.say_whole(event.text)
            return event.outcome
        if isinstance(event, Failed):
            if isinstance(event.error, CallwrightError):
                raise event.error
            raise CallwrightError(str(event.error)) from event.error
        if isinstance(event, Turn):
            self._stt_failures = 0
            await self._caller_turn(event.speech)
        elif isinstance(event, SttFailed):
            await self._stt_failed(event.error)
        elif isinstance(event, Note):
            await self._journal.event(event.kind, **event.detail)
        elif isinstance(event, Dtmf):
            await self._journal.event("dtmf", digit=event.digit)
            if self._listen is not None and not self._listen.dtmf:
                return None
            await self._replies.interrupt("dtmf")
            if self._replies.heard_before_the_end():
                return None
            self._replies.transcript_ready = self._monotonic()
            self._start_reply(self._dialog.on_caller_turn(CallerTurn("", dtmf=event.digit)), None)
        elif isinstance(event, NoInput):
            await self._journal.event("no_input")
            self._start_reply(self._dialog.on_no_input(), None)
        elif isinstance(event, Next):
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
        await self._replies.interrupt("caller_turn")
        if self._replies.heard_before_the_end():
            return
        self._replies.transcript_ready = self._monotonic()
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
        if self._replies.heard_before_the_end():
            return
        if self._stt_failures >= self._settings.max_stt_failures:
            raise error
        await self._replies.interrupt("stt_error")
        self._start_reply(_say(self._settings.repeat_text), None)

    def _tts_fell_back(self, text: str, error: SpeechError) -> None:
        self._post(Note("tts_fallback", {"text": text, "error": str(error)}))

    def _recording_stopped(self, error: MediaError) -> None:
        self._post(Note("recording_stopped", {"reason": "write_failed", "error": str(error)}))

    # -- replies ---------------------------------------------------------------------------------

    def _start_reply(
        self, actions: AsyncIterator[ReplyItem], turn_end: float | None,
        speech_end: float | None = None,
    ) -> None:
        self._timers.not_listening()
        self._replies.start(actions, turn_end, speech_end)

    def _on_listen(self, listen: Listen) -> None:
        self._listen = listen
        self._listener.set_grammar(listen.grammar, min_digits=listen.min_digits,
                                   max_digits=listen.max_digits)

    def ringback(self, on: bool) -> None:
        """Play (or stop) ringback to the caller while a transfer rings."""
        self._replies.ringback(on)

    async def _apologise(self) -> None:
        await self._replies.stop()
        await self._replies.say_whole(self._settings.apology_text)

    # -- hooks from media and the clock ----------------------------------------------------------

    def _on_frame(self, pcm: bytes) -> None:
        t = self.now_ms()
        if self._tap is not None:
            self._tap.caller(pcm, self._time.slot(t))
        self._listener.on_frame(pcm, t)

    def _on_arrival(self, pcm: bytes) -> None:
        self._listener.on_arrival(pcm, self.now_ms())

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
        for event in self._timers.tick(
            t, listen=self._listen, speaking=speaking, in_speech=self._listener.in_speech,
        ):
            self._post(event)

    def _on_pacer_event(self, event: PacerEvent) -> None:
        if isinstance(event, SegmentStarted):
            self._speaker.on_segment_started(event.tag, event.at)

    def _on_likely_end(self, event: LikelyEnd) -> None:
        self._post(Likely(event.partial))

    def _on_speech_start(self, onset_ms: float) -> None:
        if self._eager is not None and self._eager.current is not None:
            self._post(Resumed(new_turn=True))  # prepared for a turn never confirmed (noise)
        self._timers.not_listening()
        self._timers.activity(self.now_ms())

    def _on_barge_in(self, decision: Decision) -> None:
        if self._replies.on_barge_in(decision):
            self.barge_ins += 1

    def _on_transport_closed(self, reason: str) -> None:
        self._post(End(CallOutcome("completed", f"media_closed: {reason}")))


async def _say(text: str) -> AsyncIterator[DialogAction]:
    """A reply of one line, after which the dialog's last :class:`Listen` still holds."""
    yield Say(text)
