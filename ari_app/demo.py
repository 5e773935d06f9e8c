"""``callwright demo``: the whole call path against the project's PBX simulator (or a real
Asterisk, when ``[ari] url`` is set), with the live transcript printed as it happens.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from aiohttp import web

from ari_app.demo_caller import converse, synthesize_phrases
from ari_app.service import CallService
from ari_app.simulator.server import PbxSimulator
from callwright.call.journal import TurnRecord
from callwright.config import Settings
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.process import wait_for_signal
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.seed import seed_demo

DEMO_NUMBER = "100"
DEMO_CALLER = "+821012345678"
DEMO_PHRASES = ("안녕하세요", "네")


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
    db = await Database.open(settings.store.path)
    try:
        await seed_demo(
            db, number=DEMO_NUMBER, language="ko", greeting="", flow=DEMO_FLOW,
            record_calls=True,  # the flow's first question is the greeting
        )
    finally:
        await db.close()


async def run_demo(settings: Settings, *, once: bool, admin: bool, out: TextIO = sys.stdout) -> int:
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
    service = CallService(settings)
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
            print(f"waiting for calls from Asterisk at {settings.ari.url}", file=out)
        if once and sim is not None:
            return code
        admin_runner = await start_admin(service, settings, out) if admin else None
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
    record = rows[0]
    greeting_ms = (
        f"{(report.greeting_heard_at - placed) * 1000:.0f} ms"
        if report.greeting_heard_at is not None
        else "never"
    )
    print(f"\ncall {record.uid}: {record.status} ({record.end_reason}), "
          f"{(record.duration_ms or 0) / 1000:.1f} s", file=out)
    print(f"greeting heard {greeting_ms} after the call was placed", file=out)
    if record.recording_path:
        print(f"recording: {record.recording_path}", file=out)
    print(f"store: {settings.store.path}", file=out, flush=True)
    return 0 if record.status == "completed" else 1


async def start_admin(service: CallService, settings: Settings, out: TextIO) -> web.AppRunner:
    """Start the admin web app next to the call service (when it is installed)."""
    from admin.app import build_admin_app  # the admin ships in this repository
    from callwright.privacy.secrets import MasterKey

    assert service.db is not None
    master_key = MasterKey.load_or_create(settings.server.master_key_file)
    app = build_admin_app(service.db, settings, master_key, Path(settings.recordings.dir))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, settings.admin.host, settings.admin.port)
    await site.start()
    print(f"\nadmin: http://{settings.admin.host}:{settings.admin.port}/", file=out)
    print("log in with a user created by: callwright user add EMAIL --org demo --role owner",
          file=out)
    return runner
