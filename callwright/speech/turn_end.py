"""End of turn that knows what it is waiting for.

The plain :class:`~callwright.speech.endpointing.Endpointer` ends a turn after a fixed silence
(``end_silence_ms``, 600 ms by default). A person answers after about 200 ms because they know
when the other has finished: a yes/no question is answered by "yes", a phone number is finished
at its last digit. :class:`TurnEndDecider` gives the endpointer that knowledge, one frame at a
time, with no clock of its own (everything is fed with its call time):

- :class:`~callwright.speech.answers.Expectation` says what the turn should hold: a closed answer
  (the grammar's phrases), a digit string (with its length when known) or free speech, and
  :func:`~callwright.speech.answers.completeness` how much of it the partial holds.
- The recogniser's partial result is fed in (:meth:`TurnEndDecider.partial`); from it the decider
  asks for a short silence (``complete_silence_ms``) once the expected answer is complete, the
  full silence (the backstop, ``end_silence_ms``) before any word is recognised (for a closed
  answer ``closed_silence_ms``, as the partial lags the audio), a longer hold
  (``unfinished_silence_ms``) while it is plainly unfinished (a grammar phrase cut short, a
  digit string short of its length, a trailing hesitation or connective), or
  something in between for free speech (``free_silence_ms``).
- A Korean digit string is counted in syllables heard (:meth:`TurnEndDecider.syllables`, from a
  :class:`~callwright.speech.syllables.SyllableCounter`), one per digit, as the recogniser's words
  on the telephone band miscount them. In other languages a digit word can be longer ("seven"),
  so the syllables only bound the digits said: fewer syllables than the digits asked for is an
  unfinished answer, whatever the recogniser made of them (a phone number read in groups is not
  cut at its first pause when the recogniser heard nothing useful).
- For free speech the tune of the caller's last words is fed in (:meth:`TurnEndDecider.intonation`,
  from a :class:`~callwright.speech.intonation.PitchTracker`): a voice that ended rising goes on
  ("저는, ...", "I'd like to, ...") and is held ``continuing_silence_ms``, past the pauses of
  300-800 ms people make inside a sentence; one that ended falling to the bottom of the caller's
  range has finished a statement, and a short silence ends it (``final_silence_ms``). The words
  cannot tell these apart when the recogniser gets the verb ending wrong, as Vosk's Korean often
  does on the telephone band.
- :class:`CallerPace` learns how long this caller pauses: a pause inside a turn where it could
  have ended and the caller went on, or a turn ended that the caller went on from within
  ``RESUME_MS``; the silence for open answers (free speech, digits of unknown length) is raised
  to match, up to the backstop.
- An eager end (:class:`LikelyEnd`) is announced once the silence reaches ``eager_silence_ms``
  with the answer complete or possibly so (:data:`EAGER_REASONS`), and again when the partial
  changes in that silence: the caller of the decider may start preparing the reply, holding its
  audio until the :class:`~callwright.speech.endpointing.SpeechEnded` confirms it; a
  :class:`TurnResumed` says the caller went on, and the prepared reply is to be dropped.

Every decision (:class:`SilencePlan`) carries its reason, so the journal and the bench can say why
a turn ended when it did.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from callwright.errors import ConfigError
from callwright.speech.answers import (
    AnswerKind,
    Completeness,
    Expectation,
    completeness,
    words_of,
)
from callwright.speech.endpointing import (
    Endpointer,
    EndpointEvent,
    EndpointState,
    SpeechEnded,
    SpeechStarted,
)
from callwright.speech.intonation import Contour

#: The ends of turn an assistant can choose (its ``media.turn_end``): "smart" (a
#: :class:`TurnEndDecider` with the caller's intonation), "words" (without it), "fixed" (the
#: endpointer's fixed silence alone).
TURN_END_KINDS = ("smart", "words", "fixed")

#: Speech starting again this soon after a turn ended means the end was premature.
RESUME_MS = 1500.0


@dataclass(frozen=True, slots=True)
class TurnEndConfig:
    """Silences (ms) that end a turn, by how complete the answer is; the backstop is the
    endpointer's ``end_silence_ms``."""

    complete_silence_ms: float = 160.0
    #: A closed answer (yes/no, a choice) not (yet) matched in the partial: the recogniser's
    #: partial lags the audio by up to ~300 ms (Vosk refreshes it every 240 ms of audio), and
    #: such answers are a word or two, said without pauses inside.
    closed_silence_ms: float = 250.0
    free_silence_ms: float = 360.0
    #: Free speech whose voice ended falling, as a statement does (see :meth:`TurnEndDecider.
    #: intonation`); raised to the caller's pace like the rest.
    final_silence_ms: float = 200.0
    #: Free speech whose voice ended rising, as before a pause in a sentence that goes on; longer
    #: than the backstop, like ``unfinished_silence_ms``, as such pauses reach 800 ms. A question
    #: ends rising too, and waits this long.
    continuing_silence_ms: float = 800.0
    #: Whether free speech's end follows the caller's intonation (off: words and silence only).
    intonation: bool = True
    open_digits_silence_ms: float = 450.0
    #: Hold for a plainly unfinished answer (a digit string short of its known length, a trailing
    #: "um" or "to"): longer than the backstop, as groups of a phone number are read with pauses
    #: of up to 800 ms, and so is "I'd like to ... book a table".
    unfinished_silence_ms: float = 1000.0
    eager_silence_ms: float = 120.0
    #: A pause inside a turn longer than this is taken as the caller's pace (shorter ones are
    #: the gaps between words).
    pace_min_pause_ms: float = 200.0
    #: The silence for open answers is at least the caller's long pauses times this.
    pace_factor: float = 1.25
    pace_memory: int = 8
    #: The end of a closed answer's turn (a grammar: yes/no, a choice, digits) hears a frame as
    #: speech only when it is also this much louder than the line's own noise
    #: (:class:`~callwright.speech.vad.NoiseMargin`; None: off). Under steady hiss the voice
    #: detectors go on calling the noise after the words speech for 40-150 ms, and every
    #: end-of-turn silence would be counted from there; a closed answer's end is confirmed by
    #: its match, so that wait buys nothing (bench.turn_decisions, Korean closed answers: p50/p95
    #: 219/369 -> 145/281 ms). Free speech hears the margin too when its ``intonation`` is
    #: followed; without it, it keeps the detector's verdict, as the hangover also bridges a
    #: short pause and with the margin a paused sentence under noise was cut. Barge-in is not
    #: affected (see :class:`~callwright.call.listener.CallerListener`).
    noise_margin_db: float | None = 6.0

    def __post_init__(self) -> None:
        for name in ("complete_silence_ms", "closed_silence_ms", "free_silence_ms",
                     "final_silence_ms", "continuing_silence_ms", "open_digits_silence_ms",
                     "unfinished_silence_ms", "eager_silence_ms", "pace_min_pause_ms"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"turn_end.{name}", "a duration > 0 ms", getattr(self, name))
        if self.pace_factor < 1.0:
            raise ConfigError("turn_end.pace_factor", "a factor ≥ 1", self.pace_factor)
        if self.pace_memory < 1:
            raise ConfigError("turn_end.pace_memory", "at least 1", self.pace_memory)
        if self.noise_margin_db is not None and not 0.0 <= self.noise_margin_db <= 30.0:
            raise ConfigError("turn_end.noise_margin_db", "a margin from 0 to 30 dB or none",
                              self.noise_margin_db)


