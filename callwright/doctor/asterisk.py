"""Verdicts on what Asterisk answered: reachability and credentials, the app, the modules.

Pure: the ARI adapter classifies what happened (:class:`AriProblem`) and reports what it read; the
words, and the fix for each failure (the setting, the Asterisk configuration line from
``asterisk.conf.example``, the command), are decided here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from callwright.config import AriSettings
from callwright.doctor.report import Check, fail, ok, warn

ARI_ID, ARI_TITLE = "ari", "ARI reachable, credentials accepted"
APP_ID, APP_TITLE = "app", "Stasis app registered"
MODULES_ID, MODULES_TITLE = "modules", "Asterisk modules"

#: Lines of asterisk.conf.example the fixes quote, by file (a test keeps them in the example).
CONF_LINES: dict[str, tuple[str, ...]] = {
    "http.conf": ("enabled = yes", "bindport = 8088", "tlsenable = yes",
                  "tlsbindaddr = 0.0.0.0:8089"),
    "ari.conf": ("enabled = yes", "type = user", "password_format = plain"),
    "rtp.conf": ("rtpstart = 10000",),
}


class AriProblem(enum.Enum):
    """Why ARI could not be used, as the adapter tells it from the error."""

    NOT_CONFIGURED = "ari.url is not set"
    REFUSED = "connection refused"
    UNRESOLVED = "host name not found"
    TIMEOUT = "timed out"
    UNREACHABLE = "host unreachable"
    TLS_CERTIFICATE = "certificate not trusted"
    TLS_HANDSHAKE = "TLS handshake failed"
    UNAUTHORIZED = "credentials refused (401)"
    FORBIDDEN = "forbidden (403)"
    STARTING = "Asterisk is starting or stopping (503)"
    NO_ARI = "HTTP server up, ARI not loaded"
    NOT_ARI = "not ARI's answer"
    OTHER = "failed"


def _host_port(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        return parts.hostname or "?", str(parts.port or "?")
    except ValueError:
        return "?", "?"


def ari_failure(problem: AriProblem, ari: AriSettings, detail: str) -> Check:
    """The FAIL line for ARI that could not be used, with the fix for that cause."""
    host, port = _host_port(ari.url)
    fixes = {
        AriProblem.NOT_CONFIGURED: (
            "set [ari] url to Asterisk's HTTP server, e.g. url = \"http://127.0.0.1:8088\" "
            "(http.conf: enabled = yes, bindaddr, bindport = 8088; see asterisk.conf.example)"),
        AriProblem.REFUSED: (
            f"start Asterisk, or correct [ari] url: nothing listens on {host}:{port}. http.conf "
            f"needs enabled = yes, bindaddr = {host} (or 0.0.0.0) and bindport = {port} (see "
            "asterisk.conf.example); `asterisk -rx 'http show status'` shows what it serves"),
        AriProblem.UNRESOLVED: (
            f"correct the host name in [ari] url ({host}), or make it resolve on this machine "
            "(DNS or /etc/hosts)"),
        AriProblem.TIMEOUT: (
            f"a firewall drops TCP port {port} on {host}, or [ari] url names the wrong host: "
            f"open TCP {port} from this machine to {host}, or correct [ari] url"),
        AriProblem.UNREACHABLE: (
            f"no route from this machine to {host}: correct the host in [ari] url, or the "
            f"network between the two (and a firewall must let TCP {port} through)"),
        AriProblem.TLS_CERTIFICATE: (
            "set [ari] ca_file to the CA that signed Asterisk's certificate (http.conf "
            "tlscertfile), and put in [ari] url a host name that certificate names; "
            "[ari] verify = false only to test"),
        AriProblem.TLS_HANDSHAKE: (
            f"Asterisk does not speak TLS on port {port}: use http:// in [ari] url, or turn TLS "
            "on in http.conf: tlsenable = yes, tlsbindaddr = 0.0.0.0:8089 (see "
            "asterisk.conf.example)"),
        AriProblem.UNAUTHORIZED: (
            f"make [ari] password (or CALLWRIGHT_ARI_PASSWORD) equal to the password of user "
            f"[{ari.username}] in ari.conf (type = user, password = ..., password_format = "
            "plain; see asterisk.conf.example), or set [ari] username to a user it has; then "
            "`asterisk -rx 'module reload res_ari.so'` (`ari show users` lists the users)"),
        AriProblem.FORBIDDEN: (
            f"ari.conf user [{ari.username}] may not do this: set read_only = no"),
        AriProblem.STARTING: (
            "Asterisk is booting or shutting down: run `callwright doctor` again in a few "
            "seconds (`asterisk -rx 'core show uptime'`)"),
        AriProblem.NO_ARI: (
            f"if {host}:{port} is Asterisk's HTTP server, ARI is off there: ari.conf [general] "
            "enabled = yes, modules.conf load = res_ari.so, then `asterisk -rx 'module load "
            "res_ari.so'`; if it is not, correct [ari] url"),
        AriProblem.NOT_ARI: (
            f"is {host}:{port} Asterisk's HTTP server (http.conf bindport)? If Asterisk serves "
            "TLS on that port (tlsbindaddr), [ari] url must start with https://"),
        AriProblem.OTHER: (
            f"check [ari] url ({ari.url}) against http.conf and the Asterisk log "
            "(/var/log/asterisk/messages)"),
    }
    shown = f"{problem.value}: {detail}" if detail else problem.value
    return fail(ARI_ID, ARI_TITLE, f"{ari.url}: {shown}" if ari.url else shown, fixes[problem])


def ari_reached(ari: AriSettings, version: str, entity_id: str) -> Check:
    """ARI answered with our credentials. Asterisk before 22 gets a warning."""
    detail = f"Asterisk {version or '?'} at {ari.url} as user {ari.username!r}"
    if entity_id:
        detail += f" (entity {entity_id})"
    major = version.split(".", 1)[0]
    if major.isdigit() and int(major) < 22:
        return warn(ARI_ID, ARI_TITLE, detail, "Callwright is built and tested against "
                    "Asterisk 22 (WebSocket media needs chan_websocket from 22); upgrade Asterisk")
    return ok(ARI_ID, ARI_TITLE, detail)


def app_verdict(app: str, registered: bool, channels: int = 0, bridges: int = 0) -> Check:
    """``GET /applications/{app}``: found, or not (no ``callwright serve`` connected).

    Not registered is a warning, not a failure: the doctor is meant to be run before the service
    is first started. Asterisk also keeps an app whose websocket went away while it still has
    channels, so registered does not prove that a service is connected right now."""
    if registered:
        return ok(APP_ID, APP_TITLE, f"{app!r} is known to Asterisk ({channels} channel(s), "
                  f"{bridges} bridge(s)): a `callwright serve` is, or was, connected")
    return warn(APP_ID, APP_TITLE, f"{app!r} is not registered: no `callwright serve` is "
                "connected, so calls reaching Stasis() now fail (STASISSTATUS=FAILED)",
                f"start `callwright serve`; the dialplan must say Stasis({app}) with the "
                "[ari] app name (dialplan/extensions_callwright.conf)")


# -- modules ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModuleNeed:
    """A module Callwright needs (``required``) or should have, and what it is for."""

    names: tuple[str, ...]  # any one of them will do
    why: str
    required: bool = True

    @property
    def shown(self) -> str:
        return " or ".join(self.names)


_ARI = (
    ModuleNeed(("res_ari.so",), "ARI"),
    ModuleNeed(("res_ari_channels.so",), "ARI /channels"),
    ModuleNeed(("res_ari_bridges.so",), "ARI /bridges"),
    ModuleNeed(("res_ari_events.so",), "the ARI events websocket"),
    ModuleNeed(("res_ari_applications.so",), "ARI /applications"),
    ModuleNeed(("res_ari_asterisk.so",), "ARI /asterisk"),
    ModuleNeed(("res_http_websocket.so",), "websockets"),
    ModuleNeed(("res_stasis.so",), "Stasis applications"),
    ModuleNeed(("res_stasis_answer.so",), "answering calls"),
    ModuleNeed(("app_stasis.so",), "Stasis() in the dialplan"),
    ModuleNeed(("bridge_simple.so",), "two-party bridges"),
    ModuleNeed(("bridge_softmix.so",), "bridges with a recording or a third party"),
    ModuleNeed(("res_timing_timerfd.so", "res_timing_pthread.so", "res_timing_dahdi.so"),
               "a timing source (media written to a channel with nobody talking)",
               required=False),
)
_TRANSPORT = {
    "rtp": (ModuleNeed(("chan_rtp.so",), "ExternalMedia over RTP"),
            ModuleNeed(("res_rtp_asterisk.so",), "the RTP stack")),
    "audiosocket": (ModuleNeed(("chan_audiosocket.so",), "ExternalMedia over AudioSocket"),
                    ModuleNeed(("res_audiosocket.so",), "the AudioSocket protocol"),
                    ModuleNeed(("app_audiosocket.so",), "the AudioSocket() dialplan application",
                               required=False)),
    "websocket": (ModuleNeed(("chan_websocket.so",), "ExternalMedia over WebSocket"),),
}
_CODEC = {
    "ulaw": ModuleNeed(("codec_ulaw.so",), "transcoding to and from µ-law", required=False),
    "alaw": ModuleNeed(("codec_alaw.so",), "transcoding to and from A-law", required=False),
    "slin16": ModuleNeed(("codec_resample.so",), "16 kHz audio", required=False),
}


def module_needs(transport: str, fmt: str) -> list[ModuleNeed]:
    """The modules the chosen media transport and format need, ARI's included."""
    needs = [*_ARI, *_TRANSPORT.get(transport, ())]
    if fmt in _CODEC:
        needs.append(_CODEC[fmt])
    return needs


def _bare(name: str) -> str:
    return name.removesuffix(".so")


def modules_verdict(loaded: Iterable[str], transport: str, fmt: str) -> Check:
    """Which needed modules ``GET /asterisk/modules`` lacks (names with or without ``.so``)."""
    have = {_bare(n) for n in loaded}
    needs = module_needs(transport, fmt)
    missing = [n for n in needs if not any(_bare(name) in have for name in n.names)]
    title = f"{MODULES_TITLE} for {transport} media"
    if not missing:
        return ok(MODULES_ID, title, f"all {len(needs)} loaded")
    hard = [n for n in missing if n.required]
    worst = hard or missing
    detail = "not loaded: " + "; ".join(f"{n.shown} ({n.why})" for n in missing)
    loads = ", ".join(f"load = {n.names[0]}" for n in worst)
    commands = " and ".join(f"`asterisk -rx 'module load {n.names[0]}'`" for n in worst)
    fix = f"modules.conf: {loads} (see asterisk.conf.example), then {commands}"
    if hard:
        return fail(MODULES_ID, title, detail, fix)
    return warn(MODULES_ID, title, detail, fix)
