"""Setting and lifting a caller's restrictions, audited: the one path the CLI, the admin page and
the API share (:mod:`callwright.privacy.restrictions` holds the rows; the call service reads them
when the next call comes in).

The audit entry names the caller by pseudonym only (``caller:erased:hmac-sha256:…``, as exports
and erasures do), so the audit log does not keep the number; its detail lists the kinds and the
reason.
"""

from __future__ import annotations

from callwright.accounts.audit import Actor, AuditWriter
from callwright.privacy.restrictions import CallerRestriction, CallerRestrictionRepository


class RestrictionActions:
    def __init__(self, restrictions: CallerRestrictionRepository, audit: AuditWriter) -> None:
        self._restrictions = restrictions
        self._audit = audit

    async def restrict(
        self, org_id: int, number: str, kinds: frozenset[str], reason: str, actor: Actor
    ) -> CallerRestriction:
        """Set ``kinds`` for the caller (others unchanged). Raises ValueError for no number,
        NotFound for an unknown org."""
        found = await self._restrictions.restrict(org_id, number, kinds, reason)
        await self._audit.record(
            actor, "restriction.set", org_id=org_id, target=await self._target(org_id, number),
            detail={"kinds": sorted(kinds), "now": sorted(found.kinds), "reason": reason.strip()},
        )
        return found

    async def unrestrict(self, org_id: int, number: str, actor: Actor) -> bool:
        """Lift the caller's restrictions; False if there were none (nothing audited)."""
        if not number.strip():
            raise ValueError("a caller number is required")
        before = await self._restrictions.get(org_id, number)
        if before is None:
            return False
        after = await self._restrictions.unrestrict(org_id, number)
        await self._audit.record(
            actor, "restriction.lift", org_id=org_id, target=await self._target(org_id, number),
            detail={"lifted": sorted(before.kinds - (after.kinds if after else frozenset())),
                    "kept": sorted(after.kinds) if after else []},
        )
        return True

    async def _target(self, org_id: int, number: str) -> str:
        return f"caller:{await self._restrictions.pseudonym(org_id, number)}"
