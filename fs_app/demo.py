"""``callwright freeswitch-demo --once``: the Korean demo call through the FreeSWITCH simulator:
its dialplan hands number ``100`` to the FreeSWITCH call service with ``socket``, the media goes
through the simulated mod_audio_fork, a simulated caller says hello and yes."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from ari_app.demo import DEMO_CALLER, DEMO_NUMBER, DEMO_PHRASES, format_turn, report_call, seed
from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.simulator.caller import SimulatedCaller
from callwright.config import Settings
from callwright.speech.vosk_stt import SHARED_MODELS, VoskModelCache
from callwright.store.calls import CallRepository
from fs_app.service import FreeswitchService, with_ports
from fs_app.simulator.server import FreeswitchSimulator, socket_dialplan

TURN_S = 25.0


async def run_freeswitch_demo(settings: Settings, *, out: TextIO = sys.stdout,
                              vosk_models: VoskModelCache = SHARED_MODELS) -> int:
    settings = with_ports(settings, 0, 0)
    await seed(settings)
    service = FreeswitchService(settings, vosk_models=vosk_models, warm_streams=1)
    print("loading the speech model …", file=out, flush=True)
    await service.start()
    service.live.turn_observers.append(
        lambda uid, rec: print(format_turn(rec), file=out, flush=True))
    sim = FreeswitchSimulator(dialplan=socket_dialplan(
        "127.0.0.1", service.socket_port, extensions=(DEMO_NUMBER,)))
    await sim.start()
    print(f"FreeSWITCH simulator: ESL on 127.0.0.1:{sim.esl_port}, number {DEMO_NUMBER} goes to"
          f" socket 127.0.0.1:{service.socket_port}, audio by mod_audio_fork to port"
          f" {service.forks.port} at {settings.freeswitch.sample_rate} Hz", file=out, flush=True)
    try:
        tts = await service.speech.tts_for({"engine": "espeak-ng", "voice": "ko"})
        audio = await synthesize_phrases(tts, DEMO_PHRASES, "ko")
        caller = SimulatedCaller()
        placed = time.monotonic()
        call = sim.place_call(DEMO_NUMBER, caller, number=DEMO_CALLER, name="Demo")
        greeting_at = await heard_speech_after(caller, placed, TURN_S)
        for pcm in audio:
            await caller.wait_until_quiet(900, timeout=TURN_S)
            await caller.say(pcm)
            await heard_speech_after(caller, time.monotonic(), TURN_S)  # the reply begins
        try:
            await asyncio.wait_for(call.ended.wait(), TURN_S)
        except TimeoutError:
            await caller.hangup()
        assert service.db is not None
        repo = CallRepository(service.db)
        deadline = time.monotonic() + 10
        while True:
            rows = await repo.list_recent_all_orgs(1)
            if rows and rows[0].status != "in_progress" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        if not rows:
            print("no call was recorded", file=out)
            return 1
        return report_call(rows[0], settings, out,
                           f"greeting heard {(greeting_at - placed) * 1000:.0f} ms after the"
                           " call was placed")
    finally:
        await sim.stop()
        await service.stop()
