"""The pieces of a FreeSWITCH outbound call without a switch: the originate line, the caller
ID, the hand-over of an answered call to its socket session."""

from __future__ import annotations

import pytest

from callwright.call.outcome import CallOutcome
from callwright.config import load_config
from callwright.errors import ConfigError
from callwright.outbound.start import OutboundStart
from callwright.store.outbound_calls import OutboundCall
from fs_app.esl import commands
from fs_app.esl.message import EslProtocolError
from fs_app.outbound_call import OUTBOUND_VAR, caller_id_parts, originate_variables
from fs_app.outbound_handoff import OutboundHandoffs
from fs_app.service import FreeswitchService


def row(caller_id: str, endpoint: str = "sofia/gateway/trunk/+15550100199") -> OutboundCall:
    return OutboundCall(
        id=1, uid="o1", org_id=1, assistant_id=1, number_id=None, to_number="+15550100199",
        caller_id=caller_id, endpoint=endpoint, variables={}, status="dialing", outcome="",
        cause=None, cause_text="", ring_ms=None, amd_status="", amd_cause="", call_id=None,
        campaign_id=None, contact_id=None, node="n1", created_at="", claimed_at=None,
        ended_at=None)


def test_the_originate_line_names_our_uuid_ring_time_row_and_caller_id() -> None:
    line = commands.originate_line(
        "sofia/gateway/trunk/+15550100199",
        originate_variables(row('"Acme" <+15550111>'), "u-1", 30))
    assert line == ("originate {origination_uuid=u-1,originate_timeout=30,"
                    f"{OUTBOUND_VAR}=o1,origination_caller_id_number=+15550111,"
                    "origination_caller_id_name=Acme}sofia/gateway/trunk/+15550100199 &park()")


def test_a_caller_id_that_cannot_go_in_the_line_is_left_out() -> None:
    names = [name for name, _ in originate_variables(row('"Acme, Inc" <+1 555>'), "u", 5)]
    assert "origination_caller_id_name" not in names
    assert "origination_caller_id_number" not in names
    assert caller_id_parts("+15550111") == ("", "+15550111")
    assert caller_id_parts('"Acme" <+15550111>') == ("Acme", "+15550111")


@pytest.mark.parametrize("endpoint", ["sofia/gateway/a b/1", "user/1,user/2", "user/{x}"])
def test_an_endpoint_that_would_break_the_line_is_refused(endpoint: str) -> None:
    with pytest.raises(EslProtocolError, match="originate line"):
        commands.originate_line(endpoint, [("origination_uuid", "u")])


def test_a_handoff_is_taken_once_by_the_session_of_its_channel() -> None:
    handoffs = OutboundHandoffs()
    start = OutboundStart.__new__(OutboundStart)  # its contents do not matter here
    made = handoffs.expect("u-1", start)
    assert handoffs.take("someone-else") is None
    taken = handoffs.take("u-1")
    assert taken is made and made.taken.is_set() and len(handoffs) == 0
    assert handoffs.take("u-1") is None  # once
    made.ended(CallOutcome("completed", "caller_hangup"))
    assert made.over.is_set() and made.outcome == CallOutcome("completed", "caller_hangup")
    handoffs.expect("u-2", start)
    handoffs.forget("u-2")
    assert len(handoffs) == 0


@pytest.mark.parametrize("key", ["OUTBOUND_EXTENSION", "OUTBOUND_CONTEXT"])
def test_an_outbound_extension_or_context_with_a_space_is_refused(key: str) -> None:
    settings = load_config(None, env={f"CALLWRIGHT_FREESWITCH_{key}": "two words"})
    with pytest.raises(ConfigError, match=f"freeswitch.{key.lower()}"):
        FreeswitchService(settings)
