"""Benchmark: whole demo calls through FreeSWITCH (the simulator), beside the Asterisk figures.

    python -m bench.freeswitch_calls [--calls 3] [--barge-ins 3]

The FreeSWITCH call service (``fs_app``) takes the calls the simulator's dialplan hands to it with
``socket``; the media goes through the simulated mod_audio_fork (its 160 ms hold and 80 ms
chunks, as measured on a real FreeSWITCH). Real Vosk (Korean), espeak-ng, SQLite. Per rate
(8 and 16 kHz), ``--calls`` demo calls one after another, measuring at the simulated caller:

* greeting: the call placed → the first assistant audio heard;
* reply: the end of the caller's clip → the first reply audio heard (recognition, dialog, TTS and
  the module's playout; the clip ends with espeak-ng's own trailing silence, which covers part of
  the endpointing, so this is not the caller's silence: compare with call_latency's
  turn_end_to_first_reply_frame_ms, not with its caller_heard_gap_ms);
* playout lag: from each utterance's first frame sent to FreeSWITCH's mark report (marks);

and ``--barge-ins`` calls at 8 kHz where the caller talks over the greeting: the caller's first
word → the last greeting audio heard (killAudio included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ari_app.demo import DEMO_NUMBER, DEMO_PHRASES, seed  # noqa: E402
from ari_app.demo_caller import heard_speech_after, synthesize_phrases  # noqa: E402
from ari_app.simulator.caller import SimulatedCaller, frame_rms  # noqa: E402
from bench import report  # noqa: E402
from callwright.config import load_config  # noqa: E402
from callwright.store.calls import CallRepository  # noqa: E402
from fs_app.service import FreeswitchService, with_ports  # noqa: E402
from fs_app.simulator.server import FreeswitchSimulator, socket_dialplan  # noqa: E402

TURN_S = 25.0


def last_speech_heard(caller: SimulatedCaller, before: float) -> float:
    last = 0.0
    for t_rel, pcm in caller.heard_frames():
        at = caller.t0 + t_rel
        if at <= before and frame_rms(pcm) >= caller.speech_rms:
            last = at
    return last


async def run_rate(rate: int, calls: int, barge_ins: int, data: Path) -> dict[str, Any]:
    settings = with_ports(load_config(None, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(data), "CALLWRIGHT_STORE_PATH": str(data / "cw.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(data / "rec"),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(data / "master.key"),
        "CALLWRIGHT_FREESWITCH_SAMPLE_RATE": str(rate),
    }), 0, 0)
    await seed(settings)
    service = FreeswitchService(settings, warm_streams=1)
    await service.start()
    sim = FreeswitchSimulator(dialplan=socket_dialplan(
        "127.0.0.1", service.socket_port, extensions=(DEMO_NUMBER,)))
    await sim.start()
    greeting, reply, barge, lags = [], [], [], []
    try:
        tts = await service.speech.tts_for({"engine": "espeak-ng", "voice": "ko"})
        audio = await synthesize_phrases(tts, DEMO_PHRASES, "ko")
        for _ in range(calls):
            caller = SimulatedCaller()
            placed = time.monotonic()
            call = sim.place_call(DEMO_NUMBER, caller)
            greeting.append((await heard_speech_after(caller, placed, TURN_S) - placed) * 1000)
            for pcm in audio:
                await caller.wait_until_quiet(900, timeout=TURN_S)
                await caller.say(pcm)
                stopped = time.monotonic()
                reply.append((await heard_speech_after(caller, stopped, TURN_S) - stopped) * 1000)
            await asyncio.wait_for(call.ended.wait(), TURN_S)
        for _ in range(barge_ins):
            caller = SimulatedCaller()
            call = sim.place_call(DEMO_NUMBER, caller)
            await caller.wait_for_speech(TURN_S)
            await asyncio.sleep(1.0)
            said_at = time.monotonic()
            speaking = asyncio.ensure_future(caller.say(audio[0]))
            await asyncio.sleep(1.2)
            barge.append(max(0.0, last_speech_heard(caller, time.monotonic()) - said_at) * 1000)
            await speaking
            await caller.hangup()
            await asyncio.wait_for(call.ended.wait(), TURN_S)
        assert service.db is not None
        await asyncio.sleep(0.5)
        for call_row in await CallRepository(service.db).list_recent_all_orgs(calls + barge_ins):
            for event in await CallRepository(service.db).events(call_row.id):
                if event.kind == "freeswitch_media" and event.detail.get("playout_lag_ms_p50"):
                    lags.append(float(event.detail["playout_lag_ms_p50"]))
    finally:
        await sim.stop()
        await service.stop()
    out: dict[str, Any] = {"greeting_ms": report.summarize(greeting),
                           "reply_after_turn_end_ms": report.summarize(reply),
                           "playout_lag_ms_per_call_p50": report.summarize(lags)}
    if barge:
        out["barge_in_stop_ms"] = report.summarize(barge)
    return out


async def run(calls: int, barge_ins: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    before = os.getloadavg()
    for rate in (8000, 16000):
        with tempfile.TemporaryDirectory() as tmp:
            figures[f"{rate // 1000}k"] = await run_rate(
                rate, calls, barge_ins if rate == 8000 else 0, Path(tmp))
    # the machine is shared: the figures mean little without how busy it was
    figures["machine"] = {"cpus": os.cpu_count(), "load_1min_before": round(before[0], 2),
                          "load_1min_after": round(os.getloadavg()[0], 2)}
    return figures


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=3, help="demo calls per rate")
    p.add_argument("--barge-ins", type=int, default=3, help="barge-in calls at 8 kHz")
    args = p.parse_args(argv)
    figures = asyncio.run(run(args.calls, args.barge_ins))
    for rate, values in figures.items():
        for name, summary in values.items():
            print(f"{rate} {name}: {summary}")
    report.save("freeswitch_calls", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
