"""Our calls still alive in FreeSWITCH after our own crash or restart, and what becomes of them.

**What the facts say.** A call we take comes on the dialplan's ``socket`` app (ESL outbound).
When our end of that socket closes while the call is up, which is what a crash does, FreeSWITCH
hangs the channel up at once (``NORMAL_CLEARING``, ~20 ms, its peer too: esl-outbound.jsonl,
scenario 4, ``show channels`` then empty); the actions after ``socket`` in the dialplan do not run
(they run only when the socket could not be opened). So a call that was talking to the
assistant does **not** outlive us: its row is closed ``failed/server_restart`` at the next start,
and nothing can be resumed. What can outlive us is a caller who had left our socket: one we had
bridged to a transfer target (:mod:`fs_app.bridged_transfer`), or one an operator's set-up keeps
(a ``resume`` on the socket, or a socket closed before FreeSWITCH noticed: neither is in the
recorded facts).

**How we find them.** Each channel we take carries the channel variables ``callwright_node`` (the
node that took it) and ``callwright_call_uid`` (its call row), set with ``uuid_setvar`` when the
call is taken; a caller we bridge also carries ``callwright_bridged_to`` (the target's uuid). At
each login of the inbound ESL client (start-up, and after FreeSWITCH comes back) the sweep lists
the channels (``show channels as json``) and reads those variables (``uuid_getvar``; an unset one
reads ``_undef_``), skipping the channels a session of ours still holds.

**What is done** (the lifecycle rules of the ARI path, ari_app/recovery.py):

* a caller bridged to a transfer target stays with them: the row becomes ``transferred``
  (``bridged: left to the PBX (recovered)``);
* otherwise the assistant's ``on_recovery``: ``resume`` sends the channel back to the number
  dialled (``uuid_transfer <uuid> <number> XML <context>``), so the dialplan's ``socket`` hands
  it to us again and the session continues the row from the journal with the "lost you" line
  (:func:`resumed_call`); ``dialplan`` transfers it to the assistant's ``recovery_target``, else
  ``[calls] fallback_target`` (hung up when there is none); ``hangup`` hangs it up (there is no
  media left to apologise with). A number without an assistant any more is ``dialplan``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from callwright.call.resume import JournalledCall, resume_point
from callwright.store.calls import Call
from callwright.store.recovery import END_REASON, NODE_LOST
from fs_app.services import FsServices

log = logging.getLogger(__name__)

NODE_VAR = "callwright_node"
CALL_VAR = "callwright_call_uid"
BRIDGED_VAR = "callwright_bridged_to"
#: What ``uuid_getvar`` answers for a variable that is not set (as observed).
UNSET = "_undef_"

Api = Callable[[str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class OurChannel:
    uuid: str
    call_uid: str
    destination: str
    context: str
    bridged_to: str = ""


@dataclass(frozen=True, slots=True)
class Recovered:
    uuid: str
    call_uid: str
    action: str  # "resume", "dialplan", "hangup", "bridged" or "none" (no row)
    detail: str = ""


def listed_channels(text: str) -> list[dict[str, str]]:
    """The rows of ``show channels as json`` (``{"row_count": 0}`` when there are none)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        log.error("show channels as json answered something else: %r", text[:200])
        return []
    rows = data.get("rows", []) if isinstance(data, dict) else []
    return [{str(k): str(v) for k, v in row.items()} for row in rows if isinstance(row, dict)]


async def variable(api: Api, uuid: str, name: str) -> str:
    value = await api(f"uuid_getvar {uuid} {name}")
    return "" if value in (UNSET, "") or value.startswith("-ERR") else value.strip()


async def our_channels(api: Api, node_id: str, *, held: Collection[str] = ()) -> list[OurChannel]:
    """The live channels this node took, except those in ``held`` (sessions still have them)."""
    found = []
    for row in listed_channels(await api("show channels as json")):
        uuid = row.get("uuid", "")
        if not uuid or uuid in held or await variable(api, uuid, NODE_VAR) != node_id:
            continue
        call_uid = await variable(api, uuid, CALL_VAR)
        if not call_uid:
            continue
        found.append(OurChannel(uuid, call_uid, row.get("dest", ""),
                                row.get("context", "") or "default",
                                await variable(api, uuid, BRIDGED_VAR)))
    return found


def recovery_action(on_recovery: str | None, *, bridged: bool) -> str:
    """What to do with one of our callers found alive (pure): ``bridged`` (leave them with the
    transfer target), else the assistant's ``on_recovery``; ``dialplan`` without an assistant."""
    if bridged:
        return "bridged"
    if on_recovery in ("resume", "dialplan", "hangup"):
        return on_recovery
    return "dialplan"


