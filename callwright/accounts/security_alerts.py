"""Security alerts: ``security.alert`` events for the org's endpoints, audited.

:class:`SecurityAlerts` is called by :class:`callwright.accounts.login.Authenticator`:

- :meth:`~SecurityAlerts.locked_out`: a burst of failed sign-ins locked an account (the
  lock-out of :mod:`callwright.accounts.ratelimit`); every org the account is a member of is told.
- :meth:`~SecurityAlerts.signed_in`: before a successful sign-in is audited; if the user is an
  admin or owner of an org and this address never appears among their earlier successful
  sign-ins (the audit log's ``login.succeeded`` entries), that org is told. A first sign-in ever
  has nothing to compare with and raises no alert.

Each alert is queued in the durable webhook outbox (:class:`DeliveryRepository`) for the org's
enabled endpoints subscribed to ``security.alert`` (the call service's delivery worker signs and
sends it, or formats it for Slack) and appended to the org's audit log as ``security.alert``
(with the number of endpoints queued, zero included). An alert that cannot be queued is logged
and never stops the sign-in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from callwright.accounts.audit import Actor, AuditWriter
from callwright.errors import CallwrightError
from callwright.store.clock import format_iso, parse_iso, utc_now_iso
from callwright.store.db import Database
from callwright.store.users import UserRepo
from callwright.store.webhook_deliveries import DeliveryRepository
from callwright.store.webhook_endpoints import EndpointRepository
from callwright.webhooks.backoff import window_end
from callwright.webhooks.events import encode
from callwright.webhooks.security_events import SECURITY_ALERT, alert_id, security_alert

log = logging.getLogger(__name__)

#: Roles whose sign-ins from a new address raise an alert.
WATCHED_ROLES = ("admin", "owner")


class SecurityAlerts:
    def __init__(
        self, db: Database, users: UserRepo, endpoints: EndpointRepository, audit: AuditWriter,
        *, now: Callable[[], str] = utc_now_iso, queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._users = users
        self._endpoints = endpoints
        self._deliveries = DeliveryRepository(db)
        self._audit = audit
        self._now = now
        self._queued = queued

    async def locked_out(self, user_id: int, ip: str) -> int:
        """Tell every org of ``user_id`` that its sign-in was locked; how many orgs were told."""
        try:
            user = await self._users.get(user_id)
            if user is None:
                return 0
            told = 0
            for membership in await self._users.memberships(user_id):
                await self._alert(membership.org_id, "login_lockout", user_id, user.email,
                                  membership.role, ip)
                told += 1
            return told
        except CallwrightError as exc:
            log.error("security alert (lock-out of user %d) not sent: %s", user_id, exc)
            return 0

    async def signed_in(self, user_id: int, ip: str) -> int:
        """Call before auditing the sign-in: alert the orgs where the user is an admin or owner
        if ``ip`` is new for them. How many orgs were told."""
        try:
            earlier = await self._db.fetch_value(
                "SELECT count(*) FROM audit_log WHERE user_id = ? AND action = 'login.succeeded'",
                (user_id,))
            if not earlier:
                return 0
            seen = await self._db.fetch_value(
                "SELECT count(*) FROM audit_log WHERE user_id = ? AND action = 'login.succeeded'"
                " AND ip = ?", (user_id, ip))
            if seen:
                return 0
            user = await self._users.get(user_id)
            if user is None:
                return 0
            told = 0
            for membership in await self._users.memberships(user_id):
                if membership.role in WATCHED_ROLES:
                    await self._alert(membership.org_id, "new_address", user_id, user.email,
                                      membership.role, ip)
                    told += 1
            return told
        except CallwrightError as exc:
            log.error("security alert (sign-in of user %d) not sent: %s", user_id, exc)
            return 0

    async def _alert(self, org_id: int, kind: str, user_id: int, email: str, role: str,
                     ip: str) -> None:
        created = self._now()
        ident = alert_id()
        event = security_alert(ident, created, kind=kind, user_id=user_id, email=email,
                               role=role, ip=ip)
        endpoints = await self._endpoints.subscribed(org_id, SECURITY_ALERT)
        added = await self._deliveries.enqueue(
            org_id, [e.id for e in endpoints], event_id=ident, event=SECURITY_ALERT,
            call_uid="", body=encode(event), now=created,
            expires_at=format_iso(window_end(parse_iso(created))),
        )
        await self._audit.record(
            Actor.system(), SECURITY_ALERT, org_id=org_id, target=f"user:{user_id}",
            detail={"kind": kind, "ip": ip, "event_id": ident, "endpoints": added},
        )
        if added:
            self._queued()
