"""The call's clocks that end a wait: no input, the longest call, and a caller gone silent.

Pure logic, ticked by the pipeline's clock hook with the time (ms since the call began) and
whether either side is talking; it says which events to post, and the pipeline posts them.
"""

from __future__ import annotations

from callwright.call.outcome import CallOutcome
from callwright.call.pipeline_events import End, Event, NoInput
from callwright.dialog.actions import Listen


class CallTimers:
    """When the dialog's :class:`Listen` has waited too long for the caller (no input), the call
    has lasted ``max_call_s``, or nobody has spoken for ``silence_hangup_s`` (0: never)."""

    def __init__(self, *, max_call_s: float, silence_hangup_s: float) -> None:
        self._max_call_s = max_call_s
        self._silence_hangup_s = silence_hangup_s
        self._listening_since: float | None = None
        self._last_activity_ms = 0.0

    def listening(self, now_ms: float) -> None:
        """The reply is over: the no-input wait starts now."""
        self._listening_since = now_ms

    def not_listening(self) -> None:
        """A reply starts, or the caller speaks: no no-input wait."""
        self._listening_since = None

    def activity(self, now_ms: float) -> None:
        """The caller began to speak: the silence wait starts again."""
        self._last_activity_ms = now_ms

    def tick(
        self, t: float, *, listen: Listen | None, speaking: bool, in_speech: bool,
    ) -> list[Event]:
        """The events due at ``t`` (ms): the assistant is ``speaking``, the caller ``in_speech``."""
        due: list[Event] = []
        if (
            listen is not None
            and self._listening_since is not None
            and not speaking
            and not in_speech
            and t - self._listening_since > listen.no_input_s * 1000.0
        ):
            self._listening_since = None
            due.append(NoInput())
        if t > self._max_call_s * 1000.0:
            due.append(End(CallOutcome("completed", "max_duration"), drain=True))
        silence_s = self._silence_hangup_s
        if speaking or in_speech:
            self._last_activity_ms = t
        elif silence_s > 0 and t - self._last_activity_ms > silence_s * 1000.0:
            self._last_activity_ms = t  # post once
            due.append(End(CallOutcome("completed", "caller_silent")))
        return due
