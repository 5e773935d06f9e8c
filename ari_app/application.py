"""The Stasis application: routes ARI events to one CallSession per caller channel.

Channels we create ourselves (ExternalMedia, originated legs) also get a StasisStart in our app
(DESIGN §2 step 2). We give them ids we chose (``channelId``) before asking Asterisk for them, so
their StasisStart is recognised even when it arrives before the HTTP response; a media-looking
channel we do not know is logged and ignored, never treated as a caller.

On every connect of the events WebSocket (start-up and reconnect) Asterisk tells us nothing of
what happened meanwhile, so we reconcile (:mod:`ari_app.reconcile`): sessions whose caller is gone
end, callers no session owns are recovered (:mod:`ari_app.recovery`), and orphaned media channels
and bridges are deleted. This runs before the next event is dispatched; the slow parts (each
recovered call, the deletions) run in their own tasks.

Draining (:meth:`AriApplication.drain`): a new caller is sent straight back to the dialplan, calls
in progress get ``drain_s`` to end, then each remaining caller hears a line and is handed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from ari_app.ari.events import ApplicationReplaced, AriEvent, Dial, StasisStart
from ari_app.ari.models import Channel
from ari_app.ari.rest import AriRestClient
from ari_app.reconcile import (
    KeptTransfer as KeptPair,
)
from ari_app.reconcile import (
    OrphanCaller,
    ReconcilePlan,
    is_own_channel,
    plan_reconciliation,
)
from ari_app.recovery import HandBack, KeptTransfer, continue_caller
from ari_app.session import CallSession
from ari_app.transfer import DialplanTarget
from callwright.errors import AriError, CallwrightError
from callwright.store.calls import CallRepository

log = logging.getLogger(__name__)

SessionFactory = Callable[[StasisStart], CallSession]


class OutboundWatcher(Protocol):
    """An outbound call being placed (ari_app.outbound_call): its channel's events until a
    session takes it."""

    def handle(self, event: AriEvent) -> None: ...

#: How long a reconciliation waits for the StasisStarts queued behind it before it takes the
#: callers it found for orphans (see AriApplication._settle).
RECOVERY_GRACE_S = 0.25
#: How long callers handed back get to hear their line and leave, before their sessions are
#: cancelled (their clean-up still hands them back, without the line).
HANDBACK_LIMIT_S = 20.0
#: The same after a second stop request.
HANDBACK_NOW_LIMIT_S = 3.0


class AriApplication:
    def __init__(
        self,
        rest: AriRestClient,
        session_factory: SessionFactory | None = None,
        *,
        app_name: str = "callwright",
        recovery_factory: SessionFactory | None = None,
        calls: CallRepository | None = None,
    ) -> None:
        self._rest = rest
        self.app_name = app_name
        self.session_factory = session_factory
        #: Builds the session of a caller found in our app with no session (recovery mode).
        self.recovery_factory = recovery_factory
        self._calls = calls
        self.sessions: dict[str, CallSession] = {}          # caller channel id → session
        self._media: dict[str, CallSession] = {}            # our media channel id → session
        self._kept: dict[str, KeptTransfer] = {}            # caller/leg id → kept transfer
        self._tasks: set[asyncio.Task[None]] = set()        # sessions
        self._task_of: dict[str, asyncio.Task[None]] = {}   # caller channel id → its task
        self._chores: set[asyncio.Task[None]] = set()       # deletions, turned-away callers
        self._outbound: dict[str, OutboundWatcher] = {}     # our originated channel → its dial
        self.ignored_channels = 0
        self.draining = False
        #: Where new callers go while draining (None: the priority after Stasis()).
        self.handback_target: DialplanTarget | None = None
        #: The last reconciliation's plan and when it ran (monotonic), for logs and tests.
        self.last_plan: ReconcilePlan | None = None
        self.reconciled_at: float | None = None
        self.turned_away = 0

    # -- registry used by sessions ---------------------------------------------------------------

    def expect_media_channel(self, channel_id: str, session: CallSession) -> None:
        self._media[channel_id] = session

    def forget_media_channel(self, channel_id: str) -> None:
        self._media.pop(channel_id, None)

    def expect_outbound(self, channel_id: str, watcher: OutboundWatcher) -> None:
        """Events of ``channel_id`` (an outbound call we originate) go to ``watcher`` until a
        session takes the channel (:meth:`start_session`)."""
        self._outbound[channel_id] = watcher

    def forget_outbound(self, channel_id: str) -> None:
        self._outbound.pop(channel_id, None)

    def start_session(self, session: CallSession) -> asyncio.Task[None]:
        """Run ``session`` (an answered outbound call); its task, done when the call is."""
        self._start_session(session)
        return self._task_of[session.channel.id]

    # -- events ----------------------------------------------------------------------------------

    async def on_event(self, event: AriEvent) -> None:
        if isinstance(event, ApplicationReplaced):
            log.error("another process connected as our ARI application: events now go there")
            return
        if isinstance(event, Dial):  # about an outbound call's channel (its peer)
            dialing = self._outbound.get(event.peer.id)
            if dialing is not None:
                dialing.handle(event)
            return
        channel = getattr(event, "channel", None)
        if not isinstance(channel, Channel):
            return
        media_session = self._media.get(channel.id)
        if media_session is not None:
            media_session.handle(event)
            return
        session = self.sessions.get(channel.id)
        if session is not None:
            session.handle(event)
            return
        kept = self._kept.get(channel.id)
        if kept is not None:
            if kept.handle(event):
                self._chore(self._end_kept(kept))
            return
        dialing = self._outbound.get(channel.id)
        if dialing is not None:
            dialing.handle(event)
            return
        if isinstance(event, StasisStart):
            self._new_caller(event)

    def _new_caller(self, event: StasisStart) -> None:
        channel = event.channel
        if is_own_channel(channel):
            self.ignored_channels += 1
            log.info("ignoring StasisStart of media channel %s (%s)", channel.id, channel.name)
            return
        if self.draining:
            self.turned_away += 1
            log.info("draining: caller %s goes straight back to the dialplan", channel.id)
            self._chore(self._turn_away(channel.id))
            return
        if self.session_factory is None:
            log.error("no session factory: cannot take call on %s", channel.id)
            return
        self._start_session(self.session_factory(event))

    def _start_session(self, session: CallSession) -> None:
        self.sessions[session.channel.id] = session
        task = asyncio.get_running_loop().create_task(self._run(session))
        self._tasks.add(task)
        self._task_of[session.channel.id] = task
        task.add_done_callback(self._tasks.discard)

    async def _run(self, session: CallSession) -> None:
        try:
            await session.run()
        finally:
            self.sessions.pop(session.channel.id, None)
            self._task_of.pop(session.channel.id, None)

    def _chore(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _turn_away(self, channel_id: str) -> None:
        try:
            await continue_caller(self._rest, channel_id, self.handback_target)
        except CallwrightError as exc:
            log.warning("could not send caller %s back to the dialplan: %s", channel_id, exc)

    # -- connection lifecycle --------------------------------------------------------------------

    async def on_connected(self, reconnect: bool) -> None:
        """Reconcile with what Asterisk says our app owns (see the module docstring)."""
        try:
            application = await self._rest.get_application(self.app_name)
            channels = await self._rest.list_channels()
            bridges = await self._rest.list_bridges()
        except CallwrightError as exc:
            log.warning("could not reconcile with Asterisk after %s: %s",
                        "a reconnect" if reconnect else "start-up", exc)
            return
        owned_channels = set(self._media) | set(self._kept) | set(self._outbound)
        owned_bridges = {s.bridge_id for s in self.sessions.values() if s.bridge_id}
        owned_bridges |= {k.bridge_id for k in self._kept.values()}
        plan = plan_reconciliation(
            self.app_name, application, channels, bridges,
            session_callers=set(self.sessions), owned_channels=owned_channels,
            owned_bridges=owned_bridges,
        )
        self.last_plan, self.reconciled_at = plan, time.monotonic()
        if plan.empty:
            return
        log.warning(
            "reconciled with Asterisk: %d caller(s) to recover, %d kept with a transfer target, "
            "%d gone, %d channel(s) and %d bridge(s) to delete",
            len(plan.recover), len(plan.keep), len(plan.vanished), len(plan.hang_up),
            len(plan.destroy_bridges),
        )
        for channel_id in plan.vanished:
            log.warning("channel %s vanished while ARI was disconnected", channel_id)
            self.sessions[channel_id].caller_vanished()
        for pair in plan.keep:
            self._keep(pair)
        if plan.recover or plan.hang_up or plan.destroy_bridges:
            self._chore(self._settle(plan))

    async def _settle(self, plan: ReconcilePlan) -> None:
        """Recover the orphaned callers and delete the orphaned channels and bridges, after
        ``RECOVERY_GRACE_S``: a call that reached Stasis() just as we connected is listed by
        Asterisk too, but its StasisStart is queued behind this reconciliation; once it is
        dispatched, that call has a session of its own and is no orphan."""
        await asyncio.sleep(RECOVERY_GRACE_S)
        for orphan in plan.recover:
            if orphan.channel.id in self.sessions:
                log.info("caller %s is a new call, not an orphan", orphan.channel.id)
                continue
            self._recover(orphan)
        owned_bridges = {s.bridge_id for s in self.sessions.values() if s.bridge_id}
        await self._delete(
            [c for c in plan.hang_up if c not in self._media and c not in self._kept],
            [b for b in plan.destroy_bridges if b not in owned_bridges],
        )

    def _recover(self, orphan: OrphanCaller) -> None:
        start = StasisStart(args=orphan.args, channel=orphan.channel, application=self.app_name)
        if self.recovery_factory is None:
            log.error("caller %s found with no session, and no recovery: handing it back",
                      orphan.channel.id)
            self._chore(self._turn_away(orphan.channel.id))
            return
        session = self.recovery_factory(start)
        if self.draining:
            session.hand_back(HandBack("server_drain", self.handback_target, announce=False))
        self._start_session(session)

    def _keep(self, pair: KeptPair) -> None:
        kept = KeptTransfer(self._rest, self._calls, pair.caller.id, pair.leg.id, pair.bridge_id)
        self._kept[pair.caller.id] = self._kept[pair.leg.id] = kept
        log.warning("caller %s talks to transfer target %s: left with them", pair.caller.id,
                    pair.leg.id)
        self._chore(kept.adopt())

    async def _end_kept(self, kept: KeptTransfer) -> None:
        self._kept.pop(kept.caller_id, None)
        self._kept.pop(kept.leg_id, None)
        await kept.finish()

    async def _delete(self, channel_ids: list[str], bridge_ids: list[str]) -> None:
        """Orphaned media channels and transfer legs first (so no bridge is emptied of a
        caller's media while it matters), then orphaned bridges; 404s mean already gone."""
        deletions: list[tuple[str, str, Callable[[str], Awaitable[object]]]] = [
            *(("channel", channel_id, self._rest.hangup) for channel_id in channel_ids),
            *(("bridge", bridge_id, self._rest.destroy_bridge) for bridge_id in bridge_ids),
        ]
        for kind, item_id, delete in deletions:
            try:
                await delete(item_id)
            except AriError as exc:
                if exc.status != 404:
                    log.warning("could not delete orphaned %s %s: %s", kind, item_id, exc)
            except CallwrightError as exc:
                log.warning("could not delete orphaned %s %s: %s", kind, item_id, exc)

    async def on_disconnected(self, reason: str) -> None:
        log.warning("ARI events connection lost (%s); calls in progress keep their media", reason)

    # -- draining ----------------------------------------------------------------------------------

    async def drain(
        self,
        drain_s: float,
        target: DialplanTarget | None = None,
        *,
        now: asyncio.Event | None = None,
    ) -> None:
        """Stop taking calls (new callers go back to the dialplan at ``target``), give calls in
        progress up to ``drain_s`` to end, then hand each remaining caller back, with a line.
        ``now`` set (a second stop request) cuts the wait short and hands back without a line.
        Returns when every session has ended (or was cancelled)."""
        self.draining = True
        self.handback_target = target
        now = now or asyncio.Event()
        if self._tasks and not now.is_set():
            log.warning("draining: %d call(s) in progress get up to %g s to end",
                        len(self._tasks), drain_s)
            await _wait_any(set(self._tasks), drain_s, now)
        reason = "server_stop" if now.is_set() else "server_drain"
        sessions = list(self.sessions.values())
        if sessions:
            log.warning("handing %d caller(s) back to the dialplan (%s)", len(sessions), reason)
        for session in sessions:
            if session.with_person:
                # Talking to a transfer target: the PBX carries that call on. The session ends
                # now (its bridge is kept); the next start watches the pair (KeptTransfer).
                session.hand_back(HandBack(reason, target, announce=False))
                task = self._task_of.get(session.channel.id)
                if task is not None:
                    task.cancel()
                continue
            session.hand_back(HandBack(reason, target, announce=not now.is_set()))
        if self._tasks:
            await _wait_any(set(self._tasks), HANDBACK_LIMIT_S, now)
        if self._tasks:
            await _wait_any(set(self._tasks), HANDBACK_NOW_LIMIT_S, None)
        pending = set(self._tasks)
        for task in pending:
            task.cancel()  # their clean-up still hands the caller back and closes the row
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self._chores:
            await asyncio.wait(set(self._chores), timeout=5.0)


async def _wait_any(tasks: set[asyncio.Task[None]], limit_s: float, now: asyncio.Event | None
                    ) -> None:
    """Until ``tasks`` are all done, ``limit_s`` passed or ``now`` is set."""
    waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(asyncio.wait(tasks))}
    if now is not None:
        waiters.add(asyncio.ensure_future(now.wait()))
    try:
        await asyncio.wait(waiters, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
