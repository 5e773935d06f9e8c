"""Dialplan contexts that hand calls to Stasis(), for Local channels originated into them.

``POST /channels?endpoint=Local/100@callwright-inbound&app=A`` makes a Local pair whose ``;2``
half runs extension ``100`` of ``callwright-inbound``. The project's dialplan
(``dialplan/extensions_callwright.conf``) has, for every extension matching ``_[+0-9].``:
``NoOp(Callwright: ${CALLERID(all)} dialed ${EXTEN})``, ``Set(CHANNEL(language)=en)``,
``Stasis(callwright,${EXTEN})``. So the ``;2`` half reaches Stasis unanswered (state Ring) as the
app's caller, with the originate's caller id. When the app answers it, the ``;1`` half is answered
too and enters app ``A`` (its ``StasisStart`` carries ``appArgs``), with the ``;1`` events of the
recorded originate (tests/asterisk22/asterisk-facts/outbound-originate.jsonl): ``ChannelStateChange
;2 Up``, ``ChannelStateChange ;1 Up``, ``Dial ;1 ANSWER``, ``ChannelVarset ;1 STASISSTATUS``,
``StasisStart ;1``. ``A`` was subscribed to both halves by the originate, so it keeps hearing
``;2`` after its ``StasisEnd`` (``ChannelDestroyed``).

The lab Asterisk had no such context, so what was not recorded is built from the recorded
sequences and is never kinder than Asterisk:

* an extension the context does not have: Asterisk's Local channel fails the dial ("No such
  extension/context") after the 200; both halves vanish and no app hears a call;
* ``Stasis()`` failing on ``;2`` (the context's app is not connected): the context's fallback
  (the operator's ``Dial(PJSIP/...)``) cannot ring anyone here (no SIP, as in the lab), so the
  dialplan ends and hangs ``;2`` up, with the recorded end of an originate whose far end hangs up;
* the originate's ``timeout`` is not simulated: an app that never answers ``;2`` leaves the
  call ringing until someone hangs up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ari_app.simulator.core import Pbx
from ari_app.simulator.state import STATE_UP, Channel, DialplanLocation

#: How long a call whose Stasis() failed runs on in the dialplan before it hangs up.
FAILED_STASIS_S = 0.02


@dataclass(frozen=True, slots=True)
class InboundContext:
    """A context whose extensions matching ``pattern`` (a regular expression standing for the
    dialplan pattern) run NoOp, ``Set(CHANNEL(language)=language)``, ``Stasis(app,${EXTEN})``."""

    app: str
    language: str = "en"
    pattern: str = r"[+0-9].+"  # _[+0-9].

    def has(self, exten: str) -> bool:
        return re.fullmatch(self.pattern, exten) is not None


#: ``[callwright-inbound]`` of dialplan/extensions_callwright.conf, which the simulator runs
#: unless told otherwise (``SimContext.inbound_contexts``).
CALLWRIGHT_INBOUND = {"callwright-inbound": InboundContext(app="callwright")}


def caller_all(ch: Channel) -> str:
    """``${CALLERID(all)}``: ``"Name" <number>``, or whichever of the two is set."""
    name, number = ch.caller.name, ch.caller.number
    if name and number:
        return f'"{name}" <{number}>'
    return name or number


def originate_into_stasis(
    pbx: Pbx,
    ch1: Channel,
    ch2: Channel,
    context: InboundContext,
    *,
    app: str,
    args: list[str],
    after_answer: DialplanLocation | None,
) -> None:
    """Run ``ch2`` (the ``;2`` half of a new originate) through ``context`` after the response.

    ``app``/``args``: where ``ch1`` goes once answered (``app`` "" means the dialplan location
    ``after_answer``, as for an originate with ``extension``)."""
    location = ch2.dialplan
    dialstring = f"{location.exten}@{location.context}"

    def gone(ch: Channel) -> bool:
        return pbx.channels.get(ch.id) is not ch or ch.hangup_pending

    def step(priority: int, app_name: str, app_data: str) -> None:
        ch2.dialplan = DialplanLocation(
            location.context, location.exten, priority, app_name, app_data
        )
        pbx.emit(pbx.factory.dialplan(ch2), [ch2])

    def ringing() -> None:
        if gone(ch1):
            return
        if (app and app not in ch1.subscribers) or not context.has(location.exten):
            # An unregistered app, or no such extension: created, then hung up, unseen.
            pbx.remove_silently(ch1)
            pbx.remove_silently(ch2)
            return
        pbx.emit(pbx.factory.caller_id(ch2), [ch2])
        pbx.emit(pbx.factory.connected_line(ch2), [ch2])
        pbx.emit(pbx.factory.dial(ch1, "", dialstring), [ch1])
        ch1.pending_dialstring = dialstring
        step(1, "NoOp", f"Callwright: {caller_all(ch2)} dialed {location.exten}")
        step(2, "Set", f"CHANNEL(language)={context.language}")
        ch2.language = context.language
        ch2.dialplan = DialplanLocation(location.context, location.exten, 3)
        ch2.on_answer.append(answered)
        if not pbx.enter_stasis(ch2, context.app, [location.exten], announce_dialplan=True):
            ch2.on_answer.remove(answered)
            pbx.later(lambda: pbx.hangup(ch2, 16, True), FAILED_STASIS_S)

    def answered(_: Channel) -> None:
        if gone(ch1):
            return
        ch1.pending_dialstring = None
        pbx.set_state(ch1, STATE_UP)
        pbx.emit(pbx.factory.dial(ch1, "ANSWER", dialstring), [ch1])
        if not app:
            assert after_answer is not None
            ch1.dialplan = after_answer
        elif not pbx.enter_stasis(ch1, app, args):
            pbx.hangup(ch2, 16, True)

    pbx.later(ringing)
