"""The hang-up or transfer a reply ends with: committed once the dialog yields it.

The rule (a production PBX must never leave a caller connected to silence): a :class:`Hangup` or
:class:`Transfer` the dialog has yielded is a decision made, and the caller talking over the words
before it does not undo it. Barge-in stops the audio and the reply is journalled as interrupted,
with what was heard, as usual; the dialog is not asked for another reply (the flow or the LLM has
ended). The caller's words are still heard: the step waits until their turn is recognised and
journalled (or their keys, or a recognition failure), at most :data:`CALLER_HOLD_S`, then the call
is hung up (outcome and reason as if the goodbye had played to its end) or transferred.

A reply cut before the dialog yielded its terminal action (its words still being synthesised or
streamed) is the dialog's to settle, and neither engine leaves the call open: a flow that has
decided to end (a hang-up or transfer node, its own goodbyes) gives the step on the caller's next
turn or silence (``FlowEngine``); the LLM engine yields ``end_call``/``transfer_call`` once the
model's answer is complete and its tool run, so a tool call cut before that is answered
"interrupted" in the history and the model answers the caller's words (and may end the call
again); its own goodbye and fallback line mark it ended only with the step.
"""

from __future__ import annotations

import asyncio
import contextlib

from callwright.dialog.actions import Hangup, Transfer

#: Longest wait, after barge-in over the words before a hang-up or transfer, for the caller's
#: turn to be recognised before the step is taken anyway.
CALLER_HOLD_S = 4.0

#: Why a reply is stopped when the call itself is ending: the pending step is dropped with it.
CALL_ENDING = frozenset({"call_ended", "finish"})


class TerminalStep:
    """One reply's terminal step (None until the dialog yields one) and what cut its words."""

    def __init__(self, hold_s: float = CALLER_HOLD_S) -> None:
        self.action: Hangup | Transfer | None = None
        #: The words before the step were cut by the caller (journalled then, not again).
        self.interrupted = False
        #: The step is being carried out (the transfer rings): nothing left to cut.
        self.started = False
        self._hold_s = hold_s
        self._caller_done = asyncio.Event()

    @property
    def committed(self) -> bool:
        return self.action is not None

    def commit(self, action: Hangup | Transfer) -> None:
        self.action = action

    def spares(self, why: str) -> bool:
        """Whether stopping the reply for ``why`` must leave the committed step to run."""
        return self.committed and why not in CALL_ENDING

    def caller_done(self) -> None:
        """The caller's words after barge-in were heard (a turn, keys or a failed recognition)."""
        self._caller_done.set()

    async def hold(self) -> None:
        """Before the step: when the caller cut the words, wait (bounded) for their turn."""
        if self.interrupted:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._caller_done.wait(), self._hold_s)
        self.started = True
