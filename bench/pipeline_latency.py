"""Pipeline latency: end of the caller's turn detected → first reply frame on the wire, p50/p95,
with the part spent in each stage (STT final, dialog, TTS, first frame), for

* a flow reply (prompts prewarmed, so TTS is a cache hit), 1 call and 10 concurrent calls;
* an LLM reply from a local scripted OpenAI-compatible server with a fixed 200 ms time to first
  token (the reply is synthesised by espeak-ng as its first sentence completes).

Everything runs for real on 127.0.0.1: PBX simulator, RTP, Vosk (Korean, grammar mode for the
flow, free speech for the LLM assistant), espeak-ng, SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ari_app.demo_caller import converse, synthesize_phrases
from ari_app.service import CallService
from ari_app.simulator.server import PbxSimulator
from bench.call_latency import BENCH_FLOW, NUMBER, PASSWORD
from bench.report import save, summarize
from callwright.config import Settings, load_config
from callwright.speech.warmup import settle_heap
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from callwright.store.seed import seed_demo
from tests.fakes.openai_server import Reply, ScriptedOpenAI, ToolCall

LLM_NUMBER = "200"
TTFT_S = 0.2


def settings_for(workdir: Path, llm_url: str) -> Settings:
    return load_config(None, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(workdir),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(workdir / "master.key"),
        "CALLWRIGHT_STORE_PATH": str(workdir / "bench.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(workdir / "recordings"),
        "CALLWRIGHT_SERVER_LOG_LEVEL": "warning",
        "CALLWRIGHT_LLM_BASE_URL": llm_url,
        "CALLWRIGHT_LLM_MODEL": "scripted-model",
        "CALLWRIGHT_LLM_API_KEY": "bench-key",
    })


async def seed(settings: Settings) -> None:
    db = await Database.open(settings.store.path)
    try:
        await seed_demo(db, number=NUMBER, language="ko", greeting="", flow=BENCH_FLOW,
                        record_calls=True)
        org = await OrgRepository(db).create("LLM bench", "llm-bench")
        assistant = await AssistantRepository(db).create(
            org.id, "LLM bench", "ko", "안녕하세요.", system_prompt="Be brief.",
            llm={"enabled": True}, record_calls=True,
        )
        await NumberRepository(db).create(org.id, LLM_NUMBER, assistant_id=assistant.id)
    finally:
        await db.close()


async def one_call(
    sim: PbxSimulator, app: str, number: str, phrases: list[str], audio: list[bytes], i: int
) -> None:
    placed = time.monotonic()
    call = await sim.place_call(dialed=number, caller_number=f"+8212{i:07d}", app=app)
    await converse(call, phrases, audio, placed_at=placed, turn_timeout_s=30)


async def staggered(
    delay_s: float, sim: PbxSimulator, app: str, audio: list[bytes], i: int
) -> None:
    await asyncio.sleep(delay_s)
    await one_call(sim, app, NUMBER, ["네", "네", "아니요"], audio, i)


async def figures_since(repo: CallRepository, since_id: int) -> dict[str, Any]:
    first_frame: list[float] = []
    stages: dict[str, list[float]] = {"stt_final": [], "dialog": [], "tts": []}
    for row in await repo.list_recent_all_orgs(500):
        if row.id <= since_id:
            continue
        for turn in await repo.turns(row.id):
            if turn.speaker == "caller" and turn.stt_ms is not None:
                stages["stt_final"].append(turn.stt_ms)
            elif turn.speaker == "assistant" and turn.first_frame_ms is not None:
                first_frame.append(turn.first_frame_ms)
                if turn.dialog_ms is not None:
                    stages["dialog"].append(turn.dialog_ms)
                if turn.tts_ms is not None:
                    stages["tts"].append(turn.tts_ms)
    return {
        "turn_end_to_first_reply_frame_ms": summarize(first_frame),
        "stages_ms": {name: summarize(values) for name, values in stages.items()},
    }


async def last_call_id(repo: CallRepository) -> int:
    rows = await repo.list_recent_all_orgs(1)
    return rows[0].id if rows else 0


async def run(workdir: Path, turns: int, stagger_s: float) -> dict[str, Any]:
    end_call = ToolCall("end_call", {"reason": "done"})
    replies = [Reply.text("알겠습니다. 더 필요하신 것이 있나요?", ttft_s=TTFT_S, chunk_delay_s=0.02)
               for _ in range(turns - 1)]
    replies.append(Reply.text("감사합니다.", ttft_s=TTFT_S, tool_calls=[end_call]))
    async with ScriptedOpenAI(replies) as llm:
        settings = settings_for(workdir, llm.base_url)
        os.environ["CALLWRIGHT_LLM_API_KEY"] = "bench-key"
        sim = PbxSimulator(username=settings.ari.username, password=PASSWORD)
        await sim.start()
        settings = replace(settings, ari=replace(settings.ari, url=sim.ari_url, password=PASSWORD))
        await seed(settings)
        service = CallService(settings, settle=settle_heap)
        await service.start()
        assert service.db is not None
        repo = CallRepository(service.db)
        app = settings.ari.app
        voice = await service.speech.tts_for({"engine": "espeak-ng", "voice": "ko"})
        yes, no = await synthesize_phrases(voice, ["네", "아니요"], "ko")
        results: dict[str, Any] = {}
        try:
            mark = await last_call_id(repo)
            await one_call(sim, app, NUMBER, ["네"] * (turns - 1) + ["아니요"],
                           [yes] * (turns - 1) + [no], 0)
            await asyncio.sleep(0.5)
            results["flow_1_call"] = await figures_since(repo, mark)

            mark = await last_call_id(repo)
            # Ten calls at once, started 0.3 s apart (real callers do not end their turns in
            # the same millisecond; perfectly aligned ones are reported by --aligned).
            await asyncio.gather(*(
                staggered(i * stagger_s, sim, app, [yes, yes, no], 100 + i) for i in range(10)
            ))
            await asyncio.sleep(0.5)
            results["flow_10_concurrent_calls"] = await figures_since(repo, mark)

            mark = await last_call_id(repo)
            await one_call(sim, app, LLM_NUMBER, ["네"] * turns, [yes] * turns, 1)
            await asyncio.sleep(0.5)
            results["llm_1_call_ttft_200ms"] = await figures_since(repo, mark)
        finally:
            await service.stop()
            await sim.stop()
    flow = results["flow_1_call"]["turn_end_to_first_reply_frame_ms"]
    busy = results["flow_10_concurrent_calls"]["turn_end_to_first_reply_frame_ms"]
    results["targets"] = {
        "flow p50 <= 80 ms": flow["p50"] <= 80,
        "flow p95 <= 150 ms": flow["p95"] <= 150,
        "flow p95 <= 250 ms at 10 calls": busy["p95"] <= 250,
    }
    results["conditions"] = (
        "2 cores; simulator, call service and scripted LLM in one process; RTP ulaw 8 kHz; "
        f"10 concurrent calls started {stagger_s} s apart; "
        "dialog_ms = transcript ready -> first reply text"
    )
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline_latency")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--aligned", action="store_true",
                        help="start the 10 concurrent calls at the same instant")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="callwright-bench-") as tmp:
        figures = asyncio.run(run(Path(tmp), args.turns, 0.0 if args.aligned else 0.3))
    save("pipeline_latency", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
