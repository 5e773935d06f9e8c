"""A FreeSWITCH call's transfers, as its flow (or the session: an objection, an unknown number)
asks for them.

A dialplan target is a blind transfer, ``uuid_transfer <uuid> <extension> XML <context>``
(fs_app.recovery.transfer_line); an endpoint (``Tech/resource``) is a bridged transfer, rung and
bridged from the inbound ESL (fs_app.bridged_transfer), the caller staying with the assistant
when it fails. Before the caller leaves, the media is stopped (its end is then no failure) and
``callwright_node`` is unset, so recovery after our crash leaves them where they went.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from callwright.store.calls import Call
from fs_app.bridged_transfer import bridge, endpoint_of, kill_quietly, ring
from fs_app.call_channel import FsChannel
from fs_app.esl.message import EslProtocolError
from fs_app.media_mode import FsMedia
from fs_app.recovery import transfer_line
from fs_app.services import FsServices

log = logging.getLogger(__name__)


class CallTransfers:
    """``call`` and ``media`` are read when a transfer happens (the session makes them later)."""

    def __init__(self, svc: FsServices, channel: FsChannel, *, call: Callable[[], Call | None],
                 media: Callable[[], FsMedia | None],
                 note: Callable[[str, dict[str, Any]], Awaitable[Any]]) -> None:
        self._svc = svc
        self._channel = channel
        self._call = call
        self._media = media
        self._note = note

    async def transfer_to(self, target: str) -> bool:
        """A blind transfer: ``uuid_transfer <uuid> <extension> XML <context>``. ``target`` is
        ``context,extension[,priority]``, ``extension@context`` or an extension (in the
        channel's context). True when FreeSWITCH took it. An endpoint (``Tech/resource``) is a
        bridged transfer (fs_app.bridged_transfer)."""
        endpoint = endpoint_of(target)
        if endpoint is not None:
            return await self._bridge_to(endpoint, target)
        channel = self._channel
        line = transfer_line(channel.uuid, target)
        if line is None:
            log.error("call %s: transfer target %r unusable on FreeSWITCH", channel.uuid, target)
            return False
        media = self._media()
        if media is not None:
            await media.stop_fork()
        channel.transferred = True
        try:  # the caller will not be ours any more: recovery must leave them alone
            await channel.unmark_node()
            reply = await channel.esl.api(line)
        except EslProtocolError as exc:
            reply = f"-ERR {exc}"
        if reply.startswith("+OK"):
            if self._call() is not None:
                await self._note("transferred", {"target": target, "how": "uuid_transfer"})
            return True
        channel.transferred = False
        log.warning("call %s: uuid_transfer refused: %s", channel.uuid, reply.strip())
        call = self._call()
        if call is not None and channel.esl.open:
            await channel.mark_ours(self._svc.settings.node_id, call.uid)
        return False

    async def _bridge_to(self, endpoint: str, target: str) -> bool:
        """Ring ``endpoint``; bridged once it answers (True), else the caller stays (False)."""
        svc, esl, call, channel = self._svc, self._svc.esl, self._call(), self._channel
        assert call is not None
        if esl is None or not esl.connected:
            await self._note("bridge_failed", {"target": target, "why": "no inbound ESL"})
            return False
        rang = await ring(esl, endpoint, ring_s=svc.settings.calls.transfer_ring_s,
                          call_uid=call.uid, caller_number=call.caller_number)
        if not rang.failure and not channel.is_up():  # the caller left while it rang
            await kill_quietly(esl, rang.target_uuid)
            return False
        if rang.failure:
            await self._note("bridge_failed", {"target": target, "why": rang.failure})
            return False
        channel.transferred = True  # bridged, the caller leaves our socket
        done = await bridge(esl, channel.uuid, rang.target_uuid)
        if not done.bridged:
            channel.transferred = False
            await self._note("bridge_failed", {"target": target, "why": done.failure})
            return False
        media = self._media()
        if media is not None:
            await media.stop_fork()
        await self._note("transferred", {"target": target, "how": "uuid_bridge",
                                         "target_uuid": done.target_uuid})
        return True
