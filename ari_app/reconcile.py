"""What to do with what our Stasis app owns in Asterisk when the events WebSocket (re)connects.

Asterisk keeps an app's calls when its process dies or its WebSocket drops: the caller, our bridge
and our ExternalMedia channel stay up, the caller hears silence, and a reconnect delivers no events
at all (tests/asterisk22/asterisk-facts/outbound-ami/app-gone.md). Calls that ended in the gap
are simply gone (404), while their media channels and bridges stay until the app deletes them. So
on every connect the app lists what it owns (``GET /applications/{app}``, ``/channels``,
``/bridges``) and :func:`plan_reconciliation` sorts it, with no I/O:

* a caller channel no live session owns: recover it (resume, hand back or hang up, per assistant);
  its old bridge is deleted (the recovered call gets a new one);
* a caller bridged with a transfer leg of ours (``cw-xfer-…``) and no session: the caller talks to
  a person; leave them, and watch the pair so that the bridge is cleaned up when one hangs up;
* media channels (ExternalMedia, ``cw-media-…``) and transfer legs no session owns, and bridges no
  session owns: delete them;
* sessions whose caller is no longer listed: the caller left while we were not listening.

Ours are recognisable by name too: media channels ``cw-media-…``, transfer legs ``cw-xfer-…`` and
bridges ``cw-bridge-…``. Every channel id we choose starts with ``cw-``, and such a channel is never
a caller: the demo's own half of its Local pair (``cw-demo-…``, in our app by its originate) is
left to the demo, however it looks. Only what the app owns is touched: other apps' channels and
bridges are not in its lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, field

from ari_app.ari.models import Application, Bridge, Channel

#: Channel name prefixes of media channels (never a caller).
MEDIA_CHANNEL_PREFIXES = ("UnicastRTP/", "AudioSocket/", "WebSocket/", "Snoop/", "Recorder/")
#: Every channel id the service or its tools choose (media, transfer legs, the demo's call).
OWN_ID_PREFIX = "cw-"
MEDIA_ID_PREFIX = "cw-media-"
TRANSFER_ID_PREFIX = "cw-xfer-"
BRIDGE_ID_PREFIX = "cw-bridge-"


def is_media_channel(channel: Channel) -> bool:
    return channel.name.startswith(MEDIA_CHANNEL_PREFIXES) or channel.id.startswith(MEDIA_ID_PREFIX)


def is_transfer_leg(channel: Channel) -> bool:
    return channel.id.startswith(TRANSFER_ID_PREFIX)


def is_own_channel(channel: Channel) -> bool:
    """A channel we made (its id is ours, or it is a media channel): never a caller."""
    return channel.id.startswith(OWN_ID_PREFIX) or is_media_channel(channel)


def stasis_args(channel: Channel, app: str) -> tuple[str, ...] | None:
    """The arguments of the ``Stasis(app,…)`` the channel runs (from ``dialplan.app_data``), or
    None when it is not in our app's Stasis() (its dialplan says something else)."""
    dialplan = channel.dialplan
    if dialplan is None or dialplan.app_name != "Stasis":
        return None
    name, _, rest = dialplan.app_data.partition(",")
    if name != app:
        return None
    return tuple(rest.split(",")) if rest else ()


@dataclass(frozen=True, slots=True)
class OrphanCaller:
    channel: Channel
    #: The arguments its Stasis() had (so the recovered session knows the dialed number).
    args: tuple[str, ...]
    #: Our bridge it is in (to delete once the call is picked up), if any.
    bridge_id: str | None


@dataclass(frozen=True, slots=True)
class KeptTransfer:
    """A caller bridged with one of our transfer legs: a conversation between people."""

    caller: Channel
    leg: Channel
    bridge_id: str


@dataclass(slots=True)
class ReconcilePlan:
    recover: list[OrphanCaller] = field(default_factory=list)
    keep: list[KeptTransfer] = field(default_factory=list)
    hang_up: list[str] = field(default_factory=list)          # media channels and lone legs
    destroy_bridges: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)         # callers of live sessions, gone

    @property
    def empty(self) -> bool:
        return not (self.recover or self.keep or self.hang_up or self.destroy_bridges
                    or self.vanished)


def plan_reconciliation(
    app_name: str,
    application: Application,
    channels: Iterable[Channel],
    bridges: Iterable[Bridge],
    *,
    session_callers: Set[str],
    owned_channels: Set[str],
    owned_bridges: Set[str],
) -> ReconcilePlan:
    """Sort what ``application`` owns. ``session_callers``: caller channels of live sessions;
    ``owned_channels``/``owned_bridges``: every channel and bridge a live session uses."""
    plan = ReconcilePlan()
    by_id = {c.id: c for c in channels}
    owned_ids = set(application.channel_ids)
    plan.vanished = sorted(cid for cid in session_callers if cid not in by_id)
    bridge_of: dict[str, Bridge] = {}
    ours = {b.id: b for b in bridges if b.id in set(application.bridge_ids)}
    for bridge in ours.values():
        for member in bridge.channels:
            bridge_of[member] = bridge
    kept_bridges: set[str] = set()
    kept_legs: set[str] = set()
    orphans = [
        by_id[cid] for cid in application.channel_ids
        if cid in by_id and cid not in owned_channels and cid not in session_callers
    ]
    for channel in orphans:
        if is_own_channel(channel):
            continue  # media channels and legs are deleted below; other ids of ours left alone
        args = stasis_args(channel, app_name)
        if args is None:
            continue  # subscribed but not in our Stasis(): not a call of ours to take
        in_bridge = bridge_of.get(channel.id)
        legs = [
            by_id[m] for m in (in_bridge.channels if in_bridge else ())
            if m in by_id and m in owned_ids and is_transfer_leg(by_id[m])
            and m not in owned_channels
        ]
        if in_bridge is not None and legs:
            plan.keep.append(KeptTransfer(channel, legs[0], in_bridge.id))
            kept_bridges.add(in_bridge.id)
            kept_legs.add(legs[0].id)
            continue
        plan.recover.append(OrphanCaller(channel, args, in_bridge.id if in_bridge else None))
    for channel in orphans:
        if (is_media_channel(channel) or is_transfer_leg(channel)) and channel.id not in kept_legs:
            plan.hang_up.append(channel.id)
    plan.destroy_bridges = sorted(
        bid for bid in ours if bid not in owned_bridges and bid not in kept_bridges
    )
    return plan
