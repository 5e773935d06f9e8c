"""Verdicts on what FreeSWITCH answered on its inbound Event Socket, and on our own listen
addresses for it (``[freeswitch]``; docs/freeswitch.md).

Pure: the FreeSWITCH adapter (``fs_app.doctor``) classifies what happened and reports what it
read; the words, and the fix for each failure, are decided here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from callwright.config import FreeswitchSettings
from callwright.doctor.report import Check, fail, ok, warn

ESL_ID, ESL_TITLE = "freeswitch_esl", "FreeSWITCH ESL reachable, password accepted"
FS_MODULES_ID, FS_MODULES_TITLE = "freeswitch_modules", "FreeSWITCH modules"
SOCKET_ID, SOCKET_TITLE = "freeswitch_socket", "socket app listen address (socket_host:port)"
AUDIO_ID, AUDIO_TITLE = "freeswitch_audio", "mod_audio_fork listen address (audio_host:port)"

EVENT_SOCKET_CONF = "conf/autoload_configs/event_socket.conf.xml"

#: The module that carries a call's audio, by ``[freeswitch] media``, and the fix when it is
#: not loaded (ikey as ``show modules`` lists it).
MEDIA_MODULES: dict[str, tuple[str, str]] = {
    "audio_fork": ("mod_audio_fork", (
        "build jambonz mod_audio_fork against your FreeSWITCH sources and `load "
        "mod_audio_fork` (add it to modules.conf.xml to load it at start; docs/freeswitch.md)")),
    "audio_stream": ("mod_audio_stream", (
        "build amigniter mod_audio_stream (community edition) against your FreeSWITCH sources "
        "and `load mod_audio_stream` (add it to modules.conf.xml to load it at start; "
        "docs/freeswitch.md)")),
}
#: What every call needs besides its media module.
CALL_MODULES: dict[str, str] = {
    "mod_event_socket": "`load mod_event_socket` (the dialplan's socket application)",
    "mod_dptools": "`load mod_dptools` (answer, playback, transfer)",
    "mod_commands": (
        "`load mod_commands` (uuid_kill, uuid_transfer, uuid_setvar, uuid_broadcast, "
        "uuid_break)"),
}
#: Only mod_audio_fork's calls play it (the fork's audio back replaces its frames).
SILENCE_MODULE = (
    "mod_tone_stream", "`load mod_tone_stream` (silence_stream://, which keeps the channel "
    "writing the frames mod_audio_fork's audio replaces)")


def needed_modules(media: str) -> dict[str, str]:
    """The modules a call needs with ``[freeswitch] media = <media>``, each with its fix."""
    name, fix = MEDIA_MODULES[media]
    needed = {name: fix, **CALL_MODULES}
    if media == "audio_fork":
        needed[SILENCE_MODULE[0]] = SILENCE_MODULE[1]
    return needed


#: The modules a call through mod_audio_fork (the default media) needs.
NEEDED_MODULES: dict[str, str] = needed_modules("audio_fork")


class EslProblem(enum.Enum):
    """Why the inbound Event Socket could not be used, as the adapter tells it."""

    REFUSED = "connection refused"
    UNRESOLVED = "host name not found"
    TIMEOUT = "timed out"
    UNREACHABLE = "host unreachable"
    PASSWORD = "password refused"
    NOT_ESL = "not FreeSWITCH's Event Socket"
    OTHER = "failed"


def esl_failure(problem: EslProblem, fs: FreeswitchSettings, detail: str) -> Check:
    """The FAIL line for an Event Socket that could not be used, with the fix for that cause."""
    host, port = fs.esl_host, fs.esl_port
    fixes = {
        EslProblem.REFUSED: (
            f"start FreeSWITCH, or correct [freeswitch] esl_host/esl_port: nothing listens on "
            f"{host}:{port}. {EVENT_SOCKET_CONF} sets listen-ip and listen-port (8021), and "
            "mod_event_socket must be loaded"),
        EslProblem.UNRESOLVED: (
            f"correct [freeswitch] esl_host ({host}), or make it resolve on this machine "
            "(DNS or /etc/hosts)"),
        EslProblem.TIMEOUT: (
            f"a firewall drops TCP port {port} on {host}, or [freeswitch] esl_host names the wrong "
            f"host: open TCP {port} from this machine to {host}, or correct esl_host"),
        EslProblem.UNREACHABLE: (
            f"no route from this machine to {host}: correct [freeswitch] esl_host, or the "
            f"network between the two (a firewall must let TCP {port} through)"),
        EslProblem.PASSWORD: (
            "set [freeswitch] esl_password to the password param of "
            f"{EVENT_SOCKET_CONF} (FreeSWITCH's default is ClueCon; change both)"),
        EslProblem.NOT_ESL: (
            f"[freeswitch] esl_host/esl_port ({host}:{port}) reach a server that is not "
            f"FreeSWITCH's Event Socket: use listen-ip and listen-port of {EVENT_SOCKET_CONF}"),
        EslProblem.OTHER: "see FreeSWITCH's log (log/freeswitch.log) and `fs_cli`",
    }
    said = problem.value + (f": {detail}" if detail else "")
    return fail(ESL_ID, ESL_TITLE, f"{host}:{port} {said}", fixes[problem])


def esl_reached(fs: FreeswitchSettings, version: str) -> Check:
    shown = version.strip() or "version not given"
    return ok(ESL_ID, ESL_TITLE, f"{fs.esl_host}:{fs.esl_port}, {shown}")


def parse_show_modules(text: str) -> set[str]:
    """The module names (ikeys) in the body of ``api show modules`` (a CSV header
    ``type,name,ikey,filename``, a row per interface, ``<n> total.``). Raises ValueError when
    the text is not that."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "type,name,ikey,filename":
        raise ValueError(f"not a module list: {text.strip()[:80]!r}")
    found: set[str] = set()
    for line in lines[1:]:
        parts = line.split(",")
        if len(parts) >= 3 and parts[2]:
            found.add(parts[2])
    return found


