"""One leg of a simulated call: its identity, variables and state, as events carry them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

#: Channel-State-Number of each state (FreeSWITCH's switch_channel_state_t).
STATE_NUMBERS = {
    "CS_NEW": "0", "CS_INIT": "1", "CS_ROUTING": "2", "CS_SOFT_EXECUTE": "3", "CS_EXECUTE": "4",
    "CS_EXCHANGE_MEDIA": "5", "CS_PARK": "6", "CS_CONSUME_MEDIA": "7", "CS_HIBERNATE": "8",
    "CS_RESET": "9", "CS_HANGUP": "10", "CS_REPORTING": "11", "CS_DESTROY": "12",
}
#: Q.850 codes of the hang-up causes the simulator uses.
Q850 = {
    "NORMAL_CLEARING": "16", "USER_BUSY": "17", "NO_ANSWER": "19", "CALL_REJECTED": "21",
    "DESTINATION_OUT_OF_ORDER": "27", "NO_ROUTE_DESTINATION": "3", "ORIGINATOR_CANCEL": "487",
    "MANAGER_REQUEST": "503", "NORMAL_TEMPORARY_FAILURE": "41", "UNALLOCATED_NUMBER": "1",
}


def now_us() -> int:
    return int(time.time() * 1_000_000)


@dataclass
class Channel:
    uuid: str
    name: str
    leg: str  # "A" (the caller's loopback leg) or "B" (the leg running the dialplan)
    caller_id_number: str
    caller_id_name: str
    destination: str
    context: str = "default"
    rate: int = 8000
    variables: dict[str, str] = field(default_factory=dict)
    state: str = "CS_EXECUTE"
    call_state: str = "RINGING"
    answer_state: str = "ringing"
    hangup_cause: str | None = None
    created_us: int = field(default_factory=now_us)
    answered_us: int = 0
    hangup_us: int = 0
    peer: Channel | None = None

    @property
    def alive(self) -> bool:
        return self.hangup_cause is None

    def headers(self) -> list[tuple[str, str]]:
        """The channel's headers of an event about it, in FreeSWITCH's order, variables last."""
        codec = [("Channel-Read-Codec-Name", "L16"), ("Channel-Read-Codec-Rate", str(self.rate)),
                 ("Channel-Read-Codec-Bit-Rate", str(self.rate * 16)),
                 ("Channel-Write-Codec-Name", "L16"), ("Channel-Write-Codec-Rate", str(self.rate)),
                 ("Channel-Write-Codec-Bit-Rate", str(self.rate * 16))]
        out = [
            ("Channel-State", self.state),
            ("Channel-Call-State", self.call_state),
            ("Channel-State-Number", STATE_NUMBERS[self.state]),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", "inbound"),
            ("Presence-Call-Direction", "inbound"),
            ("Channel-HIT-Dialplan", "true"),
            ("Channel-Call-UUID", self.uuid),
            ("Answer-State", self.answer_state),
            *codec,
            ("Caller-Direction", "inbound"),
            ("Caller-Logical-Direction", "inbound"),
            ("Caller-Dialplan", "xml"),
            ("Caller-Caller-ID-Name", self.caller_id_name),
            ("Caller-Caller-ID-Number", self.caller_id_number),
            ("Caller-Orig-Caller-ID-Name", self.caller_id_name),
            ("Caller-Orig-Caller-ID-Number", self.caller_id_number),
            ("Caller-ANI", self.caller_id_number),
            ("Caller-Destination-Number", self.destination),
            ("Caller-Unique-ID", self.uuid),
            ("Caller-Source", "mod_loopback"),
            ("Caller-Context", self.context),
            ("Caller-Channel-Name", self.name),
            ("Caller-Profile-Index", "1"),
            ("Caller-Profile-Created-Time", str(self.created_us)),
            ("Caller-Channel-Created-Time", str(self.created_us)),
            ("Caller-Channel-Answered-Time", str(self.answered_us)),
            ("Caller-Channel-Hangup-Time", str(self.hangup_us)),
        ]
        if self.hangup_cause is not None:
            out.insert(10, ("Hangup-Cause", self.hangup_cause))
        out.extend((f"variable_{name}", value) for name, value in self.variables.items())
        return out

    def getvar(self, name: str) -> str | None:
        """A variable as ``uuid_getvar`` reads it (the caller ID too, as FreeSWITCH resolves it)."""
        if name in self.variables:
            return self.variables[name]
        return {"caller_id_number": self.caller_id_number,
                "caller_id_name": self.caller_id_name,
                "destination_number": self.destination,
                "uuid": self.uuid, "channel_name": self.name}.get(name)

    def answer(self) -> None:
        self.answer_state = "answered"
        self.call_state = "ACTIVE"
        self.answered_us = now_us()

    def hang_up(self, cause: str) -> None:
        self.hangup_cause = cause
        self.hangup_us = now_us()
        self.answer_state = "hangup"
        self.call_state = "HANGUP"
        self.state = "CS_HANGUP"
        self.variables["hangup_cause"] = cause
        self.variables["hangup_cause_q850"] = Q850.get(cause, "0")
