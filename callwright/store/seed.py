"""The demo tenant: one org, one assistant running a given flow, one number pointing at it.

``seed_demo`` is idempotent: run it twice and it reuses the same rows, updating the assistant's
settings, saving a new flow version only when the flow changed, and re-pointing the number.
The demo flow itself belongs to the dialog package; the caller passes it in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from callwright.errors import NotFound
from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.numbers import Number, NumberRepository, NumberTaken
from callwright.store.orgs import Org, OrgRepository, SlugTaken

DEMO_ORG_NAME = "Demo"
DEMO_ORG_SLUG = "demo"
DEMO_ASSISTANT_NAME = "Demo receptionist"
DEMO_GREETINGS = {
    "ko": "안녕하세요, 콜라이트 데모입니다. 무엇을 도와드릴까요?",
    "en": "Hello, this is the Callwright demo. How can I help you?",
}


async def seed_demo(
    db: Database,
    *,
    number: str = "100",
    language: str = "ko",
    greeting: str | None = None,
    flow: dict[str, Any],
    record_calls: bool = True,
    created_by: str = "seed",
    now: Callable[[], str] = utc_now_iso,
) -> tuple[Org, Assistant, Number]:
    """Create or refresh the demo org, assistant and number; return them.

    ``greeting`` defaults to a greeting in ``language`` (English for languages without one).
    Raises NumberTaken if another org already owns ``number``.
    """
    if greeting is None:
        greeting = DEMO_GREETINGS.get(language.split("-")[0], DEMO_GREETINGS["en"])
    orgs = OrgRepository(db, now)
    assistants = AssistantRepository(db, now)
    numbers = NumberRepository(db, now)

    org = await _demo_org(orgs)
    settings: dict[str, Any] = {"language": language, "greeting": greeting,
                                "record_calls": record_calls}
    assistant = await assistants.find_by_name(org.id, DEMO_ASSISTANT_NAME)
    if assistant is None:
        assistant = await assistants.create(
            org.id, DEMO_ASSISTANT_NAME, language, greeting, record_calls=record_calls,
            stt={"engine": "vosk"}, tts={"engine": "espeak-ng"}, flow=flow,
            created_by=created_by,
        )
    else:
        if any(getattr(assistant, key) != value for key, value in settings.items()):
            assistant = await assistants.update(org.id, assistant.id, **settings)
        latest = await assistants.latest_flow(assistant.id, org_id=org.id)
        if latest is None or latest[1] != flow:
            await assistants.save_flow(assistant.id, flow, created_by, org_id=org.id)

    line = await numbers.find(org.id, number)
    if line is None:
        try:
            line = await numbers.create(org.id, number, assistant_id=assistant.id,
                                        label="demo")
        except NumberTaken as exc:
            raise NumberTaken(
                f"demo number {number} already belongs to another org; choose another number"
            ) from exc
    elif line.assistant_id != assistant.id:
        line = await numbers.assign(org.id, line.id, assistant.id)
    return org, assistant, line


async def _demo_org(orgs: OrgRepository) -> Org:
    try:
        return await orgs.get_by_slug(DEMO_ORG_SLUG)
    except NotFound:
        pass
    try:
        return await orgs.create(DEMO_ORG_NAME, DEMO_ORG_SLUG)
    except SlugTaken:  # created concurrently
        return await orgs.get_by_slug(DEMO_ORG_SLUG)