def modules_verdict(loaded: Iterable[str], media: str = "audio_fork") -> Check:
    """FAIL when a module a call needs with ``[freeswitch] media = <media>`` is not loaded (each
    missing one with its fix)."""
    have = set(loaded)
    needed = needed_modules(media)
    missing = [name for name in needed if name not in have]
    if not missing:
        return ok(FS_MODULES_ID, FS_MODULES_TITLE,
                  ", ".join(needed) + f" loaded (media = {media!r})")
    detail = "not loaded: " + ", ".join(missing)
    other = next(m for m in MEDIA_MODULES if m != media)
    if MEDIA_MODULES[media][0] in missing and MEDIA_MODULES[other][0] in have:
        detail += (f" ({MEDIA_MODULES[other][0]} is loaded: [freeswitch] media = {other!r}"
                   " would use it")
        detail += ", with slower replies)" if other == "audio_stream" else ")"
    return fail(FS_MODULES_ID, FS_MODULES_TITLE, detail,
                "; ".join(needed[name] for name in missing))


class ListenProblem(enum.Enum):
    """Why one of our listen addresses cannot be bound."""

    IN_USE = "in use"
    NOT_LOCAL = "not an address of this machine"
    DENIED = "permission denied"
    UNRESOLVED = "host name not found"
    OTHER = "cannot be bound"


def listen_verdict(check_id: str, fs: FreeswitchSettings, problem: ListenProblem | None,
                   detail: str = "") -> Check:
    """The line for ``[freeswitch] socket_host:socket_port`` (``SOCKET_ID``) or
    ``audio_host:audio_port`` (``AUDIO_ID``): free (``problem`` None) or why not."""
    if check_id == SOCKET_ID:
        title, keys, host, port = SOCKET_TITLE, "socket_host/socket_port", fs.socket_host, \
            fs.socket_port
        who = "the dialplan's socket application (callwright_vars.xml's callwright_socket)"
    else:
        title, keys, host, port = AUDIO_TITLE, "audio_host/audio_port", fs.audio_host, \
            fs.audio_port
        who = "mod_audio_fork"
    where = f"{host}:{port}"
    if problem is None:
        if port == 0 and check_id == SOCKET_ID:
            return warn(check_id, title, f"{where}: a new port at each start",
                        f"set [freeswitch] socket_port to the port {who} dials (8040)")
        return ok(check_id, title, f"{where} free")
    said = problem.value + (f": {detail}" if detail else "")
    if problem is ListenProblem.IN_USE:
        return warn(check_id, title, f"{where} {said}",
                    f"fine if `callwright serve-freeswitch` is running; otherwise stop what "
                    f"listens there (`ss -ltnp 'sport = :{port}'`) or change [freeswitch] {keys}"
                    f" and {who} with it")
    fixes = {
        ListenProblem.NOT_LOCAL: (
            f"set [freeswitch] {keys} to an address of this machine (`ip -br addr`), or "
            "0.0.0.0 for all"),
        ListenProblem.DENIED: (
            f"use a port above 1023 in [freeswitch] {keys} (a lower one needs root or "
            "CAP_NET_BIND_SERVICE)"),
        ListenProblem.UNRESOLVED: (
            f"correct the host in [freeswitch] {keys}, or make it resolve (DNS or /etc/hosts)"),
        ListenProblem.OTHER: f"correct [freeswitch] {keys}",
    }
    return fail(check_id, title, f"{where} {said}", fixes[problem])
