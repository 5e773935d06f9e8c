"""An org's webhook endpoint with one failed delivery, for the admin tests' org fixture."""

from __future__ import annotations

from callwright.privacy.secrets import MasterKey
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.webhook_deliveries import DeliveryRepository
from callwright.store.webhook_endpoints import EVENT_TYPES, EndpointRepository

QUEUED_AT = "2027-03-01T12:00:00.000Z"


async def webhook_fixture(db: Database, key: MasterKey, org_id: int) -> tuple[int, int]:
    """(endpoint id, delivery id): endpoint ``crm`` (URL in credential ``crm-url``) and a
    ``call.ended`` delivery that failed for good."""
    await CredentialRepository(db, key).put(org_id, "webhook_url", "crm-url",
                                            f"https://hooks.example/{org_id}/t0ken")
    endpoint, _ = await EndpointRepository(db, key).create(
        org_id, "crm", target="webhook", credential_name="crm-url", events=EVENT_TYPES)
    deliveries = DeliveryRepository(db)
    await deliveries.enqueue(org_id, [endpoint.id], event_id=f"evt_{org_id}", event="call.ended",
                             call_uid="", body='{"id":"evt"}', now=QUEUED_AT,
                             expires_at=QUEUED_AT)
    [delivery] = await deliveries.list(org_id)
    await deliveries.attempt_failed(delivery.id, at=QUEUED_AT, response_code=503,
                                    error="HTTP 503", next_at=None)
    return endpoint.id, delivery.id
