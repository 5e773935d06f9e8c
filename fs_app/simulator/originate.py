"""``originate`` on the simulated FreeSWITCH: a loopback pair whose B leg runs the extension and
whose A leg runs the given application once B answers, with the outcomes observed
(esl-inbound-auth-errors.jsonl, esl-inbound-sendmsg-answer.jsonl): ``+OK <A uuid>`` when B
answers, ``-ERR USER_BUSY`` (B hung up first, with that cause), ``-ERR NO_ROUTE_DESTINATION``
(no such extension), ``-ERR NO_ANSWER`` (``originate_timeout`` passed; both legs hang up so),
``-ERR CHAN_NOT_IMPLEMENTED`` (not a loopback endpoint).

A number given a destination (fs_app.simulator.destinations) is dialled as that far end: the
person is behind the B leg, the A leg (our ``origination_uuid``) runs the application once B
answers, and any other outcome fails the originate with the far end's cause."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from ari_app.simulator.caller import SimulatedCaller

if TYPE_CHECKING:
    from fs_app.simulator.server import FreeswitchSimulator

DEFAULT_TIMEOUT_S = 60.0
_SPEC = re.compile(r"^(?:\{(?P<vars>[^}]*)\})?(?P<endpoint>\S+)\s*(?P<app>.*)$")
_APP = re.compile(r"^&(?P<name>\w+)\((?P<arg>.*)\)$")


def parse_variables(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        name, eq, value = part.partition("=")
        if eq and name.strip():
            out[name.strip()] = value.strip()
    return out


async def originate(sim: FreeswitchSimulator, spec: str) -> str:
    match = _SPEC.match(spec.strip())
    if match is None:
        return "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] " \
               "[<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"
    variables = parse_variables(match["vars"] or "")
    parts = match["endpoint"].split("/")
    if parts[0] != "loopback" or len(parts) < 2:
        return "-ERR CHAN_NOT_IMPLEMENTED\n"
    extension = parts[1]
    if sim.actions_for(extension) is None:
        return "-ERR NO_ROUTE_DESTINATION\n"
    destination = sim.destinations.get(extension)
    call = sim.place_call(
        extension, destination.callee() if destination is not None else SimulatedCaller(),
        number=variables.get("origination_caller_id_number", "0000000000"),
        name=variables.get("origination_caller_id_name", "FreeSWITCH"),
        a_uuid=variables.get("origination_uuid"), outbound=destination is not None,
    )
    a, b = call.a.channel, call.b.channel
    # the {name=value} list becomes channel variables of the originated (A) leg
    a.variables.update({k: v for k, v in variables.items() if k != "originate_timeout"})
    timeout = float(variables.get("originate_timeout", DEFAULT_TIMEOUT_S))
    deadline = asyncio.get_running_loop().time() + timeout
    while b.alive and b.answer_state != "answered":
        if asyncio.get_running_loop().time() > deadline:
            sim.hang_up(b, "NO_ANSWER", peer_cause="NO_ANSWER")
            return "-ERR NO_ANSWER\n"
        await asyncio.sleep(0.02)
    if not b.alive:
        return f"-ERR {b.hangup_cause}\n"
    app = _APP.match(match["app"].strip())
    if app is not None and app["name"] == "hangup":
        cause = app["arg"] or "NORMAL_CLEARING"
        sim.hang_up(a, cause, peer_cause=cause)
    elif app is not None and destination is not None:
        # A dialled destination's A leg runs its application (``&park()``: parked until
        # uuid_transfer sends it on, e.g. to our socket extension), as FreeSWITCH does.
        call.a.task = asyncio.get_running_loop().create_task(
            call.a.run(first=[(app["name"], app["arg"])]))
    return f"+OK {a.uuid}\n"
