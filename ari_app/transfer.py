"""Transfers of a caller away from the assistant (issue: blind transfer to an extension, a queue or
any dialplan target, with a fallback when nobody answers).

Two kinds of target:

* ``context,extension,priority`` (or ``context,extension``): a *blind* transfer with
  ``POST /channels/{id}/continue``. The caller leaves Stasis and the dialplan takes over: queues,
  ring groups and voicemail-on-no-answer live there (see dialplan/extensions_callwright.conf).
* ``Tech/resource`` (``PJSIP/200``, ``Local/200@agents``), optionally written ``dial:...``: a
  *bridged* transfer. We originate the target into our own Stasis app (with a channel id we
  chose, so its events are ours), let the caller hear ringback, and when it answers put it in the
  caller's bridge and take our media channel out. If it fails, is refused, or does not answer in
  ``ring_timeout_s``, it is hung up and the assistant takes the caller back (the flow's fallback).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from ari_app.ari.events import (
    AriEvent,
    ChannelDestroyed,
    ChannelHangupRequest,
    StasisEnd,
    StasisStart,
)
from ari_app.ari.rest import AriRestClient
from callwright.errors import CallwrightError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DialplanTarget:
    context: str
    extension: str
    priority: int


def parse_target(target: str) -> DialplanTarget | str:
    """A dialplan target, or the endpoint string of a bridged transfer. Raises ValueError."""
    target = target.strip()
    if target.startswith("dial:"):
        target = target[5:].strip()
    if "/" in target:
        tech, _, resource = target.partition("/")
        if not tech or not resource:
            raise ValueError(f"transfer endpoint {target!r} must look like Tech/resource")
        return target
    parts = [p.strip() for p in target.split(",")]
    if len(parts) == 2:
        parts.append("1")
    if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2].isdigit():
        raise ValueError(
            f"transfer target {target!r} must be 'context,extension[,priority]' or 'Tech/resource'"
        )
    return DialplanTarget(parts[0], parts[1], int(parts[2]))


class BridgedTransfer:
    """One attempt to ring an endpoint and bridge it with the caller."""

    def __init__(self, rest: AriRestClient, app: str, ring_timeout_s: float) -> None:
        self._rest = rest
        self._app = app
        self._ring_timeout_s = ring_timeout_s
        self.channel_id = f"cw-xfer-{uuid.uuid4().hex[:16]}"
        self._answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ended = asyncio.Event()
        self.failure = ""

    def handle(self, event: AriEvent) -> None:
        """Events of the originated channel."""
        if isinstance(event, StasisStart):
            if not self._answered.done():
                self._answered.set_result(None)
        elif isinstance(event, ChannelHangupRequest | ChannelDestroyed | StasisEnd):
            cause = getattr(event, "cause", None)
            if not self._answered.done():
                self._answered.set_exception(CallwrightError(f"the target hung up (cause {cause})"))
            self.ended.set()

    async def ring(self, endpoint: str, caller_id: str, call_uid: str) -> bool:
        """Originate and wait for an answer. False (after cleaning up) if it fails."""
        try:
            await self._rest.originate(
                endpoint,
                app=self._app,
                app_args=["transfer", call_uid],
                caller_id=caller_id,
                timeout_s=max(1, round(self._ring_timeout_s)),
                channel_id=self.channel_id,
            )
            await asyncio.wait_for(asyncio.shield(self._answered), self._ring_timeout_s)
            return True
        except TimeoutError:
            self.failure = f"no answer within {self._ring_timeout_s:.0f} s"
        except CallwrightError as exc:
            self.failure = str(exc)
        except asyncio.CancelledError:
            await self.hang_up()
            raise
        await self.hang_up()
        return False

    async def hang_up(self) -> None:
        try:
            await self._rest.hangup(self.channel_id)
        except CallwrightError as exc:
            log.debug("transfer leg %s: %s", self.channel_id, exc)
