"""Sorting what our app owns in Asterisk on a (re)connect: pure, no sockets."""

from __future__ import annotations

from ari_app.ari.models import Application, Bridge, CallerId, Channel, Dialplan
from ari_app.reconcile import plan_reconciliation, stasis_args

APP = "callwright"


def caller(cid: str, app_data: str = "callwright,100") -> Channel:
    return Channel(
        id=cid, name=f"PJSIP/alice-{cid}", state="Up", caller=CallerId("Alice", "5551234"),
        dialplan=Dialplan("from-pstn", "100", 2, "Stasis", app_data),
    )


def media(cid: str) -> Channel:
    return Channel(id=cid, name=f"UnicastRTP/127.0.0.1:40000-0x7f{cid[-4:]}", state="Up",
                   dialplan=Dialplan("default", "s", 1, "Stasis", APP))


def leg(cid: str) -> Channel:
    return Channel(id=cid, name="Local/200@agents-00000001;1", state="Up",
                   dialplan=Dialplan("agents", "200", 1, "Stasis", "callwright,transfer,x"))


def test_after_a_crash_callers_are_recovered_and_the_rest_deleted() -> None:
    # Two calls set up by the dead process, one caller who hung up in the gap (its media
    # channel and bridge are left), and another app's channel that is none of our business.
    channels = [caller("1.1"), media("cw-media-aaaa"), caller("1.3"), media("cw-media-bbbb"),
                media("cw-media-cccc"), caller("1.9", "otherapp,1")]
    bridges = [Bridge("cw-bridge-1", channels=("1.1", "cw-media-aaaa")),
               Bridge("cw-bridge-2", channels=("1.3", "cw-media-bbbb")),
               Bridge("cw-bridge-3", channels=("cw-media-cccc",)),
               Bridge("theirs", channels=("1.9",))]
    app = Application(APP, channel_ids=("1.1", "cw-media-aaaa", "1.3", "cw-media-bbbb",
                                        "cw-media-cccc"),
                      bridge_ids=("cw-bridge-1", "cw-bridge-2", "cw-bridge-3"))
    plan = plan_reconciliation(APP, app, channels, bridges, session_callers=set(),
                               owned_channels=set(), owned_bridges=set())
    assert [(o.channel.id, o.args, o.bridge_id) for o in plan.recover] == [
        ("1.1", ("100",), "cw-bridge-1"), ("1.3", ("100",), "cw-bridge-2"),
    ]
    assert plan.hang_up == ["cw-media-aaaa", "cw-media-bbbb", "cw-media-cccc"]
    assert plan.destroy_bridges == ["cw-bridge-1", "cw-bridge-2", "cw-bridge-3"]
    assert plan.keep == [] and plan.vanished == []


def test_a_reconnect_leaves_live_sessions_alone_and_ends_the_vanished() -> None:
    channels = [caller("1.1"), media("cw-media-aaaa"), media("cw-media-old")]
    bridges = [Bridge("cw-bridge-1", channels=("1.1", "cw-media-aaaa")),
               Bridge("cw-bridge-9", channels=("cw-media-old",))]
    app = Application(APP, channel_ids=("1.1", "cw-media-aaaa", "cw-media-old"),
                      bridge_ids=("cw-bridge-1", "cw-bridge-9"))
    plan = plan_reconciliation(
        APP, app, channels, bridges, session_callers={"1.1", "1.2"},
        owned_channels={"cw-media-aaaa", "cw-media-gone"},
        owned_bridges={"cw-bridge-1", "cw-bridge-2"},
    )
    assert plan.recover == []
    assert plan.vanished == ["1.2"]
    assert plan.hang_up == ["cw-media-old"]
    assert plan.destroy_bridges == ["cw-bridge-9"]


def test_a_caller_talking_to_a_transfer_target_is_left_with_them() -> None:
    channels = [caller("1.1"), leg("cw-xfer-0001"), media("cw-media-aaaa"), leg("cw-xfer-0002")]
    bridges = [Bridge("cw-bridge-1", channels=("1.1", "cw-xfer-0001"))]
    app = Application(APP, channel_ids=("1.1", "cw-xfer-0001", "cw-media-aaaa", "cw-xfer-0002"),
                      bridge_ids=("cw-bridge-1",))
    plan = plan_reconciliation(APP, app, channels, bridges, session_callers=set(),
                               owned_channels=set(), owned_bridges=set())
    assert [(k.caller.id, k.leg.id, k.bridge_id) for k in plan.keep] == [
        ("1.1", "cw-xfer-0001", "cw-bridge-1"),
    ]
    assert plan.recover == []
    # The media channel taken out of the bridge at the transfer, and a leg still ringing.
    assert plan.hang_up == ["cw-media-aaaa", "cw-xfer-0002"]
    assert plan.destroy_bridges == []


def test_nothing_owned_is_an_empty_plan() -> None:
    plan = plan_reconciliation(APP, Application(APP), [caller("1.1")], [],
                               session_callers=set(), owned_channels=set(), owned_bridges=set())
    assert plan.empty


def test_stasis_args_come_from_the_dialplan() -> None:
    assert stasis_args(caller("1", "callwright,100,x"), APP) == ("100", "x")
    assert stasis_args(caller("1", "callwright"), APP) == ()
    assert stasis_args(caller("1", "callwrightx,100"), APP) is None
    continued = Channel(id="1", name="PJSIP/a", state="Up",
                        dialplan=Dialplan("fallback", "s", 3, "Wait", "2"))
    assert stasis_args(continued, APP) is None


def test_our_own_channels_are_never_callers() -> None:
    """The demo's half of its Local pair (``cw-demo-…``) is in our app by its originate and runs
    Stasis(callwright): it is left alone, and only the ``;2`` half, the demo's caller, is
    recovered. No other ``cw-`` id is taken for a caller either."""
    demo = Channel(id="cw-demo-0a1b2c", name="Local/100@callwright-inbound-00000001;1",
                   state="Up", caller=CallerId("Demo caller", "+821012345678"),
                   dialplan=Dialplan("callwright-inbound", "100", 1, "Stasis", APP))
    demo_caller = Channel(id="1.2", name="Local/100@callwright-inbound-00000001;2", state="Up",
                          caller=CallerId("Demo caller", "+821012345678"),
                          dialplan=Dialplan("callwright-inbound", "100", 3, "Stasis",
                                            "callwright,100"))
    other = caller("cw-something-1")
    app = Application(APP, channel_ids=("cw-demo-0a1b2c", "1.2", "cw-something-1"))
    plan = plan_reconciliation(APP, app, [demo, demo_caller, other], [],
                               session_callers=set(), owned_channels=set(), owned_bridges=set())
    assert [o.channel.id for o in plan.recover] == ["1.2"]
    assert plan.hang_up == [] and plan.keep == []