class CallerPace:
    """The caller's long pauses inside turns (those followed by more speech), most recent kept."""

    def __init__(self, memory: int = 8) -> None:
        self._pauses: deque[float] = deque(maxlen=memory)

    def pause(self, ms: float) -> None:
        self._pauses.append(ms)

    @property
    def longest(self) -> float:
        """The longest remembered pause (0 when none)."""
        return max(self._pauses, default=0.0)

    def __len__(self) -> int:
        return len(self._pauses)


@dataclass(frozen=True, slots=True)
class SilencePlan:
    silence_ms: float
    #: "complete", "closed", "free", "final", "open", "paced", "short", "continuing",
    #: "unfinished", "nothing"
    reason: str


#: The plans after which a silence of ``eager_silence_ms`` is a likely end: the answer is complete
#: or may be (free speech, digits of unknown length, one word of free speech); not while nothing
#: is recognised, a closed answer is not in the partial, or the answer is plainly unfinished.
EAGER_REASONS = frozenset({"complete", "final", "free", "open", "paced", "short"})

#: The plans that hold a turn through a pause because it is plainly going on: a pause the caller
#: makes there says nothing of their pace.
HOLD_REASONS = frozenset({"unfinished", "continuing"})


@dataclass(frozen=True, slots=True)
class LikelyEnd:
    """The answer looks complete and the caller has been quiet ``eager_silence_ms``: prepare
    the reply, hold its audio until the turn's SpeechEnded."""

    onset_ms: float
    end_ms: float
    partial: str
    at_ms: float


