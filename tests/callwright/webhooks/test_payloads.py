"""The pure parts: backoff schedule, messages taken, Slack text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callwright.store.calls import Call
from callwright.webhooks import events
from callwright.webhooks.backoff import next_attempt, retry_delay_s, window_end
from callwright.webhooks.slack import slack_message

T0 = datetime(2027, 3, 1, tzinfo=UTC)


def a_call(**fields: object) -> Call:
    base: dict[str, object] = dict(
        id=1, uid="u1", org_id=1, assistant_id=2, number_id=None, dialed="100",
        caller_number="+491", caller_name="", direction="inbound", channel_id="c",
        started_at="2027-03-01T00:00:00.000Z", answered_at=None, ended_at=None,
        duration_ms=125_000, status="completed", end_reason="", recording_path=None,
        recording_key_id=None, slots={}, legal_hold=False,
    )
    base.update(fields)
    return Call(**base)  # type: ignore[arg-type]


def test_backoff_doubles_up_to_an_hour_and_stops_at_the_window_end() -> None:
    assert [retry_delay_s(n) for n in (1, 2, 3, 8, 9, 50)] == [30, 60, 120, 3600, 3600, 3600]
    end = window_end(T0)
    assert end - T0 == timedelta(hours=24)
    assert next_attempt(1, T0, end) == T0 + timedelta(seconds=30)
    assert next_attempt(9, end - timedelta(seconds=10), end) == end  # the last one at the end
    assert next_attempt(10, end, end) is None


def test_messages_taken_are_the_take_message_nodes_with_text() -> None:
    flow = {"nodes": {
        "a": {"kind": "take_message", "slot": "msg"},
        "b": {"kind": "take_message"},  # default slot "message", left empty
        "c": {"kind": "ask", "slot": "name"},
    }}
    found = events.messages_taken(flow, {"msg": "call me", "message": " ", "name": "Bo"})
    assert found == [events.TakenMessage("a", "msg", "call me")]
    assert events.messages_taken(None, {"message": "x"}) == []
    assert events.messages_taken({"nodes": []}, {"message": "x"}) == []


def test_no_public_url_means_no_link() -> None:
    facts = events.CallFacts(a_call(), "Desk", "", False)
    payload = events.call_started(facts, "2027-03-01T00:00:00.000Z")
    assert payload["data"]["call"]["url"] is None
    assert "Open the call" not in str(slack_message(payload))


def test_slack_escapes_what_the_caller_controls() -> None:
    facts = events.CallFacts(a_call(caller_name="<!channel> & co", end_reason="x"), "Desk",
                             "https://cw.example/", False)
    text = str(slack_message(events.call_ended(facts, [], [], "t")))
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; co" in text
    assert "after 2 min 05 s" in text
    assert "<https://cw.example/calls/u1|Open the call>" in text


def test_summary_falls_back_to_slots_then_outcome() -> None:
    facts = events.CallFacts(a_call(end_reason="demo_booked"), "Desk", "", False)
    assert events.summary(facts, [], {"date": "Monday", "n": 2}) == "date: Monday; n: 2"
    assert events.summary(facts, [], {}) == "Call completed (demo_booked)."
