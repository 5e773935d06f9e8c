"""First use on a cold process: what each speech engine, client and per-call object costs the
first time it is used, and how long the event loop beside it goes unanswered meanwhile.

    python -m bench.first_use                  # every probe, cold and after the product warm-up
    python -m bench.first_use piper vosk       # some probes

Each probe runs in a fresh interpreter (``--probe NAME --mode MODE``), twice:

* ``cold``: the steps a call would take, on a process that has done nothing yet;
* ``warm``: the product's warm-up first (:mod:`callwright.speech.warmup`, what the call service
  runs before it connects to ARI), shown as its own ``start-up warm-up`` row, then the same steps.

Per step: wall time, CPU time of this process (all its threads; pocketsphinx's worker processes
are not counted) and ``loop``, the longest an event loop running beside it went unanswered (a
thread pings it every 5 ms, like the tests' watchdog). Blocking work runs where the product runs
it (imports and models in worker threads, decoding on the engines' threads), so a long ``loop``
means the GIL was held: a call would have stalled that long.

``llm_calls`` starts the real call service in a fresh process (Vosk free speech, espeak-ng, a
scripted OpenAI-compatible LLM with 200 ms to first token) against the PBX simulator, places 5
calls 200 ms apart as soon as it is ready, then 5 more: the delay from the end of the caller's
words to the first reply audio each caller heard, and the CPU seconds of each wave.

The figures go to ``bench/results/first_use.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MARK = "FIRST_USE_JSON "
PROBES = ("piper", "vosk", "pocketsphinx", "espeak", "openai", "media", "argon2", "llm_calls")
#: Probes measured on a cold process only: nothing of theirs is warmed by the call service.
COLD_ONLY = ("argon2", "llm_calls")
RATE = 8000
CONCURRENT = 5


# -- measuring, in the probe's process -------------------------------------------------------------


class LoopWatch:
    """Pings the loop from a thread every 5 ms; ``worst`` is the longest unanswered ping (s)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loop-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            answered = threading.Event()
            sent = time.perf_counter()
            try:
                self.loop.call_soon_threadsafe(answered.set)
            except RuntimeError:
                return
            answered.wait()
            self.worst = max(self.worst, time.perf_counter() - sent)
            self._stop.wait(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Steps:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.watch = LoopWatch(asyncio.get_running_loop())

    async def measure(self, label: str, work: Callable[[], Awaitable[Any]]) -> Any:
        await asyncio.sleep(0.05)  # let the watch thread settle on an idle loop
        self.watch.worst = 0.0
        started, cpu = time.perf_counter(), cpu_s()
        result = await work()
        wall = time.perf_counter() - started
        self.rows.append({
            "step": label,
            "wall_ms": round(wall * 1000, 1),
            "cpu_ms": round((cpu_s() - cpu) * 1000, 1),
            "loop_ms": round(self.watch.worst * 1000, 1),
        })
        return result


async def in_thread_import(*modules: str) -> None:
    for name in modules:
        await asyncio.to_thread(importlib.import_module, name)


async def warm_up_imports(steps: Steps) -> None:
    from callwright.speech.warmup import import_native_modules

    await steps.measure("start-up warm-up: imports", lambda: asyncio.to_thread(
        import_native_modules))


async def speak(text: str, voice: str, rate: int = RATE) -> bytes:
    from callwright.speech.espeak_tts import EspeakTts

    pad = bytes(rate * 2 * 300 // 1000)
    return pad + await EspeakTts(voice).synthesize(text, rate) + pad


async def one_turn(stt: Any, pcm: bytes, rate: int = RATE) -> str:
    stream = await stt.open_stream(rate)
    try:
        frame = rate * 2 * 20 // 1000
        for at in range(0, len(pcm), frame):
            stream.feed(pcm[at : at + frame])
        return str((await stream.finish()).text)
    finally:
        await stream.close()


async def turns(stt: Any, pcm: Sequence[bytes]) -> list[str]:
    return list(await asyncio.gather(*(one_turn(stt, p) for p in pcm)))


# -- the probes ------------------------------------------------------------------------------------


async def probe_piper(steps: Steps, warm: bool, voice: Path) -> None:
    from callwright.config import SpeechSettings
    from callwright.speech.registry import SpeechEngines

    speech = SpeechEngines(SpeechSettings(tts_engine="piper"))
    options = {"engine": "piper", "voice": str(voice)}
    try:
        if warm:
            await warm_up_imports(steps)
            await steps.measure("start-up warm-up: voice", lambda: warm_engine_tts(
                speech, options))
        await steps.measure("import piper, onnxruntime", lambda: in_thread_import(
            "onnxruntime", "piper"))
        tts = await steps.measure("load the voice", lambda: speech.tts_for(options))
        await steps.measure("first synthesis", lambda: tts.inner.synthesize(
            "Hello world, this is a test.", RATE))
        await steps.measure("second synthesis", lambda: tts.inner.synthesize(
            "Good morning, how can I help?", RATE))
    finally:
        await speech.close()


async def warm_engine_tts(speech: Any, options: dict[str, Any]) -> None:
    from callwright.speech.warmup import warm_tts

    await warm_tts(await speech.tts_for(options), RATE, None)


async def probe_stt(steps: Steps, warm: bool, engine: str) -> None:
    from callwright.config import SpeechSettings
    from callwright.speech.registry import SpeechEngines

    language = "ko" if engine == "vosk" else "en-us"
    short = await speak("네" if engine == "vosk" else "yes", language)
    longer = await speak(
        "예약을 변경하고 싶습니다" if engine == "vosk" else "I would like to change my booking",
        language,
    )
    speech = SpeechEngines(SpeechSettings(stt_engine=engine))
    try:
        if warm:
            from callwright.speech.warmup import DEFAULT_WARM_STREAMS, warm_stt

            await warm_up_imports(steps)

            async def warm_engine() -> None:
                await warm_stt(await speech.stt_for(None), RATE, DEFAULT_WARM_STREAMS)

            await steps.measure(
                f"start-up warm-up: model, {DEFAULT_WARM_STREAMS} streams", warm_engine
            )
        await steps.measure(f"import {engine}", lambda: in_thread_import(engine))
        stt = await steps.measure("load the model", lambda: speech.stt_for(None))
        await steps.measure("first turn (free speech)", lambda: one_turn(stt, short))
        await steps.measure(f"{CONCURRENT} turns at once", lambda: turns(stt, [short] * CONCURRENT))
        await steps.measure(f"{CONCURRENT} turns at once again", lambda: turns(
            stt, [short] * CONCURRENT))
        await steps.measure("a new sentence (content, not first use)", lambda: one_turn(
            stt, longer))
    finally:
        await speech.close()


async def probe_espeak(steps: Steps, warm: bool) -> None:
    from callwright.config import SpeechSettings
    from callwright.speech.registry import SpeechEngines

    speech = SpeechEngines(SpeechSettings())
    options = {"engine": "espeak-ng", "voice": "ko"}
    try:
        if warm:
            await warm_up_imports(steps)
            await steps.measure("start-up warm-up: voice", lambda: warm_engine_tts(
                speech, options))
        tts = await steps.measure("build the engine", lambda: speech.tts_for(options))
        await steps.measure("first synthesis", lambda: tts.inner.synthesize("안녕하세요.", RATE))
        await steps.measure("second synthesis", lambda: tts.inner.synthesize(
            "무엇을 도와드릴까요?", RATE))
    finally:
        await speech.close()


async def probe_openai(steps: Steps, warm: bool) -> None:
    import openai

    from callwright.config import LlmSettings, SpeechSettings
    from callwright.dialog.llm_client import LlmClientFactory
    from callwright.speech.registry import SpeechEngines
    from tests.fakes.openai_audio_server import ScriptedAudioServer, Transcription
    from tests.fakes.openai_server import Reply, ScriptedOpenAI

    replies = [Reply.text("Hello there. How can I help?") for _ in range(2)]
    heard = [Transcription("yes") for _ in range(2)]
    async with ScriptedOpenAI(replies) as llm, ScriptedAudioServer(transcriptions=heard) as audio:
        if warm:
            await warm_up_imports(steps)
        settings = LlmSettings(base_url=llm.base_url, model="m")
        factory = LlmClientFactory(settings, None, env={settings.api_key_env: "k"})
        client = await steps.measure("LLM client (built in a thread)", lambda: factory.client_for(
            1, None))

        async def reply() -> None:
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            async for _ in stream:
                pass

        await steps.measure("first streamed reply", reply)
        await steps.measure("second streamed reply", reply)
        speech = SpeechEngines(
            SpeechSettings(),
            openai_client=lambda: openai.AsyncOpenAI(base_url=audio.base_url, api_key="k"),
        )
        try:
            stt = await steps.measure("STT engine (its client)", lambda: speech.stt_for(
                {"engine": "openai"}))
            pcm = bytes(RATE * 2)
            await steps.measure("first transcription", lambda: one_turn(stt, pcm))
            await steps.measure("second transcription", lambda: one_turn(stt, pcm))
        finally:
            await speech.close()
        await factory.aclose()


async def probe_media(steps: Steps, warm: bool) -> None:
    from callwright.dialog.sentences import SentenceSplitter
    from callwright.media.resample import Resampler, resample_once
    from callwright.speech.vad import VoiceActivityDetector

    if warm:
        await warm_up_imports(steps)

    async def per_call() -> None:
        vad = VoiceActivityDetector(RATE, 2, 20)
        frame = bytes(RATE * 2 * 20 // 1000)
        for _ in range(50):
            vad.is_speech(frame)
        Resampler(RATE, 16000).process(frame * 5)
        resample_once(bytes(22050 * 2), 22050, RATE)
        splitter = SentenceSplitter()
        splitter.push("Hello there. How are")
        splitter.flush()

    await steps.measure("VAD, resamplers, sentence splitter: first call", per_call)
    await steps.measure("VAD, resamplers, sentence splitter: second call", per_call)


async def probe_argon2(steps: Steps, warm: bool) -> None:
    await steps.measure("import argon2 (admin)", lambda: in_thread_import("argon2"))
    from callwright.accounts.passwords import Passwords

    passwords = Passwords()
    await steps.measure("first hash (in a thread)", lambda: asyncio.to_thread(
        passwords.hash_sync, "correct horse"))
    await steps.measure("second hash (in a thread)", lambda: asyncio.to_thread(
        passwords.hash_sync, "battery staple"))


async def probe_llm_calls(steps: Steps, warm: bool) -> None:
    from ari_app.demo_caller import converse
    from ari_app.service import CallService
    from ari_app.simulator.server import PbxSimulator
    from bench.call_latency import PASSWORD
    from bench.pipeline_latency import LLM_NUMBER, seed, settings_for
    from tests.fakes.openai_server import Reply, ScriptedOpenAI

    yes = await speak("네", "ko")
    answer = Reply.text("알겠습니다. 더 필요하신 것이 있나요?", ttft_s=0.2, chunk_delay_s=0.02)

    async def wave(sim: PbxSimulator, app: str, first: int) -> list[float]:
        async def one(i: int) -> float:
            await asyncio.sleep(i * 0.2)
            placed = time.monotonic()
            call = await sim.place_call(
                dialed=LLM_NUMBER, caller_number=f"+8213{first + i:06d}", app=app
            )
            report = await converse(call, ["네"], [yes], placed_at=placed, turn_timeout_s=30,
                                    hang_up_at_end=True)
            turn = report.turns[0]
            assert turn.reply_heard_at is not None
            return round((turn.reply_heard_at - turn.stopped_at) * 1000)

        return list(await asyncio.gather(*(one(i) for i in range(CONCURRENT))))

    with tempfile.TemporaryDirectory(prefix="callwright-first-use-") as tmp:
        async with ScriptedOpenAI([], default=answer) as llm:
            settings = settings_for(Path(tmp), llm.base_url)
            os.environ["CALLWRIGHT_LLM_API_KEY"] = "bench-key"
            sim = PbxSimulator(username=settings.ari.username, password=PASSWORD)
            await sim.start()
            settings = replace(
                settings, ari=replace(settings.ari, url=sim.ari_url, password=PASSWORD)
            )
            await seed(settings)
            service = CallService(settings)
            try:
                await steps.measure("service start-up (until ready)", service.start)
                app = settings.ari.app
                for label, first in (("first", 0), ("next", 100)):
                    delays = await steps.measure(
                        f"{label} {CONCURRENT} calls, 200 ms apart", lambda f=first: wave(
                            sim, app, f)
                    )
                    steps.rows[-1]["reply_ms"] = delays
                    await asyncio.sleep(1.0)
            finally:
                await service.stop()
                await sim.stop()


async def run_probe(name: str, mode: str, voice: Path | None) -> list[dict[str, Any]]:
    steps = Steps()
    warm = mode == "warm"
    try:
        if name == "piper":
            assert voice is not None
            await probe_piper(steps, warm, voice)
        elif name in ("vosk", "pocketsphinx"):
            await probe_stt(steps, warm, name)
        else:
            await globals()[f"probe_{name}"](steps, warm)
    finally:
        steps.watch.stop()
    return steps.rows


# -- the runner ------------------------------------------------------------------------------------


def build_voice(directory: Path) -> Path:
    """The tiny Piper test voice, built in a child so that ``onnx`` stays out of the probes."""
    code = (
        "import sys; from pathlib import Path; from tests.fakes.piper_voice import "
        "build_tiny_voice; print(build_tiny_voice(Path(sys.argv[1])))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(directory)], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    return Path(out.stdout.strip())


def run_child(name: str, mode: str, voice: Path) -> list[dict[str, Any]] | str:
    argv = [sys.executable, "-m", "bench.first_use", "--probe", name, "--mode", mode,
            "--voice", str(voice)]
    proc = subprocess.run(argv, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            rows: list[dict[str, Any]] = json.loads(line[len(MARK):])
            return rows
    tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    return f"failed: {tail}"


def cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return f"{'':>27}"
    return f"{row['wall_ms']:>8.0f} {row['cpu_ms']:>8.0f} {row['loop_ms']:>8.0f} "


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(f"{'probe':<13}{'step':<44}{'cold: wall':>11}{'cpu':>9}{'loop':>9}"
          f" |{'warm: wall':>11}{'cpu':>9}{'loop':>9}   (ms)")
    for name, modes in results.items():
        cold, warm = modes.get("cold"), modes.get("warm")
        if isinstance(cold, str) or isinstance(warm, str):
            print(f"{name:<13}{cold if isinstance(cold, str) else warm}")
        cold_rows = cold if isinstance(cold, list) else []
        warm_rows = warm if isinstance(warm, list) else []
        labels = [r["step"] for r in warm_rows if r["step"].startswith("start-up")]
        labels += [r["step"] for r in cold_rows]
        for label in labels:
            c = next((r for r in cold_rows if r["step"] == label), None)
            w = next((r for r in warm_rows if r["step"] == label), None)
            print(f"{name:<13}{label[:43]:<44}{cell(c)}|{cell(w)}")
            for r in (c, w):
                if r is not None and "reply_ms" in r:
                    print(f"{'':<13}{'  reply heard after (ms): ' + str(r['reply_ms']):<44}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_use")
    parser.add_argument("probes", nargs="*", help=f"some of: {' '.join(PROBES)} (default: all)")
    parser.add_argument("--probe", choices=PROBES, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("cold", "warm"), default="cold", help=argparse.SUPPRESS)
    parser.add_argument("--voice", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:  # a child: one measurement, on this fresh process
        rows = asyncio.run(run_probe(args.probe, args.mode, args.voice))
        print(MARK + json.dumps(rows, ensure_ascii=False), flush=True)
        return 0
    wanted = args.probes or list(PROBES)
    unknown = [name for name in wanted if name not in PROBES]
    if unknown:
        parser.error(f"unknown probe(s) {', '.join(unknown)}: choose from {', '.join(PROBES)}")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="callwright-voice-") as tmp:
        voice = build_voice(Path(tmp))
        for name in wanted:
            modes = ("cold",) if name in COLD_ONLY else ("cold", "warm")
            results[name] = {mode: run_child(name, mode, voice) for mode in modes}
            print(f"   {name}: done", file=sys.stderr, flush=True)
    print_table(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    saved = RESULTS / "first_use.json"
    figures: dict[str, Any] = json.loads(saved.read_text()) if saved.exists() else {}
    figures.update(results)
    figures["conditions"] = (
        f"{os.cpu_count()} cores; each probe in a fresh interpreter; loop = longest unanswered "
        "5 ms ping of an event loop running beside the step; cpu = this process's threads only"
    )
    saved.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    print(f"figures saved in {saved}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
