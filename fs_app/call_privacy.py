"""A FreeSWITCH caller's restrictions, honoured as on Asterisk (see :mod:`ari_app.call_privacy`,
whose :class:`CallPrivacy` and :class:`PrivateTurnStore` are used as they are): turns not
transcribed, a minimal row with the number hashed, or, for a caller who objected, the objection
line and the hand-back. FreeSWITCH calls make no recording, so ``record`` has nothing to stop."""

from __future__ import annotations

from ari_app.call_privacy import CallPrivacy
from callwright.privacy.restrictions import CallerRestrictionRepository


async def caller_privacy(
    restrictions: CallerRestrictionRepository, org_id: int | None, caller_number: str,
    caller_name: str,
) -> CallPrivacy:
    """The caller's restrictions in ``org_id`` (none for an unknown number or no caller ID)."""
    if org_id is None or not caller_number.strip():
        return CallPrivacy(frozenset(), caller_number, caller_name)
    found = await restrictions.get(org_id, caller_number)
    kinds = found.kinds if found is not None else frozenset()
    if "store" in kinds:
        return CallPrivacy(kinds, await restrictions.hashed_number(org_id, caller_number), "")
    return CallPrivacy(kinds, caller_number, caller_name)
