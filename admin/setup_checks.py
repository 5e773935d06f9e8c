"""The setup wizard's checks: the PBX connection it was just given, tested live, and the checks of
``callwright doctor`` that concern this server, as lines of a checklist.

The verdicts and their fixes are the doctor's (:mod:`callwright.doctor`, :mod:`ari_app.doctor`);
this module only chooses which to run from the admin. The media-path probe is left to
``callwright doctor`` (it originates test channels on the PBX): the wizard does not do that on
its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

import aiohttp

from ari_app.ami.client import AmiClient, AmiConnectFailed, AmiError, AmiLoginRefused
from ari_app.ami.client import AmiSettings as AmiLogin
from ari_app.ari.rest import AriRestClient
from ari_app.doctor import app_check, classify, clock_check, describe, modules_check
from callwright.config import AriSettings, Settings
from callwright.doctor import asterisk as verdicts
from callwright.doctor.asterisk import AriProblem
from callwright.doctor.local import ari_tls, disk_check
from callwright.doctor.report import Check, fail, ok
from callwright.doctor.speech import SPEECH_ID, check_need, speech_needs
from callwright.doctor.store import AssistantSpeech
from callwright.errors import (
    AriError,
    AriUnavailable,
    CallwrightError,
    ConfigError,
    ProtocolError,
)
from callwright.speech.model_store import load_manifest
from callwright.store.assistants import Assistant

#: How long each request to the PBX may take (a wizard must not hang on a PBX that is silent).
STEP_TIMEOUT_S = 3.0


class BadPbxSettings(ValueError):
    """What the wizard was given cannot be tried (the message says why)."""


def check_ari_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadPbxSettings("ARI URL: write it as http://host:8088 (or https://host:8089)")
    if parts.path not in ("", "/"):
        raise BadPbxSettings("ARI URL: leave out the path (/ari is added by Callwright)")
    return url.strip().rstrip("/")


async def pbx_checks(
    base: Settings, ari: AriSettings, transport: str, *, step_timeout_s: float = STEP_TIMEOUT_S
) -> list[Check]:
    """ARI reached with these credentials, the app, the modules the transport needs, the clock."""
    settings = dataclasses.replace(
        base, ari=ari, media=dataclasses.replace(base.media, transport=transport)
    )
    # Building a TLS context reads the system's CA bundle: blocking, so off the loop.
    context, tls_line = await asyncio.to_thread(ari_tls, settings)
    if context is None:
        return [tls_line]
    connector = aiohttp.TCPConnector(ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session:
        rest = AriRestClient(session, ari.url, ari.username, ari.password,
                             timeout_s=step_timeout_s)
        try:
            info = await rest.get_info()
        except (AriError, AriUnavailable, ProtocolError) as exc:
            problem = classify(exc)
            return [verdicts.ari_failure(problem, ari, describe(exc, problem))]
        checks = [verdicts.ari_reached(ari, info.version or "", info.entity_id or "")]
        checks.append(await app_check(rest, ari.app))
        checks.append((await modules_check(rest, settings))[0])
        checks.append(await clock_check(rest))
    return checks


#: The id of the AMI's line in the checklist.
AMI_ID = "ami"


async def ami_check(host: str, port: int, username: str, secret: str, *,
                    timeout_s: float = STEP_TIMEOUT_S) -> Check:
    """Connect to the AMI at ``host:port`` and log in (then leave): ok, or fail with the AMI's
    reason (the connection refused, the login refused, no answer) and what to do about it."""
    title = "AMI login"
    client = AmiClient(AmiLogin(host, port, username, secret), events=False)
    try:
        await client.connect(timeout_s=timeout_s)
    except AmiError as exc:
        if isinstance(exc, AmiLoginRefused):
            fix = (f"check the [{username}] section and its secret in manager.conf (below), "
                   "then run 'manager reload' on the PBX")
        elif isinstance(exc, AmiConnectFailed):
            fix = (f"enable the AMI in manager.conf (enabled = yes, port = {port}) and let this "
                   f"server reach {host}:{port}")
        else:
            fix = (f"check that {host}:{port} is the AMI's port (manager.conf [general] port), "
                   "not ARI's HTTP port")
        return fail(AMI_ID, title, str(exc), fix)
    finally:
        client.close()
    return ok(AMI_ID, title, f"logged in to the AMI at {host}:{port} as {username}")


async def server_checks(settings: Settings, assistants: Iterable[Assistant]) -> list[Check]:
    """The doctor's lines for this server: the configured PBX (as above, and its AMI login when
    ``[ami] host`` is set), the speech models the assistants need, the disk for recordings."""
    if settings.ari.enabled:
        checks = await pbx_checks(settings, settings.ari, settings.media.transport)
    else:
        checks = [verdicts.ari_failure(AriProblem.NOT_CONFIGURED, settings.ari, "")]
    ami = settings.ami
    if ami.enabled:
        checks.append(await ami_check(ami.host, ami.port, ami.username, ami.secret))
    try:
        manifest = await asyncio.to_thread(load_manifest)
    except ConfigError as exc:
        checks.append(fail(SPEECH_ID, "speech models", str(exc),
                           "reinstall Callwright: voice_models/manifest.json is damaged"))
    else:
        uses = [AssistantSpeech(a.name, a.stt, a.tts) for a in assistants]
        for need in speech_needs(settings.speech, uses):
            checks.append(await asyncio.to_thread(check_need, need, settings.speech, manifest))
    checks.append(await asyncio.to_thread(disk_check, settings))
    return checks


#: The id prefix of the wizard's test call's own half: the call service leaves "cw-" channels
#: alone (as the demo's), so only the dialplan's half reaches the assistant as a caller.
TEST_CALL_PREFIX = "cw-setup-"
#: Seconds the PBX has to bring the test call to the assistant.
PBX_REACH_S = 30
#: The id prefix of the dialplan's half of the test call (its otherChannelId): not "cw-", so
#: the call service takes it as a caller, and its calls row carries this id.
TEST_CALLER_PREFIX = "setup-"
TEST_CALL_ID = re.compile(re.escape(TEST_CALL_PREFIX) + r"[0-9a-f]{12}")


def caller_half(channel_id: str) -> str:
    """The id of the dialplan's half of the wizard's test call ``channel_id``."""
    return TEST_CALLER_PREFIX + channel_id.removeprefix(TEST_CALL_PREFIX)


def _rest(session: aiohttp.ClientSession, settings: Settings) -> AriRestClient:
    ari = settings.ari
    return AriRestClient(session, ari.url, ari.username, ari.password, timeout_s=STEP_TIMEOUT_S)


async def originate_test_call(settings: Settings, number: str, context: str) -> str:
    """``POST /channels`` of ``Local/<number>@<context>`` into the app (as ``callwright demo``
    places its call through a real Asterisk); the id of the channel placed. Raises an
    AriError (or AriUnavailable) when the PBX refuses or does not answer."""
    ari = settings.ari
    context_tls, tls_line = await asyncio.to_thread(ari_tls, settings)
    if context_tls is None:
        raise CallwrightError(f"the ARI TLS settings are wrong: {tls_line.detail}")
    channel_id = TEST_CALL_PREFIX + secrets.token_hex(6)
    connector = aiohttp.TCPConnector(ssl=context_tls)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _rest(session, settings).originate(
            f"Local/{number}@{context}", app=ari.app, caller_id='"Setup test call" <setup>',
            channel_id=channel_id, other_channel_id=caller_half(channel_id),
            timeout_s=PBX_REACH_S)
    return channel_id


async def pbx_channel_state(settings: Settings, channel_id: str) -> str | None:
    """The state the PBX reports for ``channel_id`` (``Ring``, ``Up``, ...), None when it has
    no such channel. Raises AriError/AriUnavailable/CallwrightError when it cannot say."""
    context_tls, tls_line = await asyncio.to_thread(ari_tls, settings)
    if context_tls is None:
        raise CallwrightError(f"the ARI TLS settings are wrong: {tls_line.detail}")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context_tls)) as session:
        try:
            channel = await _rest(session, settings).get_channel(channel_id)
        except AriError as exc:
            if exc.status == 404:
                return None
            raise
    return channel.state or "unknown"