def transfer_line(uuid: str, target: str) -> str | None:
    """``uuid_transfer`` to ``context,extension[,priority]``, ``extension@context`` or an
    extension; None when ``target`` is empty or unusable."""
    context, extension = "", target.strip()
    if "," in extension:
        context, extension = (part.strip() for part in extension.split(",")[:2])
    elif "@" in extension:
        extension, context = (part.strip() for part in extension.split("@", 1))
    if not extension or any(ch.isspace() for ch in extension + context):
        return None
    return f"uuid_transfer {uuid} {extension}" + (f" XML {context}" if context else "")


async def recover_channels(svc: FsServices, api: Api, *,
                           held: Collection[str] = ()) -> list[Recovered]:
    """Find this node's callers still in FreeSWITCH and apply the lifecycle rules to each."""
    done = []
    for channel in await our_channels(api, svc.settings.node_id, held=held):
        try:
            done.append(await recover_one(svc, api, channel))
        except Exception:  # one call's trouble must not stop the others' recovery
            log.exception("recovery of FreeSWITCH channel %s failed", channel.uuid)
    return done


async def recover_one(svc: FsServices, api: Api, channel: OurChannel) -> Recovered:
    calls = svc.calls
    call = await calls.find_by_channel(f"freeswitch/{channel.uuid}")
    if call is None or call.uid != channel.call_uid:
        log.warning("FreeSWITCH channel %s names call %s, which is not in the store: left alone",
                    channel.uuid, channel.call_uid)
        return Recovered(channel.uuid, channel.call_uid, "none")
    if not abandoned(call):  # ended by its session (transferred, ...): the caller is not ours
        return Recovered(channel.uuid, call.uid, "none", f"{call.status}/{call.end_reason}")
    found = await svc.numbers.find_inbound(call.dialed)
    assistant = found[1] if found is not None else None
    action = recovery_action(assistant.on_recovery if assistant else None,
                             bridged=bool(channel.bridged_to))
    await calls.reopen_call(call.id)
    journal = await resume_point(calls, call.id)
    await calls.add_event(call.id, "recovered", {
        "action": action, "node": journal.point.node, "turns": journal.last_seq,
        "assistant": assistant.id if assistant else None, "pbx": "freeswitch",
    })
    log.warning("FreeSWITCH call %s on %s recovered: %s", call.uid, channel.uuid, action)
    if action == "bridged":
        await calls.close_call(call.id, "transferred", "bridged: left to the PBX (recovered)")
        return Recovered(channel.uuid, call.uid, action, channel.bridged_to)
    if action == "resume":
        # the number the caller dialled, where the dialplan's socket app hands calls to us
        line = transfer_line(channel.uuid, f"{channel.context},{call.dialed}")
        reply = await api(line) if line else "-ERR no number to send the caller back to"
        if reply.startswith("+OK"):
            svc.held.add(channel.uuid)  # on its way back to a session: no second sweep takes it
            return Recovered(channel.uuid, call.uid, action)  # the new session closes the row
        log.warning("call %s: could not be sent back to us (%s): handed to the dialplan",
                    call.uid, reply.strip())
        action = "dialplan"
    if action == "dialplan":
        target = (assistant.recovery_target if assistant else "") \
            or svc.settings.calls.fallback_target
        line = transfer_line(channel.uuid, target)
        reply = await api(line) if line else "-ERR no recovery_target or fallback_target"
        if reply.startswith("+OK"):
            await calls.close_call(call.id, "transferred", "handed_back: recovered")
            return Recovered(channel.uuid, call.uid, action, target)
        log.warning("call %s: recovery transfer to %r failed (%s): hung up", call.uid, target,
                    reply.strip())
    await api(f"uuid_kill {channel.uuid}")
    await calls.close_call(call.id, "failed", "server_restart: hung up at recovery")
    return Recovered(channel.uuid, call.uid, "hangup")


def abandoned(call: Call) -> bool:
    """A row its session did not close: still in progress, or closed by a restart's sweep or
    another node finding this one lost."""
    return call.status == "in_progress" or (
        call.status == "failed" and call.end_reason in (END_REASON, NODE_LOST))


async def resumed_call(svc: FsServices, call_uid: str,
                       uuid: str) -> tuple[Call, JournalledCall] | None:
    """The row a channel coming back to us continues (its ``callwright_call_uid``), and where
    its conversation was; None when it is not ours to continue (another channel's, or closed)."""
    call = await svc.calls.find_by_channel(f"freeswitch/{uuid}")
    if call is None or call.uid != call_uid or call.status != "in_progress":
        return None
    return call, await resume_point(svc.calls, call.id)
