"""The far ends of outbound calls on the simulated FreeSWITCH: what a destination does when an
``originate`` dials it (``sim.set_destination("+15550100199", Destination("busy"))``), the
FreeSWITCH counterpart of the PBX simulator's ``/_sim/destinations``.

A destination is played as the extension a loopback B leg runs, built from the recorded ones
(README of the facts, "Dialplan used"; esl-inbound-auth-errors.jsonl,
esl-inbound-sendmsg-answer.jsonl), so ``originate`` answers as FreeSWITCH 1.10.12 did:

* ``answer``: ``answer`` then ``park`` (ext ``park``), after ``ring_s`` of ``ring_ready`` +
  ``sleep`` when it rings first (ext ``ring``): ``+OK <uuid>`` once it answers;
* ``busy``: ``hangup USER_BUSY`` (ext ``busy``): ``-ERR USER_BUSY``;
* ``no_answer``: ``ring_ready`` + a long ``sleep`` (ext ``ring``): ``-ERR NO_ANSWER`` at the
  originate's ``originate_timeout``, both legs hung up ``NO_ANSWER``;
* ``rejected``, ``unallocated``, ``congestion``: ``hangup`` with ``CALL_REJECTED``,
  ``UNALLOCATED_NUMBER``, ``NORMAL_CIRCUIT_CONGESTION``: ``-ERR <cause>``. Only USER_BUSY was
  recorded this way; the other causes are the same mechanism (the B leg hangs up first and the
  originate fails with its cause), not recorded replies.

The person (or machine) who answers is a :class:`SimulatedCaller` made by ``callee``: they hear
what the channel we serve writes and what they say reaches our fork.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ari_app.simulator.caller import SimulatedCaller

#: outcome -> the cause the far end hangs up with (None: it does not hang up by itself).
OUTCOMES: dict[str, str | None] = {
    "answer": None, "no_answer": None, "busy": "USER_BUSY", "rejected": "CALL_REJECTED",
    "unallocated": "UNALLOCATED_NUMBER", "congestion": "NORMAL_CIRCUIT_CONGESTION",
}
#: How long a ``no_answer`` destination rings (ms): longer than any originate_timeout we use.
RING_FOR_EVER_MS = 3_600_000

Action = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Destination:
    outcome: str = "answer"
    #: Seconds of ringing before the far end answers or hangs up (``answer``/``busy``...).
    ring_s: float = 0.0
    #: Who answers (a new SimulatedCaller per call unless the test hands its own).
    callee: Callable[[], SimulatedCaller] = field(default=SimulatedCaller)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if not (math.isfinite(self.ring_s) and self.ring_s >= 0):
            raise ValueError("ring_s must be a number >= 0")

    def actions(self) -> list[Action]:
        """The extension the B leg runs for this destination."""
        if self.outcome == "no_answer":
            return [("ring_ready", ""), ("sleep", str(RING_FOR_EVER_MS))]
        ring = [("ring_ready", ""), ("sleep", str(round(self.ring_s * 1000)))] \
            if self.ring_s > 0 else []
        cause = OUTCOMES[self.outcome]
        if cause is not None:
            return [*ring, ("hangup", cause)]
        return [*ring, ("answer", ""), ("park", "")]
