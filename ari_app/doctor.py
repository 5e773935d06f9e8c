"""``callwright doctor``'s checks through ARI: reachability and credentials, the app, the
modules, the clock, and (in :mod:`ari_app.doctor_media`) the media path.

Every request has a timeout (``step_timeout_s``), so the doctor never hangs on a PBX that does
not answer; when ARI cannot be used at all, the checks that need it are reported as skipped.

With a ``[[pbx]]`` list (issue 13) every entry is checked in turn through its own ARI and media
settings (and its own TLS context when its ``ca_file``/``verify`` differ from ``[ari]``'s); each
line is named by its PBX: its id ``<check>.<pbx name>`` (``ari.pbx-a``), its title and fix
beginning with the name, the fix's ``[ari]``/``[media]`` settings said as the entry's.
What the answers mean, and the fixes, are decided in :mod:`callwright.doctor`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from dataclasses import replace

import aiohttp

from ari_app.ari.rest import AriRestClient
from ari_app.doctor_media import probe_media
from callwright.config import PbxSettings, Settings
from callwright.doctor import asterisk as verdicts
from callwright.doctor.asterisk import AriProblem
from callwright.doctor.clock import ASTERISK_ID, ASTERISK_TITLE, parse_ari_time, skew_verdict
from callwright.doctor.media import MEDIA_ID, media_title
from callwright.doctor.report import Check, fail, skip, warn
from callwright.errors import AriError, AriUnavailable, ConfigError, ProtocolError
from callwright.tls import ari_client_context

#: Half a millisecond: ARI timestamps have millisecond resolution.
_TIMESTAMP_RESOLUTION_S = 0.0005


def classify(exc: AriError | AriUnavailable | ProtocolError) -> AriProblem:
    """Which failure an error from the REST client is (the fix depends on it)."""
    if isinstance(exc, AriError):
        return {401: AriProblem.UNAUTHORIZED, 403: AriProblem.FORBIDDEN}.get(
            exc.status, AriProblem.OTHER)
    if isinstance(exc, ProtocolError):
        return AriProblem.NOT_ARI
    if exc.status == 503:
        return AriProblem.STARTING
    if exc.status == 404:
        return AriProblem.NO_ARI
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorCertificateError):
        return AriProblem.TLS_CERTIFICATE
    if isinstance(cause, aiohttp.ClientSSLError):
        return AriProblem.TLS_HANDSHAKE
    if isinstance(cause, TimeoutError):
        return AriProblem.TIMEOUT
    if isinstance(cause, aiohttp.ClientConnectorError):
        os_error = cause.os_error
        if isinstance(os_error, socket.gaierror):
            return AriProblem.UNRESOLVED
        if os_error.errno == errno.ECONNREFUSED:
            return AriProblem.REFUSED
        return AriProblem.UNREACHABLE
    if isinstance(cause, aiohttp.ClientError):  # a server that hung up: not ARI's HTTP
        return AriProblem.NOT_ARI
    return AriProblem.OTHER


def _short(exc: Exception) -> str:
    """The error without the ``ARI GET /asterisk/info:`` prefix the client puts first."""
    if isinstance(exc, AriError):
        return f"HTTP {exc.status}: {exc.message}"
    text = str(exc)
    head, sep, rest = text.partition(": ")
    return rest if sep and head.startswith("ARI ") else text


def describe(exc: AriError | AriUnavailable | ProtocolError, problem: AriProblem) -> str:
    """What to add to the problem's name: nothing the name already says."""
    if isinstance(exc, AriError):
        return exc.message
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError) and not isinstance(
        cause, aiohttp.ClientSSLError
    ):
        return "" if problem is AriProblem.REFUSED else cause.os_error.strerror or ""
    if isinstance(exc, AriUnavailable) and exc.status is not None:
        said = _short(exc)
        return f"HTTP {exc.status}" + (f" {said}" if said else "")
    return _short(exc)


def skipped_ari_checks(settings: Settings, because: str) -> list[Check]:
    """Every ARI line as skipped (the ARI TLS settings are wrong, say)."""
    return [skip(verdicts.ARI_ID, verdicts.ARI_TITLE, because), *_skipped(settings, because)]


def _skipped(settings: Settings, because: str) -> list[Check]:
    return [
        skip(verdicts.APP_ID, verdicts.APP_TITLE, because),
        skip(verdicts.MODULES_ID, verdicts.MODULES_TITLE, because),
        skip(MEDIA_ID, media_title(settings.media.transport), because),
        skip(ASTERISK_ID, ASTERISK_TITLE, because),
    ]


async def ari_checks(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    step_timeout_s: float = 5.0,
    audio_timeout_s: float = 3.0,
) -> list[Check]:
    """Every check made through ARI, in checklist order: of ``[ari]``, or of each ``[[pbx]]``
    entry in turn (see the module docstring). ``session`` carries the TLS context for Asterisk
    (``[ari] ca_file``/``verify``)."""
    if not settings.pbx:
        return await pbx_checks(settings, session, step_timeout_s=step_timeout_s,
                                audio_timeout_s=audio_timeout_s)
    checks: list[Check] = []
    for pbx in settings.pbx:
        one = replace(settings, ari=pbx.ari, media=pbx.media, pbx=())
        if (pbx.ari.ca_file, pbx.ari.verify) == (settings.ari.ca_file, settings.ari.verify):
            lines = await pbx_checks(one, session, step_timeout_s=step_timeout_s,
                                     audio_timeout_s=audio_timeout_s)
        else:
            lines = await _own_tls_checks(one, step_timeout_s, audio_timeout_s)
        checks.extend(named_by_pbx(line, pbx) for line in lines)
    return checks


