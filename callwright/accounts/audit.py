"""The audit writer: who did what, to what, when and from where.

Every change made through the admin, the API or the CLI calls :meth:`AuditWriter.record` with the
:class:`Actor` that made it. The table itself refuses updates and deletes (0001 triggers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from callwright.store.audit import AuditRepo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, an API token, the CLI or the system itself."""

    kind: str  # "user", "token", "cli", "system"
    user_id: int | None = None
    token_id: int | None = None
    ip: str = ""

    @property
    def label(self) -> str:
        if self.kind == "user":
            return f"user:{self.user_id}"
        if self.kind == "token":
            return f"token:{self.token_id}"
        return self.kind

    @classmethod
    def cli(cls) -> Actor:
        return cls("cli")

    @classmethod
    def system(cls) -> Actor:
        return cls("system")


class AuditWriter:
    def __init__(self, repo: AuditRepo) -> None:
        self._repo = repo

    async def record(
        self,
        actor: Actor,
        action: str,
        *,
        org_id: int | None,
        target: str = "",
        detail: dict[str, Any] | None = None,
    ) -> int:
        entry_id = await self._repo.append(
            org_id=org_id,
            user_id=actor.user_id,
            actor=actor.label,
            action=action,
            target=target,
            detail=detail,
            ip=actor.ip,
        )
        log.info("audit %s %s %s org=%s", actor.label, action, target, org_id)
        return entry_id
