"""A call's timeline in plain words (issue 17): "Caller interrupted", not "barge in"."""

from __future__ import annotations

from admin.event_words import event_words
from callwright.store.calls import CallRepository
from tests.admin.conftest import AdminFactory


def test_known_events_in_plain_words_and_unknown_ones_readable() -> None:
    assert event_words("stasis_start") == "Call entered the app"
    assert event_words("media_connected") == "Audio connected"
    assert event_words("barge_in") == "Caller interrupted"
    assert event_words("some_new_event") == "Some new event"


async def test_the_call_page_uses_the_words(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    calls = CallRepository(admin.db)
    call_id = await admin.db.fetch_value("SELECT id FROM calls WHERE uid = ?", (org.call_uid,))
    await calls.add_event(call_id, "stasis_start", {"channel": "PJSIP/1"})
    await calls.add_event(call_id, "barge_in", {"why": "barge_in", "heard": "Hello"})
    viewer = await admin.login(org.users["viewer"])
    page = await (await viewer.client.get(f"/calls/{org.call_uid}")).text()
    assert '<span class="who" title="stasis_start">Call entered the app</span>' in page
    assert '<span class="who" title="barge_in">Caller interrupted</span>' in page
    assert '<span class="who" title="answered">Call answered</span>' in page
