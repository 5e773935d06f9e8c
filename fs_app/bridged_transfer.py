"""A flow's transfer to an endpoint (``Tech/resource``, e.g. ``user/200``,
``sofia/gateway/office/200``, ``loopback/200/default``; ``dial:`` in front is allowed): ring the
target from FreeSWITCH's inbound ESL, and when it answers bridge it with the caller; when it does
not, the caller stays with the assistant, which goes on with the flow's ``on_fail`` (as
ari_app/transfer.py does on Asterisk; the pipeline plays ringback meanwhile).

Ringing is ``bgapi originate {origination_uuid=<ours>,originate_timeout=<[calls]
transfer_ring_s>,...}<endpoint> &park()``: its outcomes were recorded on FreeSWITCH 1.10.12
(``+OK <uuid>`` once the target answers; ``-ERR USER_BUSY``, ``-ERR NO_ANSWER`` after the
timeout with both legs hung up, ``-ERR NO_ROUTE_DESTINATION``, ``-ERR CHAN_NOT_IMPLEMENTED``).
The bridge itself is ``uuid_bridge <caller> <target>``, which the recorded facts do **not** show
(no bridge was recorded): we rely on its documented ``+OK`` reply, and anything else is a failure
(the target is hung up, the caller stays). The caller then carries ``callwright_bridged_to``, so
recovery after our crash leaves them with the target.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from dataclasses import dataclass

from fs_app.esl import commands
from fs_app.esl.message import EslProtocolError
from fs_app.esl_client import EslClient
from fs_app.recovery import BRIDGED_VAR

log = logging.getLogger(__name__)

TRANSFER_VAR = "callwright_transfer_of"


def endpoint_of(target: str) -> str | None:
    """The endpoint of a bridged transfer (``Tech/resource``), None for a dialplan target."""
    text = target.strip()
    if text.startswith("dial:"):
        text = text[5:].strip()
    if "/" not in text or any(ch.isspace() for ch in text) or "{" in text:
        return None
    tech, _, resource = text.partition("/")
    return text if tech and resource else None


@dataclass(frozen=True, slots=True)
class BridgeResult:
    bridged: bool
    target_uuid: str
    #: Why not: the originate's cause (``USER_BUSY``, ``NO_ANSWER``...) or the bridge's reply.
    failure: str = ""


def originate_line(endpoint: str, target_uuid: str, *, ring_s: float, call_uid: str,
                   caller_number: str) -> str:
    variables = [("origination_uuid", target_uuid),
                 ("originate_timeout", str(max(1, round(ring_s)))),
                 (TRANSFER_VAR, call_uid)]
    if caller_number and caller_number.lstrip("+").isalnum():
        variables.append(("origination_caller_id_number", caller_number))
    return commands.originate_line(endpoint, variables)


async def ring(esl: EslClient, endpoint: str, *, ring_s: float, call_uid: str,
               caller_number: str) -> BridgeResult:
    """Ring ``endpoint`` until it answers (``bridged`` is still False then: see :func:`bridge`)
    or fails; a target that fails is hung up."""
    target = str(uuidlib.uuid4())
    try:
        line = originate_line(endpoint, target, ring_s=ring_s, call_uid=call_uid,
                              caller_number=caller_number)
    except EslProtocolError as exc:
        return BridgeResult(False, target, f"originate: {exc}")
    try:
        # FreeSWITCH ends the ringing itself at originate_timeout; a margin for the reply
        result = await esl.bgapi(line, within_s=ring_s + 10)
    except (EslProtocolError, TimeoutError) as exc:
        await kill_quietly(esl, target)
        return BridgeResult(False, target, f"originate: {exc or 'no result'}")
    except asyncio.CancelledError:
        await kill_quietly(esl, target)
        raise
    if not result.ok:
        return BridgeResult(False, target, result.text.strip().removeprefix("-ERR").strip())
    return BridgeResult(False, target)


async def bridge(esl: EslClient, caller_uuid: str, target_uuid: str) -> BridgeResult:
    """``uuid_bridge`` the caller with the answered target; on failure the target is hung up."""
    try:
        await esl.api(f"uuid_setvar {caller_uuid} {BRIDGED_VAR} {target_uuid}")
        reply = await esl.api(f"uuid_bridge {caller_uuid} {target_uuid}")
    except EslProtocolError as exc:
        reply = f"-ERR {exc}"
    if reply.startswith("+OK"):
        return BridgeResult(True, target_uuid)
    log.warning("uuid_bridge %s %s answered %s", caller_uuid, target_uuid, reply.strip())
    await kill_quietly(esl, target_uuid)
    try:
        await esl.api(f"uuid_setvar {caller_uuid} {BRIDGED_VAR}")  # unset: not bridged
    except EslProtocolError:
        pass  # the connection went: recovery reads the variable only on live channels
    return BridgeResult(False, target_uuid, f"bridge: {reply.strip()}")


async def kill_quietly(esl: EslClient, uuid: str) -> None:
    try:
        await esl.api(f"uuid_kill {uuid}")
    except EslProtocolError as exc:
        log.info("transfer leg %s: %s", uuid, exc)