async def _own_tls_checks(settings: Settings, step_timeout_s: float,
                          audio_timeout_s: float) -> list[Check]:
    """A PBX whose TLS settings are not ``[ari]``'s, through a session of its own."""
    try:
        context = await asyncio.to_thread(ari_client_context, settings.ari)
    except ConfigError as exc:
        return [fail(verdicts.ARI_ID, verdicts.ARI_TITLE, f"its TLS settings: {exc}",
                     "correct ca_file (a readable PEM file of CA certificates) or verify"),
                *_skipped(settings, "its TLS settings are wrong")]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as own:
        return await pbx_checks(settings, own, step_timeout_s=step_timeout_s,
                                audio_timeout_s=audio_timeout_s)


def named_by_pbx(check: Check, pbx: PbxSettings) -> Check:
    """``check`` of one ``[[pbx]]`` entry: its id, title and fix name the entry."""
    entry = f'[[pbx]] "{pbx.name}"'
    fix = check.fix.replace("[ari] ", f"{entry} ").replace("[media] ", f"{entry}'s media ")
    return replace(check, id=f"{check.id}.{pbx.name}", title=f"{pbx.name}: {check.title}",
                   fix=f"{pbx.name}: {fix}" if fix else "")


async def pbx_checks(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    step_timeout_s: float = 5.0,
    audio_timeout_s: float = 3.0,
) -> list[Check]:
    """The checks of one PBX: ``settings``' ``[ari]`` and ``[media]``."""
    ari = settings.ari
    if not ari.enabled:
        return [verdicts.ari_failure(AriProblem.NOT_CONFIGURED, ari, ""),
                *_skipped(settings, "ari.url is not set")]
    rest = AriRestClient(session, ari.url, ari.username, ari.password, timeout_s=step_timeout_s)
    try:
        info = await rest.get_info()
    except (AriError, AriUnavailable, ProtocolError) as exc:
        problem = classify(exc)
        return [verdicts.ari_failure(problem, ari, describe(exc, problem)),
                *_skipped(settings, "ARI cannot be used")]
    checks = [verdicts.ari_reached(ari, info.version or "", info.entity_id or "")]
    checks.append(await app_check(rest, ari.app))
    modules_line, loaded = await modules_check(rest, settings)
    checks.append(modules_line)
    checks.append(await probe_media(settings, session, rest, loaded_modules=loaded,
                                    step_timeout_s=step_timeout_s,
                                    audio_timeout_s=audio_timeout_s))
    checks.append(await clock_check(rest))
    return checks


async def app_check(rest: AriRestClient, app: str) -> Check:
    try:
        found = await rest.get_application(app)
    except AriError as exc:
        if exc.status == 404:
            return verdicts.app_verdict(app, registered=False)
        return warn(verdicts.APP_ID, verdicts.APP_TITLE, f"could not be read: {_short(exc)}",
                    "see the Asterisk log (/var/log/asterisk/messages)")
    except (AriUnavailable, ProtocolError) as exc:
        return warn(verdicts.APP_ID, verdicts.APP_TITLE, f"could not be read: {_short(exc)}",
                    "run `callwright doctor` again; see the Asterisk log")
    return verdicts.app_verdict(app, registered=True, channels=len(found.channel_ids),
                                bridges=len(found.bridge_ids))


async def modules_check(rest: AriRestClient, settings: Settings) -> tuple[Check, set[str] | None]:
    """The modules line, and the loaded module names (None when they could not be listed)."""
    media = settings.media
    try:
        modules = await rest.list_modules()
    except (AriError, AriUnavailable, ProtocolError) as exc:
        return warn(verdicts.MODULES_ID, verdicts.MODULES_TITLE,
                    f"could not be listed: {_short(exc)}", "`asterisk -rx 'module show'` must "
                    "list the modules in modules.conf of asterisk.conf.example"), None
    loaded = {m.name for m in modules if m.status.lower() in ("running", "")}
    return verdicts.modules_verdict(loaded, media.transport, media.format), loaded


async def clock_check(rest: AriRestClient) -> Check:
    """Our clock against Asterisk's (``GET /asterisk/ping``), within half the round trip."""
    sent = time.time()
    try:
        ping = await rest.ping()
        asterisk_time = parse_ari_time(ping.timestamp)
    except (AriError, AriUnavailable, ProtocolError, ValueError) as exc:
        return warn(ASTERISK_ID, ASTERISK_TITLE, f"Asterisk's time could not be read: "
                    f"{_short(exc)}", "compare `date -u` on both machines")
    received = time.time()
    middle = (sent + received) / 2
    return skew_verdict(asterisk_time - middle, (received - sent) / 2 + _TIMESTAMP_RESOLUTION_S)
