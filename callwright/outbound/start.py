"""What a call session (any PBX's) needs to run an answered outbound call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from callwright.media.transport import MediaTransport
from callwright.outbound.answered import DialogFactory
from callwright.privacy.call_privacy import CallPrivacy
from callwright.store.assistants import Assistant
from callwright.store.calls import Call

#: Listens to the callee before anyone speaks; True when an answering machine answered.
Screen = Callable[[MediaTransport], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class OutboundStart:
    """The calls row made when dialing began, the assistant (its greeting filled with the
    call's variables), the variables (the flow's first slots), how to build the dialog, the
    screening for answering machines when the dialplan does none, and the callee's restrictions
    (looked up when dialing began: the callee's number is the "caller number" they are kept
    under), honoured as for an inbound caller: recording, consent notice, turns, storage."""

    call: Call
    assistant: Assistant
    variables: dict[str, str]
    dialog: DialogFactory
    #: Our own answering-machine detection ([outbound] amd = "audio"), or None.
    screen: Screen | None = None
    #: A machine is hung up on (on_machine = "hangup") rather than talked to.
    hang_up_on_machine: bool = False
    #: The callee's restrictions (callwright.privacy.call_privacy.caller_privacy); None: none
    #: looked up.
    privacy: CallPrivacy | None = None