@dataclass(frozen=True, slots=True)
class TurnResumed:
    """The caller went on after a :class:`LikelyEnd`: drop what was prepared."""

    at_ms: float


TurnEvent = EndpointEvent | LikelyEnd | TurnResumed


class TurnEndDecider:
    """One call's end-of-turn decisions. Feed every frame's VAD verdict (:meth:`process`) and
    each new partial result (:meth:`partial`); set what the next turn expects with
    :meth:`expect`. Returns the endpointer's events plus :class:`LikelyEnd` and
    :class:`TurnResumed`. ``SpeechEnded.reason`` says which silence ended the turn."""

    def __init__(
        self, endpointer: Endpointer, config: TurnEndConfig | None = None,
        expectation: Expectation | None = None, *, eager: bool = True,
    ) -> None:
        self.endpointer = endpointer
        self.config = config or TurnEndConfig()
        self.expectation = expectation or Expectation.free()
        self.eager = eager
        self.pace = CallerPace(self.config.pace_memory)
        self._partial = ""
        self._syllables: int | None = None
        self._contour = Contour.UNKNOWN
        self._state_was = endpointer.state
        self._silence_from: float | None = None
        self._likely_sent = False
        self._likely_partial = ""  # the partial the last LikelyEnd carried
        self._last_end: float | None = None  # end of the speech of the last turn

    @property
    def backstop_ms(self) -> float:
        return self.endpointer.config.end_silence_ms

    def expect(self, expectation: Expectation) -> None:
        self.expectation = expectation

    def partial(self, text: str) -> None:
        """The recogniser's latest partial for the turn in progress."""
        self._partial = text

    def syllables(self, count: int | None) -> None:
        """The syllables heard in the turn in progress so far (None: not counted)."""
        self._syllables = count

    def intonation(self, contour: Contour) -> None:
        """The tune at the end of the turn's voiced sound so far (free speech)."""
        self._contour = contour

    def plan(self) -> SilencePlan:
        """The silence that ends the turn now, given the partial and the caller's pace."""
        cfg = self.config
        backstop = self.backstop_ms
        state = completeness(self.expectation, self._partial, self._syllables)
        paced = self.pace.longest * cfg.pace_factor
        free = self.expectation.kind is AnswerKind.FREE
        tune = self._contour if free and cfg.intonation else Contour.UNKNOWN
        if state is Completeness.UNFINISHED:
            return SilencePlan(max(cfg.unfinished_silence_ms, backstop), "unfinished")
        if tune is Contour.RISING:
            # Before a sentence's end-word check: the recogniser's last syllable is often wrong.
            return SilencePlan(max(cfg.continuing_silence_ms, backstop), "continuing")
        if state is Completeness.COMPLETE:
            return SilencePlan(min(cfg.complete_silence_ms, backstop), "complete")
        if self.expectation.kind is AnswerKind.CLOSED:
            return SilencePlan(min(max(cfg.closed_silence_ms, paced), backstop), "closed")
        if state is Completeness.NOTHING:
            return SilencePlan(backstop, "nothing")
        if free and len(words_of(self._partial)) < 2:
            # One word of free speech is more often the start of a sentence ("I ...", "저는")
            # than the whole answer: the full silence.
            return SilencePlan(backstop, "short")
        if tune is Contour.FALLING:
            if paced > cfg.final_silence_ms:
                return SilencePlan(min(paced, backstop), "paced")
            return SilencePlan(cfg.final_silence_ms, "final")
        base = (cfg.open_digits_silence_ms if self.expectation.kind is AnswerKind.DIGITS
                else cfg.free_silence_ms)
        if paced > base:
            return SilencePlan(min(paced, backstop), "paced")
        return SilencePlan(base, "free" if self.expectation.kind is AnswerKind.FREE else "open")

    def process(self, is_speech: bool, t_ms: float) -> list[TurnEvent]:
        """Feed the verdict for the frame starting at ``t_ms``."""
        ep = self.endpointer
        plan = self.plan() if ep.state is EndpointState.STOPPING else None
        events: list[TurnEvent] = list(
            ep.process(is_speech, t_ms, end_silence_ms=plan.silence_ms if plan else None)
        )
        end = t_ms + ep.frame_ms
        state = ep.state
        if self._state_was is EndpointState.STOPPING and state is EndpointState.SPEAKING:
            # A pause where the turn could have ended (not after "um" or half a number) that the
            # caller then went on from tells how long this caller pauses; not one before any
            # syllable was heard (what came before it was a click or the line's noise starting).
            if (self._silence_from is not None and plan is not None
                    and plan.reason not in HOLD_REASONS and self._syllables != 0):
                self._learn(t_ms - self._silence_from)
            if self._likely_sent:
                events.append(TurnResumed(end))
            self._likely_sent = False
            self._silence_from = None
        if state is EndpointState.STOPPING and self._state_was is not EndpointState.STOPPING:
            self._silence_from = t_ms
        for event in events:
            if isinstance(event, SpeechStarted):
                self._partial = ""
                self._syllables = None
                self._contour = Contour.UNKNOWN
                self._likely_sent = False
                # Speaking again soon after a turn ended: the end came too early (a cut-off).
                if self._last_end is not None and event.onset_ms - self._last_end < RESUME_MS:
                    self._learn(event.onset_ms - self._last_end)
                self._last_end = None
        for i, event in enumerate(events):
            if isinstance(event, SpeechEnded):
                self._last_end = None if event.forced else event.end_ms
                reason = "forced" if event.forced else (plan.reason if plan else "backstop")
                events[i] = SpeechEnded(event.onset_ms, event.end_ms, event.forced, event.at_ms,
                                        reason)
        if any(isinstance(e, SpeechEnded) for e in events) or state is EndpointState.QUIET:
            self._silence_from = None
            self._likely_sent = False
        elif (
            self.eager and plan is not None
            and (not self._likely_sent or self._partial != self._likely_partial)
            and state is EndpointState.STOPPING and self._silence_from is not None
            and plan.reason in EAGER_REASONS
            and end - self._silence_from >= self.config.eager_silence_ms
        ):
            self._likely_sent = True
            self._likely_partial = self._partial
            events.append(LikelyEnd(ep.onset_ms, self._silence_from, self._partial, end))
        self._state_was = state
        return events

    def _learn(self, pause_ms: float) -> None:
        if pause_ms >= self.config.pace_min_pause_ms:
            self.pace.pause(pause_ms)

    def finish(self, t_ms: float) -> list[TurnEvent]:
        """End a turn in progress at ``t_ms`` (see :meth:`Endpointer.finish`)."""
        self._silence_from = None
        self._likely_sent = False
        events: list[TurnEvent] = list(self.endpointer.finish(t_ms))
        self._state_was = self.endpointer.state
        return events

    def reset(self) -> None:
        self.endpointer.reset()
        self._state_was = self.endpointer.state
        self._silence_from = None
        self._likely_sent = False
        self._partial = ""
        self._syllables = None
        self._contour = Contour.UNKNOWN
