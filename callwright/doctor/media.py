"""Verdicts on the media probe: can Asterisk's audio reach us (RTP, AudioSocket), or we reach
Asterisk's media websocket? Pure: the ARI adapter runs the probe and says what happened.

The probe (``ari_app.doctor_media``) makes a short ExternalMedia channel towards the address we
advertise, plays silence on it (``POST /channels/{id}/silence``: a channel alone, in no bridge,
sends nothing otherwise) and waits for the first frame.
"""

from __future__ import annotations

import enum

from callwright.config import MediaSettings
from callwright.doctor.report import Check, Status, fail, ok, warn

MEDIA_ID = "media"
#: What a transport's ExternalMedia channel needs loaded in Asterisk.
CHANNEL_MODULES = {"rtp": "chan_rtp.so", "audiosocket": "chan_audiosocket.so",
                   "websocket": "chan_websocket.so"}


def media_title(transport: str) -> str:
    if transport == "websocket":
        return "media websocket to Asterisk"
    return f"Asterisk reaches our media address ({transport})"


class MediaProblem(enum.Enum):
    EVENTS_FAILED = "the events websocket did not open"
    NO_LOCAL_SOCKET = "cannot listen here"
    MODULE_MISSING = "Asterisk cannot make the channel"
    CHANNEL_REFUSED = "ExternalMedia refused"
    NOT_REACHED = "nothing arrived"
    WRONG_PAYLOAD = "RTP in another format"
    WEBSOCKET_FAILED = "media websocket failed"
    SILENCE_REFUSED = "silence refused"
    NO_AUDIO = "no audio"
    OTHER = "failed"


def _ports(media: MediaSettings, transport: str) -> str:
    if transport == "rtp":
        return f"UDP {media.rtp_port_min}-{media.rtp_port_max}"
    return f"TCP {media.audiosocket_port}"


def media_failure(
    problem: MediaProblem, media: MediaSettings, transport: str, detail: str, *, ari_url: str = ""
) -> Check:
    """The FAIL line of the media probe, with the fix for that cause."""
    module = CHANNEL_MODULES.get(transport, "chan_rtp.so")
    where = media.advertise_host or media.bind_host
    firewall = _ports(media, transport)
    fixes = {
        MediaProblem.EVENTS_FAILED: (
            "the ARI events websocket (/ari/events, which `callwright serve` needs too) must "
            "open: modules.conf load = res_ari_events.so and load = res_http_websocket.so, and "
            "a proxy in between must pass websocket upgrades"),
        MediaProblem.NO_LOCAL_SOCKET: (
            f"[media] bind_host ({media.bind_host}) must be an address of this machine (or "
            f"0.0.0.0), with {firewall} free on it"),
        MediaProblem.MODULE_MISSING: (
            f"modules.conf: load = {module} (see asterisk.conf.example), then "
            f"`asterisk -rx 'module load {module}'`"),
        MediaProblem.CHANNEL_REFUSED: (
            "see the Asterisk log (/var/log/asterisk/messages) for why the ExternalMedia "
            f"channel was refused; [media] transport = {transport!r}, format = "
            f"{media.format!r}"),
        MediaProblem.NOT_REACHED: (
            f"set [media] advertise_host to an address of this machine that Asterisk can reach "
            f"(now {where!r}), [media] bind_host to that address or 0.0.0.0 (now "
            f"{media.bind_host!r}), and let {firewall} through from Asterisk to this machine"),
        MediaProblem.WRONG_PAYLOAD: (
            "[media] format must be one Asterisk sends with a static RTP payload type: "
            "ulaw, alaw or slin"),
        MediaProblem.WEBSOCKET_FAILED: (
            f"the media websocket is served by Asterisk's HTTP server ([ari] url = {ari_url}): "
            "modules.conf load = chan_websocket.so (see asterisk.conf.example), and a proxy in "
            "between must pass websocket upgrades on /media/"),
        MediaProblem.SILENCE_REFUSED: (
            "see the Asterisk log (/var/log/asterisk/messages) for the probe channel"),
        MediaProblem.NO_AUDIO: (
            "Asterisk needs a timing source to send audio from a channel nobody talks on: "
            "modules.conf load = res_timing_timerfd.so (see asterisk.conf.example), then "
            "`asterisk -rx 'module load res_timing_timerfd.so'`; see the Asterisk log"),
        MediaProblem.OTHER: "see the Asterisk log (/var/log/asterisk/messages)",
    }
    return fail(MEDIA_ID, media_title(transport), f"{problem.value}: {detail}", fixes[problem])


def media_reached(transport: str, detail: str) -> Check:
    return ok(MEDIA_ID, media_title(transport), detail)


def with_leftovers(check: Check, leftovers: list[str]) -> Check:
    """The probe could not delete what it made in Asterisk: say so, and how to delete it."""
    if not leftovers:
        return check
    names = ", ".join(leftovers)
    cleanup = " and ".join(f"`asterisk -rx 'channel request hangup {name}'`"
                           for name in leftovers)
    fix = f"{check.fix}; also " if check.fix else ""
    detail = f"{check.detail}; could not delete the probe channel {names}"
    if check.status is Status.FAIL:
        return fail(check.id, check.title, detail, fix + cleanup)
    return warn(check.id, check.title, detail, fix + cleanup)
