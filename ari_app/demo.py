"""``callwright demo``: the whole call path, with the live transcript printed as it happens.

With no Asterisk configured, against the project's PBX simulator: a simulated caller speaks to the
demo assistant. With ``[ari] url`` set, through that Asterisk: the demo originates a Local channel
into ``[demo] context`` (``Local/100@callwright-inbound``), whose dialplan hands the other half to
our ARI app as a caller; that caller stays silent. ``--once`` exits when the call is over.

Without ``--once`` the admin runs next to it, over HTTPS when ``[admin] tls_cert`` and ``tls_key``
are set (both files are checked before anything starts). The demo takes one call, so the service
warms one free-speech recognizer instead of the product's eight: its start-up stays quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import aiohttp
from aiohttp import web

from ari_app.ari.rest import AriRestClient
from ari_app.demo_caller import converse, synthesize_phrases
from ari_app.service import CallService
from ari_app.simulator.server import PbxSimulator
from callwright.call.journal import TurnRecord
from callwright.config import Settings
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.errors import AriError, CallwrightError
from callwright.process import wait_for_signal
from callwright.speech.vosk_stt import SHARED_MODELS, VoskModelCache
from callwright.store.calls import Call, CallRepository
from callwright.store.db import Database, open_store
from callwright.store.seed import seed_demo
from callwright.tls import admin_server_context, ari_client_context

DEMO_NUMBER = "100"
DEMO_CALLER = "+821012345678"
DEMO_PHRASES = ("안녕하세요", "네")
#: The id of the demo call's own half (;1) of the Local pair. The call service leaves channels
#: whose id starts with "cw-" alone (ari_app.application), so it takes only the ;2 half as a call.
DEMO_CHANNEL_PREFIX = "cw-demo-"
#: Seconds the PBX has to bring the demo call to the assistant (also the originate's timeout).
PBX_REACH_S = 30
#: How often the demo checks whether its channel still exists.
POLL_S = 0.2
#: Seconds the call service has to close the call's row once the channel is gone.
CLOSE_WITHIN_S = 10.0
#: Free-speech recognizers the demo's service warms at start-up (one call at a time here).
DEMO_WARM_STREAMS = 1


def format_turn(record: TurnRecord) -> str:
    who = "caller   " if record.speaker == "caller" else "assistant"
    figures = []
    for name in ("stt_ms", "dialog_ms", "tts_ms", "first_frame_ms"):
        value = getattr(record, name)
        if value is not None:
            figures.append(f"{name.removesuffix('_ms')} {value} ms")
    cut = " [interrupted]" if record.interrupted else ""
    timing = f"  ({', '.join(figures)})" if figures else ""
    return f"  {who} │ {record.text or '(nothing recognised)'}{cut}{timing}"


async def seed(settings: Settings) -> None:
    db = await open_store(settings.store)
    try:
        await seed_demo(
            db, number=DEMO_NUMBER, language="ko", greeting="", flow=DEMO_FLOW,
            record_calls=True,  # the flow's first question is the greeting
        )
    finally:
        await db.close()


async def run_demo(
    settings: Settings, *, once: bool, admin: bool, out: TextIO = sys.stdout,
    vosk_models: VoskModelCache = SHARED_MODELS,
) -> int:
    # A wrong certificate or key stops the demo here, naming the setting, before anything starts.
    admin_tls = admin_server_context(settings.admin) if admin else None
    sim: PbxSimulator | None = None
    if not settings.ari.enabled:
        password = secrets.token_urlsafe(18)
        sim = PbxSimulator(
            host=settings.demo.simulator_host,
            port=settings.demo.simulator_port,
            username=settings.ari.username,
            password=password,
        )
        await sim.start()
        settings = replace(settings, ari=replace(settings.ari, url=sim.ari_url, password=password))
        print(f"PBX simulator (fake Asterisk 22) listening at {sim.ari_url}/ari", file=out)
    await seed(settings)
    service = CallService(settings, vosk_models=vosk_models, warm_streams=DEMO_WARM_STREAMS)
    print("loading the speech model …", file=out, flush=True)
    await service.start()
    print(f"call service connected to ARI as {settings.ari.app!r}", file=out)
    service.live.turn_observers.append(
        lambda uid, rec: print(format_turn(rec), file=out, flush=True)
    )
    service.live.end_observers.append(
        lambda uid, status, reason: print(f"  call {uid} ended: {status} ({reason})", file=out)
    )
    code = 0
    try:
        if sim is not None:
            code = await place_demo_call(sim, service, settings, out)
        else:
            placed = await place_pbx_demo_call(service, settings, out)
            if placed is None:
                return 1
            code = placed
        if once:
            return code
        admin_runner = None
        if admin:
            assert service.db is not None
            admin_runner = await start_admin(service.db, settings, out, admin_tls)
        print("press Ctrl-C to stop", file=out, flush=True)
        try:
            await wait_for_signal()
        finally:
            if admin_runner is not None:
                await admin_runner.cleanup()
        return code
    finally:
        await service.stop()
        if sim is not None:
            await sim.stop()


async def place_demo_call(
    sim: PbxSimulator, service: CallService, settings: Settings, out: TextIO
) -> int:
    voice = await service.speech.tts_for({"engine": "espeak-ng", "voice": "ko"})
    phrases = await synthesize_phrases(voice, DEMO_PHRASES, "ko")
    print(f"\nplacing a simulated call from {DEMO_CALLER} to {DEMO_NUMBER} …", file=out, flush=True)
    placed = time.monotonic()
    call = await sim.place_call(
        dialed=DEMO_NUMBER, caller_number=DEMO_CALLER, caller_name="Demo caller",
        app=settings.ari.app,
    )
    report = await converse(call, DEMO_PHRASES, phrases, placed_at=placed)
    await asyncio.sleep(0.3)  # let the session close the call row
    assert service.db is not None
    calls = CallRepository(service.db)
    rows = await calls.list_recent_all_orgs(1)
    if not rows:
        print("the call left no record", file=out)
        return 1
    greeting_ms = (
        f"{(report.greeting_heard_at - placed) * 1000:.0f} ms"
        if report.greeting_heard_at is not None
        else "never"
    )
    return report_call(rows[0], settings, out,
                       f"greeting heard {greeting_ms} after the call was placed")


def report_call(record: Call, settings: Settings, out: TextIO, *notes: str) -> int:
    """Print how the demo call ended and where it went; 0 if it completed."""
    print(f"\ncall {record.uid}: {record.status} ({record.end_reason}), "
          f"{(record.duration_ms or 0) / 1000:.1f} s", file=out)
    for note in notes:
        print(note, file=out)
    if record.recording_path:
        print(f"recording: {record.recording_path}", file=out)
    print(f"store: {settings.store.path}", file=out, flush=True)
    return 0 if record.status == "completed" else 1


async def place_pbx_demo_call(service: CallService, settings: Settings, out: TextIO) -> int | None:
    """Place the demo call through the configured Asterisk, wait for its end and report it.

    The call is ``POST /channels`` of ``Local/<demo number>@<[demo] context>`` into our own ARI
    app: the context's dialplan sends the ``;2`` half to ``Stasis(<app>,<demo number>)``, where the
    call service takes it as a call from the demo caller. Returns the call's exit code, or None
    when no call could be placed or none reached the assistant (said on ``out``)."""
    ari = settings.ari
    endpoint = f"Local/{DEMO_NUMBER}@{settings.demo.context}"
    channel_id = DEMO_CHANNEL_PREFIX + secrets.token_hex(6)
    assert service.db is not None
    calls = CallRepository(service.db)
    newest = await calls.list_recent_all_orgs(1)
    last_id = newest[0].id if newest else 0
    print(f"\nplacing the demo call through Asterisk at {ari.url}: {endpoint}, "
          f"from {DEMO_CALLER} …", file=out)
    print("the demo caller stays silent: the assistant greets, asks again, then hangs up",
          file=out, flush=True)
    connector = aiohttp.TCPConnector(ssl=ari_client_context(ari))  # as the call service's
    async with aiohttp.ClientSession(connector=connector) as http:
        rest = AriRestClient(http, ari.url, ari.username, ari.password)
        try:
            await rest.originate(
                endpoint, app=ari.app, caller_id=f'"Demo caller" <{DEMO_CALLER}>',
                channel_id=channel_id, timeout_s=PBX_REACH_S,
            )
        except CallwrightError as exc:
            print(f"the demo call could not be placed: {exc}", file=out, flush=True)
            return None
        if not await follow_demo_channel(rest, service, channel_id, last_id):
            print(f"no call reached the assistant within {PBX_REACH_S} s; the demo call was "
                  "hung up", file=out)
    record = await demo_call_record(service, calls, last_id)
    if record is None:
        print(f"the demo call ended without reaching the assistant: check that context "
              f"{settings.demo.context!r} ([demo] context) exists on Asterisk and sends "
              f"{DEMO_NUMBER} to Stasis({ari.app},${{EXTEN}}), as [callwright-inbound] in "
              "dialplan/extensions_callwright.conf does", file=out, flush=True)
        return None
    return report_call(record, settings, out)


def demo_call_in_progress(service: CallService, last_id: int) -> bool:
    return any(
        call.call_id > last_id and call.caller == DEMO_CALLER and call.dialed == DEMO_NUMBER
        for call in service.live.calls.values()
    )


async def follow_demo_channel(
    rest: AriRestClient, service: CallService, channel_id: str, last_id: int
) -> bool:
    """Wait until the demo's channel is gone (the call is over). If no call reached the
    assistant within ``PBX_REACH_S``, hang the channel up and return False."""
    deadline = time.monotonic() + PBX_REACH_S
    reached = False
    while True:
        reached = reached or demo_call_in_progress(service, last_id)
        try:
            await rest.get_channel(channel_id)
        except AriError as exc:
            if exc.status == 404:
                return True
            raise
        if not reached and time.monotonic() > deadline:
            with contextlib.suppress(CallwrightError):
                await rest.hangup(channel_id)
            return False
        await asyncio.sleep(POLL_S)


async def demo_call_record(
    service: CallService, calls: CallRepository, last_id: int
) -> Call | None:
    """The demo call's row, once the call service has closed it; None if there is none."""
    ended = asyncio.Event()

    def on_end(uid: str, status: str, reason: str) -> None:
        ended.set()

    service.live.end_observers.append(on_end)
    deadline = time.monotonic() + CLOSE_WITHIN_S
    try:
        while True:
            ended.clear()
            remaining = deadline - time.monotonic()
            if not demo_call_in_progress(service, last_id) or remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), remaining)
    finally:
        service.live.end_observers.remove(on_end)
    for record in await calls.list_recent_all_orgs(5):
        if record.id > last_id and record.caller_number == DEMO_CALLER \
                and record.dialed == DEMO_NUMBER:
            return record
    return None


async def start_admin(
    db: Database, settings: Settings, out: TextIO, ssl_context: ssl.SSLContext | None = None
) -> web.AppRunner:
    """Start the admin web app next to the call service, on the call service's store; over
    HTTPS with ``ssl_context`` (``admin_server_context`` of ``[admin] tls_cert``/``tls_key``)."""
    from admin.app import build_admin_app  # the admin ships in this repository
    from callwright.privacy.secrets import MasterKey

    master_key = MasterKey.load_or_create(settings.server.master_key_file)
    app = build_admin_app(db, settings, master_key, Path(settings.recordings.dir))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, settings.admin.host, settings.admin.port, ssl_context=ssl_context)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    scheme = "http" if ssl_context is None else "https"
    print(f"\nadmin: {scheme}://{settings.admin.host}:{settings.admin.port}/", file=out)
    print("log in with a user created by: callwright user add EMAIL --org demo --role owner",
          file=out)
    return runner
