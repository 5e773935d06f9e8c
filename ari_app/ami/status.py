"""Live PBX status and actions over the AMI (:class:`~ari_app.ami.client.AmiClient`):
channels, bridges, queue members (and whether one is available), hang-up, originate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ari_app.ami.client import AmiClient, AmiError
from callwright.outbound.dial_result import DialResult, from_ami_reason

#: QueueMember ``Status`` values (AST_DEVICE_*) of an agent who can take a call.
AVAILABLE_STATUSES = {"1"}  # AST_DEVICE_NOT_INUSE


@dataclass(frozen=True, slots=True)
class LiveChannel:
    name: str
    state: str
    caller: str
    connected: str
    application: str
    duration: str
    bridge_id: str
    uniqueid: str


@dataclass(frozen=True, slots=True)
class LiveBridge:
    id: str
    technology: str
    channels: int


@dataclass(frozen=True, slots=True)
class QueueMember:
    queue: str
    name: str
    interface: str
    status: str
    paused: bool
    in_call: bool

    @property
    def available(self) -> bool:
        return self.status in AVAILABLE_STATUSES and not self.paused and not self.in_call


@dataclass(frozen=True, slots=True)
class PbxStatus:
    channels: list[LiveChannel]
    bridges: list[LiveBridge]
    members: list[QueueMember]

    def to_json(self) -> dict[str, Any]:
        return {
            "channels": [_asdict(c) for c in self.channels],
            "bridges": [_asdict(b) for b in self.bridges],
            "queue_members": [{**_asdict(m), "available": m.available} for m in self.members],
        }


def _asdict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


class PbxLiveStatus:
    def __init__(self, ami: AmiClient) -> None:
        self.ami = ami

    async def channels(self) -> list[LiveChannel]:
        found = await self.ami.action({"Action": "CoreShowChannels"})
        return [LiveChannel(
            name=str(m.get("Channel", "")), state=str(m.get("ChannelStateDesc", "")),
            caller=str(m.get("CallerIDNum", "")), connected=str(m.get("ConnectedLineNum", "")),
            application=str(m.get("Application", "")), duration=str(m.get("Duration", "")),
            bridge_id=str(m.get("BridgeId", "")), uniqueid=str(m.get("Uniqueid", "")),
        ) for m in found if m.get("Event") == "CoreShowChannel"]

    async def bridges(self) -> list[LiveBridge]:
        found = await self.ami.action({"Action": "BridgeList"})
        return [LiveBridge(str(m.get("BridgeUniqueid", "")), str(m.get("BridgeTechnology", "")),
                           int(str(m.get("BridgeNumChannels", "0")) or 0))
                for m in found if m.get("Event") == "BridgeListItem"]

    async def queue_members(self, queue: str | None = None) -> list[QueueMember]:
        fields = {"Action": "QueueStatus"}
        if queue:
            fields["Queue"] = queue
        found = await self.ami.action(fields)
        return [QueueMember(
            queue=str(m.get("Queue", "")), name=str(m.get("Name", m.get("MemberName", ""))),
            interface=str(m.get("Location", m.get("Interface", ""))),
            status=str(m.get("Status", "")), paused=str(m.get("Paused", "0")) == "1",
            in_call=str(m.get("InCall", "0")) == "1",
        ) for m in found if m.get("Event") == "QueueMember"]

    async def queue_has_available_member(self, queue: str) -> bool:
        return any(m.available for m in await self.queue_members(queue))

    async def queue_availability(self, queue: str) -> bool | None:
        """None when Asterisk has no such queue (QueueStatus lists no QueueParams for it),
        else whether one of its members is available now."""
        found = await self.ami.action({"Action": "QueueStatus", "Queue": queue})
        if not any(m.get("Event") == "QueueParams" and m.get("Queue") == queue for m in found):
            return None
        return any(m.get("Event") == "QueueMember" and QueueMember(
            queue, "", "", str(m.get("Status", "")), str(m.get("Paused", "0")) == "1",
            str(m.get("InCall", "0")) == "1").available for m in found)

    async def snapshot(self) -> PbxStatus:
        return PbxStatus(await self.channels(), await self.bridges(), await self.queue_members())

    async def hangup(self, channel: str, cause: int = 16) -> bool:
        """Hang ``channel`` up; False if there is no such channel."""
        try:
            await self.ami.action({"Action": "Hangup", "Channel": channel, "Cause": str(cause)})
        except AmiError as exc:
            if "No such channel" in str(exc):
                return False
            raise
        return True

    async def originate(
        self, endpoint: str, *, app: str, app_args: str, caller_id: str = "",
        timeout_s: int = 30, variables: dict[str, str] | None = None,
        channel_id: str | None = None,
    ) -> DialResult:
        """An async Originate into ``Stasis(app, app_args)``; its result from the
        OriginateResponse (Reason 4 answered, 5 busy, 8 congestion, 3 no answer, 0 failed)."""
        fields: dict[str, Any] = {
            "Action": "Originate", "Channel": endpoint, "Application": "Stasis",
            "Data": f"{app},{app_args}", "Timeout": str(timeout_s * 1000), "Async": "true",
        }
        if caller_id:
            fields["CallerID"] = caller_id
        if channel_id:
            fields["ChannelId"] = channel_id
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        messages = await self.ami.action(fields, timeout_s=timeout_s + 10)
        response = next((m for m in messages if m.get("Event") == "OriginateResponse"), None)
        if response is None:
            raise AmiError("AMI Originate: no OriginateResponse")
        return from_ami_reason(int(str(response.get("Reason", "0")) or 0), None)
