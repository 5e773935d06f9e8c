"""The caller side of a call: frames → VAD → endpointing → speech recognition, plus barge-in.

The listener is driven by two inputs: ``on_frame`` for every decoded caller frame and ``on_tick``
every 20 ms from the pacer clock. Asterisk sends nothing while the caller's side is silent (a
two-member bridge forwards only what the caller produces), so silence is also inferred from the
clock: when no frame has arrived for ``GAP_MS``, each tick counts as a silent frame. That way a
turn still ends when the caller simply stops sending.

Recognition runs only on speech: a stream is opened at speech onset with the pre-roll frames
(the audio just before the onset), fed while the caller speaks, and finished at the end of the
turn. The result is handed to ``on_turn``.

With a :class:`~callwright.speech.turn_end.TurnEndConfig` the end of the turn follows what the
dialog's last ``Listen`` waits for: the stream's partial, and the syllables counted in the sound
(:class:`~callwright.speech.syllables.SyllableCounter`, which count a Korean digit string) and, for
free speech, the tune of its end (:class:`~callwright.speech.intonation.PitchTracker`), go to a
:class:`~callwright.speech.turn_end.TurnEndDecider` every frame, which asks the endpointer for a
short silence once the answer is complete (``CallerSpeech.end_reason`` says which silence ended
the turn); its eager ends (``LikelyEnd``) and their taking back (``TurnResumed``) go to
``on_likely_end``/``on_resumed`` when given.

A recogniser that fails on a turn (its worker crashed, or it gave no result within
``stt_timeout_s`` of the end of the turn: a hung worker) is handed to ``on_error`` as a
:class:`SpeechError`; the turn's stream is abandoned in the background (never awaited by the
caller's path), and the next turn opens a new one, so the engine can replace what died.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from callwright.errors import SpeechError
from callwright.speech.answers import Expectation
from callwright.speech.barge_in import BargeInDetector, Decision
from callwright.speech.endpointing import (
    Endpointer,
    EndpointState,
    NoiseDiscarded,
    SpeechEnded,
    SpeechStarted,
)
from callwright.speech.intonation import PitchTracker
from callwright.speech.protocols import SttEngine, SttStream
from callwright.speech.silero_vad import FrameVad
from callwright.speech.syllables import SyllableCounter
from callwright.speech.turn_end import (
    LikelyEnd,
    TurnEndConfig,
    TurnEndDecider,
    TurnResumed,
)
from callwright.speech.vad import NoiseMargin

log = logging.getLogger(__name__)

FRAME_MS = 20
#: With no caller frame for this long, the clock ticks count as silence.
GAP_MS = 60
#: Longest wait for a turn's transcript after the end of the turn (the recogniser is then taken
#: as failed for this turn).
STT_TIMEOUT_S = 4.0
#: Longest wait for an abandoned stream to close before it is left to itself.
CLOSE_TIMEOUT_S = 5.0
#: Syllables this long before a turn's onset still count (the VAD confirms a little late).
SYLLABLE_LEAD_MS = 100.0
#: For this long after a caller's turn ended, one frame of their speech pauses the reply (the
#: turn was ended too soon: the caller goes on, and hears at most a frame or two of the reply);
#: later, barge-in needs its ``start_ms``.
TAKE_BACK_MS = 1500.0
#: Verdicts on arrived frames kept for their playout: the jitter buffer's depth and then some.
VERDICTS_KEPT = 64


@dataclass(frozen=True, slots=True)
class CallerSpeech:
    """One finished caller turn."""

    text: str
    confidence: float | None
    onset_ms: float        # call time of the first speech frame
    end_ms: float          # call time the speech stopped
    detected_ms: float     # call time the end of turn was detected
    stt_ms: float          # detected → final transcript ready
    partial_seen: bool
    #: Which silence ended the turn (see :class:`~callwright.speech.turn_end.SilencePlan`).
    end_reason: str = "silence"


class CallerListener:
    def __init__(
        self,
        *,
        sample_rate: int,
        vad: FrameVad,
        endpointer: Endpointer,
        barge_in: BargeInDetector,
        stt: SttEngine,
        pre_roll_ms: int,
        on_turn: Callable[[CallerSpeech], None],
        on_speech_start: Callable[[float], None],
        on_barge_in: Callable[[Decision], None],
        on_error: Callable[[SpeechError], None],
        monotonic: Callable[[], float] = time.monotonic,
        stt_timeout_s: float = STT_TIMEOUT_S,
        language: str = "en",
        turn_end: TurnEndConfig | None = None,
        on_likely_end: Callable[[LikelyEnd], None] | None = None,
        on_resumed: Callable[[TurnResumed], None] | None = None,
        arrivals: bool = False,
    ) -> None:
        """``turn_end`` None keeps the fixed end-of-turn silence (``end_silence_ms``); with it,
        the silence follows what the turn waits for (:class:`TurnEndDecider`), and
        ``on_likely_end``/``on_resumed`` hear its eager ends and their taking back. With
        ``arrivals`` the transport also gives each frame to :meth:`on_arrival` as it arrives,
        before its jitter buffer: the detector hears it then, barge-in acts on that verdict, and
        the played-out frame reuses it."""
        self._rate = sample_rate
        self._vad = vad
        self._language = language
        self._turn_end = (
            TurnEndDecider(endpointer, turn_end, eager=on_likely_end is not None)
            if turn_end is not None else None
        )
        self._syllables = SyllableCounter(sample_rate) if turn_end is not None else None
        self._pitch = (PitchTracker(sample_rate)
                       if turn_end is not None and turn_end.intonation else None)
        #: What the end of a closed answer's turn hears as speech also stands above the line's
        #: noise, and so does free speech's when its tune is followed (a rising voice, not the
        #: detector's hangover, keeps a paused sentence whole); barge-in hears the detector's own
        #: verdict (a caller talking over a reply is heard at once), and so does free speech
        #: without the tune (see TurnEndConfig.noise_margin_db).
        self._margin = (
            NoiseMargin(turn_end.noise_margin_db, FRAME_MS)
            if turn_end is not None and turn_end.noise_margin_db is not None else None
        )
        self._on_likely_end = on_likely_end
        self._on_resumed = on_resumed
        self._endpointer = endpointer
        self._barge_in = barge_in
        self._stt = stt
        self._pre_roll: deque[bytes] = deque(maxlen=max(1, pre_roll_ms // FRAME_MS))
        self._on_turn = on_turn
        self._on_speech_start = on_speech_start
        self._on_barge_in = on_barge_in
        self._on_error = on_error
        self._monotonic = monotonic
        self._stt_timeout_s = stt_timeout_s
        self._grammar: tuple[str, ...] | None = None
        self._assistant_speaking = False
        self._last_frame_ms = -1e9
        self._arrivals = arrivals
        #: Verdicts given on arrival, waiting for their frame's playout (the same bytes object).
        self._verdicts: deque[tuple[bytes, bool]] = deque(maxlen=VERDICTS_KEPT)
        self._last_arrival_ms = -1e9
        self._arrival_t = -1e9  # media time of the last frame barge-in heard on arrival
        self._turn_ended_ms = -1e9
        self._stream: SttStream | None = None
        self._stream_task: asyncio.Task[SttStream] | None = None
        self._pending: list[bytes] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.frames_in = 0

    # -- configuration from the dialog -----------------------------------------------------------

    def set_grammar(
        self, grammar: Sequence[str] | None, *,
        min_digits: int | None = None, max_digits: int | None = None,
    ) -> None:
        """What the next turns are recognised against, and so what ends them (the digits'
        length, when the answer is a digit string)."""
        self._grammar = tuple(grammar) if grammar else None
        if self._turn_end is not None:
            self._turn_end.expect(Expectation.from_grammar(
                self._grammar, self._language, min_digits=min_digits, max_digits=max_digits,
            ))

    def set_assistant_speaking(self, speaking: bool) -> None:
        if speaking != self._assistant_speaking:
            self._assistant_speaking = speaking
            self._barge_in.reset()

    @property
    def in_speech(self) -> bool:
        return self._stream_task is not None

    # -- inputs ----------------------------------------------------------------------------------

    def on_frame(self, pcm: bytes, t_ms: float) -> None:
        if self._closed:
            return
        self.frames_in += 1
        self._last_frame_ms = t_ms
        speech = self._verdict_given(pcm)
        if speech is None:
            try:
                speech = self._vad.is_speech(pcm)
            except Exception as exc:  # a malformed frame must not end the call
                log.warning("VAD refused a frame of %d bytes: %s", len(pcm), exc)
                return
        turn_speech = speech
        if self._margin is not None:
            above_noise = self._margin.passes(pcm, speech)  # it follows the noise every frame
            if self._grammar is not None or self._pitch is not None:
                turn_speech = speech and above_noise
        self._process(speech, t_ms, pcm, turn_speech)

    def on_arrival(self, pcm: bytes, t_ms: float) -> None:
        """A caller frame as it arrived at ``t_ms``, before the jitter buffer held it (with
        ``arrivals``): the detector hears it now, so barge-in acts ~40 ms sooner than on the
        played-out frame, which reuses the verdict (one verdict per frame, in arrival order)."""
        if self._closed or not self._arrivals:
            return
        self._last_arrival_ms = t_ms
        try:
            speech = self._vad.is_speech(pcm)
        except Exception as exc:  # a malformed frame must not end the call
            log.debug("VAD refused an arriving frame of %d bytes: %s", len(pcm), exc)
            return
        self._verdicts.append((pcm, speech))
        if self._assistant_speaking:
            self._arrival_barge_in(speech, t_ms)

    def _verdict_given(self, pcm: bytes) -> bool | None:
        """The verdict given to ``pcm`` on its arrival, if it had one (a frame the jitter buffer
        made up for a lost packet had none); verdicts of frames never played are dropped."""
        for i, (heard, speech) in enumerate(self._verdicts):
            if heard is pcm:
                for _ in range(i + 1):
                    self._verdicts.popleft()
                return speech
        return None

    def _arrival_barge_in(self, speech: bool, t_ms: float) -> None:
        # Media time: packets that arrive together are consecutive frames, not one instant.
        t = max(t_ms, self._arrival_t + FRAME_MS)
        self._arrival_t = t
        self._barge_in_frame(speech, t)

    def on_tick(self, t_ms: float) -> None:
        if self._closed:
            return
        if (self._arrivals and self._assistant_speaking
                and t_ms - self._last_arrival_ms >= GAP_MS
                and t_ms - self._arrival_t >= FRAME_MS):
            self._arrival_barge_in(False, t_ms)  # the caller sends nothing: silence, as below
        if t_ms - self._last_frame_ms < GAP_MS:
            return
        self._process(False, t_ms, None, False)

    def on_partial_check(self, t_ms: float) -> None:
        """Pass the recogniser's latest partial to the barge-in detector (called per tick)."""
        if self._stream is not None and self._assistant_speaking:
            text = self._stream.partial()
            if text:
                for decision in self._barge_in.on_partial(text, t_ms):
                    self._on_barge_in(decision)

    # -- the state machine -----------------------------------------------------------------------

    def _barge_in_frame(self, speech: bool, t_ms: float) -> None:
        """One frame's verdict to barge-in, while the assistant speaks. Just after the caller's
        turn ended one frame of speech is enough: they went on, and the reply is taken back."""
        quick = FRAME_MS if t_ms - self._turn_ended_ms < TAKE_BACK_MS else None
        for decision in self._barge_in.process(speech, t_ms, start_ms=quick):
            self._on_barge_in(decision)

    def _process(self, speech: bool, t_ms: float, pcm: bytes | None, turn_speech: bool) -> None:
        """``speech``: the detector's verdict (barge-in's); ``turn_speech``: the end of turn's
        (also above the line's noise, when a margin is set)."""
        if self._assistant_speaking and not self._arrivals:
            self._barge_in_frame(speech, t_ms)
        decider = self._turn_end
        if decider is None:
            events: list[object] = list(self._endpointer.process(turn_speech, t_ms))
        else:
            if self._stream is not None:
                decider.partial(self._stream.partial())
            if self._syllables is not None:
                if pcm is not None:
                    self._syllables.feed(pcm, t_ms)
                if self._endpointer.in_turn:
                    decider.syllables(self._syllables.count_since(
                        self._endpointer.onset_ms - SYLLABLE_LEAD_MS))
            if self._pitch is not None and self._grammar is None:  # free speech
                # The tune up to this frame, as the plan judges the silence up to it: a pause's
                # plan is not changed by the frame that ends it.
                if self._endpointer.state is EndpointState.STOPPING:
                    decider.intonation(self._pitch.contour(
                        self._endpointer.onset_ms - SYLLABLE_LEAD_MS))
                if pcm is not None:
                    self._pitch.feed(pcm, t_ms)
            events = list(decider.process(turn_speech, t_ms))
        if pcm is not None and self._stream_task is not None:
            self._feed(pcm)
        for event in events:
            if isinstance(event, SpeechStarted):
                self._start_stream(pcm)
                self._on_speech_start(event.onset_ms)
            elif isinstance(event, SpeechEnded):
                self._turn_ended_ms = t_ms
                self._finish_stream(event.onset_ms, event.end_ms, t_ms, event.reason)
            elif isinstance(event, NoiseDiscarded):
                self._discard_stream()
            elif isinstance(event, LikelyEnd) and self._on_likely_end is not None:
                self._on_likely_end(event)
            elif isinstance(event, TurnResumed) and self._on_resumed is not None:
                self._on_resumed(event)
        if pcm is not None:
            self._pre_roll.append(pcm)

    def _start_stream(self, pcm: bytes | None) -> None:
        if self._stream_task is not None:
            return
        pending = list(self._pre_roll)
        if pcm is not None:  # the frame of the onset itself, with the pre-roll before it
            pending.append(pcm)
        self._pending = pending
        self._stream_task = asyncio.get_running_loop().create_task(self._open(pending))

    async def _open(self, pending: list[bytes]) -> SttStream:
        """Open the turn's stream and give it the turn's audio so far (``pending``, its own list:
        a busy recogniser may open it after the turn ended, or once the next one has begun)."""
        stream = await self._stt.open_stream(self._rate, self._grammar)
        for chunk in pending:
            stream.feed(chunk)
        pending.clear()
        if self._pending is pending:  # still the turn going on: its frames go straight in now
            self._stream = stream
        return stream

    def _feed(self, pcm: bytes) -> None:
        if self._stream is not None:
            self._stream.feed(pcm)
        else:
            self._pending.append(pcm)

    def _finish_stream(
        self, onset_ms: float, end_ms: float, detected_ms: float, reason: str
    ) -> None:
        task = self._stream_task
        self._stream_task = None
        self._stream = None
        self._pending = []  # the turn's own list stays with its stream's opening
        if task is None:
            return
        self._spawn(self._finish(task, onset_ms, end_ms, detected_ms, reason))

    async def _finish(
        self, task: asyncio.Task[SttStream], onset_ms: float, end_ms: float, detected_ms: float,
        reason: str,
    ) -> None:
        started = self._monotonic()
        try:
            async with asyncio.timeout(self._stt_timeout_s):
                stream = await task
                partial_seen = bool(stream.partial())
                transcript = await stream.finish()
        except TimeoutError:
            self._spawn(self._close_quietly(task))  # in the background, within a bound
            self._on_error(SpeechError(
                f"the {self._stt.name} recogniser gave no result within "
                f"{self._stt_timeout_s:g} s"
            ))
            return
        except (SpeechError, OSError) as exc:
            self._spawn(self._close_quietly(task))  # in the background, within a bound
            self._on_error(exc if isinstance(exc, SpeechError) else SpeechError(str(exc)))
            return
        self._spawn(self._close_quietly(task))
        stt_ms = (self._monotonic() - started) * 1000.0
        self._on_turn(
            CallerSpeech(
                text=transcript.text.strip(),
                confidence=transcript.confidence,
                onset_ms=onset_ms,
                end_ms=end_ms,
                detected_ms=detected_ms,
                stt_ms=stt_ms,
                partial_seen=partial_seen,
                end_reason=reason,
            )
        )

    def _discard_stream(self) -> None:
        task = self._stream_task
        self._stream_task = None
        self._stream = None
        self._pending = []
        if task is not None:
            self._spawn(self._close_quietly(task))

    async def _close_quietly(self, task: asyncio.Task[SttStream]) -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                stream = await task
                await stream.close()
        except (SpeechError, OSError, TimeoutError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and self._closing_task_cancelled():
                raise
            log.debug("closing a recognition stream failed: %r", exc)

    @staticmethod
    def _closing_task_cancelled() -> bool:
        """True when the running task itself is being cancelled (not just the awaited one)."""
        current = asyncio.current_task()
        return current is not None and current.cancelling() > 0

    def _spawn(self, coro: object) -> None:
        assert asyncio.iscoroutine(coro)
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._closed = True
        self._discard_stream()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
