"""The EAGI entry point against a fake Asterisk: the recorded EAGI environment on stdin, our
commands read from stdout, the caller's audio (real espeak-ng Korean speech, 8 kHz slin) on a
pipe at fd 3, and a real SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agi.eagi import EagiFds, run_eagi
from callwright.config import Settings, load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.speech.espeak_tts import EspeakTts
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.calls import Call, CallRepository
from callwright.store.seed import seed_demo
from callwright.store.turns import Turn
from tests.agi.conftest import AgiFacts, FakeAsterisk, MakeStore

REPO = Path(__file__).resolve().parents[2]
RATE = 8000
FRAME = RATE * 20 // 1000 * 2  # 320 bytes, as Asterisk writes them


@dataclass
class Prompt:
    path: str
    escape_digits: str
    pcm: bytes

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE

    @property
    def rms(self) -> float:
        samples = np.frombuffer(self.pcm, dtype="<i2").astype(np.float64)
        return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


OnPrompt = Callable[["EagiAsterisk", Prompt], Awaitable[str]]


@dataclass
class EagiAsterisk:
    """Asterisk's side of an EAGI call: answers commands as the real one does, writes the
    caller's audio to fd 3, and can hang the caller up."""

    peer: FakeAsterisk
    audio: asyncio.WriteTransport
    on_prompt: OnPrompt
    variables: dict[str, str] = field(default_factory=dict)
    prompts: list[Prompt] = field(default_factory=list)
    dead: bool = False
    on_hangup: Callable[[], None] | None = None

    async def run(self) -> None:
        while (words := await self.peer.next_command(within_s=60)) is not None:
            await self.peer.send(await self._answer(words) + "\n")

    async def _answer(self, words: list[str]) -> str:
        if words[:2] == ["GET", "VARIABLE"]:
            value = self.variables.get(words[2])
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        if words[:2] == ["SET", "VARIABLE"]:
            self.variables[words[2]] = words[3]
            return "200 result=1"
        if words[0] == "VERBOSE":
            return "200 result=1"
        if self.dead:
            return "511 Command Not Permitted on a dead channel or intercept routine"
        if words == ["ANSWER"]:
            return "200 result=0"
        if words == ["HANGUP"]:
            asyncio.get_running_loop().call_later(0.043, self.hang_up)
            return "200 result=1"
        if words[:2] == ["STREAM", "FILE"] and len(words) == 4:
            # The file must exist while it plays.
            pcm = await asyncio.to_thread(Path(words[2] + ".sln").read_bytes)
            prompt = Prompt(words[2], words[3], pcm)
            self.prompts.append(prompt)
            return await self.on_prompt(self, prompt)
        return "510 Invalid or unknown command"

    def hang_up(self) -> None:
        """The channel hangs up: the HANGUP line, fd 3 closes, (SIGHUP to a real script)."""
        if self.dead:
            return
        self.dead = True
        self.peer.writer.write(b"HANGUP\n")
        self.audio.close()
        if self.on_hangup is not None:
            self.on_hangup()

    async def speak(self, pcm: bytes, *, lead_s: float = 0.3, tail_s: float = 0.2) -> None:
        """Write audio to fd 3 in real time, 20 ms per frame, then stop sending (as Asterisk
        does when the caller's side goes quiet)."""
        audio = bytes(int(RATE * lead_s) * 2) + pcm + bytes(int(RATE * tail_s) * 2)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i, offset in enumerate(range(0, len(audio), FRAME)):
            if self.dead:
                return
            self.audio.write(audio[offset:offset + FRAME])
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))


async def write_pipe(fd: int) -> asyncio.WriteTransport:
    transport, _ = await asyncio.get_running_loop().connect_write_pipe(
        asyncio.Protocol, os.fdopen(fd, "wb", buffering=0)
    )
    return transport


async def read_pipe(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    reader = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader, transport


def store_settings(db_path: Path, **env: str) -> Settings:
    return load_config(None, env={"CALLWRIGHT_STORE_PATH": str(db_path),
                                  "CALLWRIGHT_SPEECH_STT_THREADS": "1", **env})


async def reply_at_once(fake: EagiAsterisk, prompt: Prompt) -> str:
    return f"200 result=0 endpos={len(prompt.pcm) // 2}"


# -- in-process runs (the script's coroutine, real pipes) -----------------------------------------


@dataclass
class InProcess:
    fake: EagiAsterisk
    exit: asyncio.Task[int]
    script_fds: list[int]  # the script's ends of the pipes (Asterisk closes them when it ends)
    commands_in: asyncio.BaseTransport

    def close_script_fds(self) -> None:
        for fd in self.script_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.script_fds.clear()


StartInProcess = Callable[..., Awaitable[InProcess]]


@pytest.fixture
async def start_in_process(agi_facts: AgiFacts) -> AsyncIterator[StartInProcess]:
    """``await start_in_process(settings, on_prompt)``: ``run_eagi`` on three OS pipes, with a
    fake Asterisk on the other ends that has sent the recorded EAGI environment."""
    runs: list[InProcess] = []

    async def start(settings: Settings, on_prompt: OnPrompt = reply_at_once,
                    vosk_models: VoskModelCache | None = None, audio: bool = True) -> InProcess:
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        audio_r, audio_w = os.pipe()
        script_fds = [stdin_r, stdout_w, audio_r]
        if not audio:
            os.close(audio_r)
            script_fds.remove(audio_r)
        commands, commands_in = await read_pipe(stdout_r)
        peer = FakeAsterisk(commands, await write_pipe(stdin_w))
        fake = EagiAsterisk(peer, await write_pipe(audio_w), on_prompt)
        await peer.send(agi_facts.eagi_env)
        options: dict[str, Any] = {"handle_sighup": False}
        if vosk_models is not None:
            options["vosk_models"] = vosk_models
        task = asyncio.get_running_loop().create_task(
            run_eagi(settings, EagiFds(stdin_r, stdout_w, audio_r if audio else 99), **options)
        )
        run = InProcess(fake, task, script_fds, commands_in)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if not run.exit.done():
            run.exit.cancel()
        with contextlib.suppress(BaseException):
            await run.exit
        run.close_script_fds()
        run.fake.audio.close()
        run.fake.peer.writer.close()
        run.commands_in.close()


async def finish(run: InProcess, within_s: float = 20.0) -> int:
    """Let the fake answer until the script ends; its exit status."""
    async with asyncio.timeout(within_s):
        fake = asyncio.ensure_future(run.fake.run())
        done, _ = await asyncio.wait({fake, run.exit}, return_when=asyncio.FIRST_COMPLETED)
        if fake in done:
            fake.result()  # an assertion of the fake fails the test here
        code = await run.exit
        run.close_script_fds()  # as the process exit would: the fake sees the end
        await fake
        return code


async def only_call(db_path: Path) -> tuple[Call, list[Turn]]:
    from callwright.store.db import Database

    db = await Database.open(db_path)
    try:
        calls = CallRepository(db)
        [call] = await calls.list_recent_all_orgs(10)
        return call, await calls.turns(call.id)
    finally:
        await db.close()


async def test_an_unknown_number_is_hung_up(
    start_in_process: StartInProcess, make_store: MakeStore
) -> None:
    store = await make_store()
    settings = store_settings(store.path, CALLWRIGHT_CALLS_UNKNOWN_NUMBER_ACTION="hangup")
    run = await start_in_process(settings)
    assert await finish(run) == 0
    commands = run.fake.peer.commands
    assert commands[0] == ["GET", "VARIABLE", "EAGI_AUDIO_FORMAT"]
    assert ["ANSWER"] not in commands and commands[-1] == ["HANGUP"]
    call, turns = await only_call(store.path)
    assert (call.status, call.end_reason, call.dialed) == ("rejected", "unknown_number", "100")
    assert call.channel_id == "1795327438.131" and call.caller_number == ""
    assert run.fake.variables["CALLWRIGHT_CALL_UID"] == call.uid
    assert turns == []


async def test_continue_leaves_an_unknown_number_to_the_dialplan(
    start_in_process: StartInProcess, make_store: MakeStore
) -> None:
    store = await make_store()
    settings = store_settings(store.path, CALLWRIGHT_CALLS_UNKNOWN_NUMBER_ACTION="continue")
    run = await start_in_process(settings)
    assert await finish(run) == 0
    assert ["HANGUP"] not in run.fake.peer.commands  # the dialplan goes on after EAGI()
    call, _ = await only_call(store.path)
    assert call.status == "rejected" and call.ended_at is not None


async def test_an_unknown_number_can_hear_a_message_first(
    start_in_process: StartInProcess, make_store: MakeStore
) -> None:
    store = await make_store()
    settings = store_settings(store.path, CALLWRIGHT_CALLS_UNKNOWN_NUMBER_ACTION="message")
    run = await start_in_process(settings)
    assert await finish(run) == 0
    [prompt] = run.fake.prompts
    assert prompt.escape_digits == ""  # a notice: no key stops it
    assert 1.5 < prompt.seconds < 10 and prompt.rms > 300
    assert not await asyncio.to_thread(Path(prompt.path + ".sln").exists)  # removed once played
    assert run.fake.peer.commands[-1] == ["HANGUP"]
    call, turns = await only_call(store.path)
    assert call.status == "rejected" and call.answered_at is not None
    assert [t.speaker for t in turns] == ["assistant"]
    assert turns[0].text == settings.calls.unknown_number_message


async def test_without_fd_3_the_script_says_so_and_fails(
    start_in_process: StartInProcess, make_store: MakeStore
) -> None:
    store = await make_store()
    run = await start_in_process(store_settings(store.path), audio=False)
    assert await finish(run) == 1
    [verbose] = run.fake.peer.commands
    assert verbose[0] == "VERBOSE" and "fd 99" in verbose[1]


@pytest.mark.slow
async def test_the_caller_hanging_up_during_the_greeting(
    start_in_process: StartInProcess, make_store: MakeStore, vosk_models: VoskModelCache
) -> None:
    store = await make_store()
    await seed_demo(store.db, number="100", language="ko", greeting="", flow=DEMO_FLOW,
                    record_calls=False)

    async def hang_up_while_playing(fake: EagiAsterisk, prompt: Prompt) -> str:
        fake.hang_up()
        return "200 result=-1 endpos=1200"

    run = await start_in_process(store_settings(store.path), hang_up_while_playing,
                                 vosk_models=vosk_models)
    assert await finish(run) == 0
    assert len(run.fake.prompts) == 1
    assert run.fake.peer.commands[-1][:2] == ["STREAM", "FILE"]  # no HANGUP on a dead channel
    call, turns = await only_call(store.path)
    assert (call.status, call.end_reason) == ("completed", "caller_hangup")
    assert turns == []  # nothing of the greeting was heard to the end


# -- the real thing: python -m agi eagi as a subprocess -------------------------------------------


@pytest.mark.slow
async def test_a_whole_eagi_call_in_korean(agi_facts: AgiFacts, make_store: MakeStore) -> None:
    store = await make_store()
    await seed_demo(store.db, number="100", language="ko", greeting="", flow=DEMO_FLOW,
                    record_calls=False)
    caller_speech = await EspeakTts("ko").synthesize("안녕하세요", RATE)
    audio_r, audio_w = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLWRIGHT_")}
    env.update(CALLWRIGHT_STORE_PATH=str(store.path), CALLWRIGHT_SPEECH_STT_THREADS="1",
               PYTHONPATH=str(REPO))
    # Asterisk starts the script with the caller's audio on fd 3: so does this launcher.
    launcher = ("import os, sys; fd = int(sys.argv[1]); fd == 3 or (os.dup2(fd, 3), os.close(fd));"
                " os.execv(sys.executable, [sys.executable, '-m', 'agi', 'eagi', '100'])")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", launcher, str(audio_r),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, pass_fds=(audio_r,), cwd=REPO, env=env,
    )
    os.close(audio_r)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    speaking: list[asyncio.Task[None]] = []

    async def on_prompt(fake: EagiAsterisk, prompt: Prompt) -> str:
        await asyncio.sleep(min(prompt.seconds, 0.5))  # the reply comes when playback ends
        if len(fake.prompts) == 1:  # the greeting has played: the caller says hello
            speaking.append(asyncio.get_running_loop().create_task(fake.speak(caller_speech)))
        else:  # the assistant answered: the caller hangs up
            asyncio.get_running_loop().call_later(0.1, fake.hang_up)
        return f"200 result=0 endpos={len(prompt.pcm) // 2}"

    fake = EagiAsterisk(FakeAsterisk(proc.stdout, proc.stdin), await write_pipe(audio_w),
                        on_prompt, on_hangup=lambda: proc.send_signal(signal.SIGHUP))
    try:
        await fake.peer.send(agi_facts.eagi_env)
        async with asyncio.timeout(90):
            await fake.run()
            code = await proc.wait()
        stderr = (await proc.stderr.read()).decode(errors="replace")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        fake.audio.close()
        for task in speaking:
            task.cancel()
    assert code == 0, stderr

    commands = fake.peer.commands
    assert commands[0] == ["GET", "VARIABLE", "EAGI_AUDIO_FORMAT"]
    assert commands.index(["ANSWER"]) < [c[:2] for c in commands].index(["STREAM", "FILE"])
    greeting, reply = fake.prompts
    assert greeting.escape_digits == "0123456789*#"
    assert 2.0 < greeting.seconds < 15 and greeting.rms > 300
    assert reply.seconds > 1.0 and reply.rms > 300

    call, turns = await only_call(store.path)
    assert (call.status, call.end_reason) == ("completed", "caller_hangup"), stderr
    assert call.answered_at is not None and call.assistant_id is not None
    assert fake.variables["CALLWRIGHT_CALL_UID"] == call.uid
    assert [(t.speaker, t.text) for t in turns] == [
        ("assistant", DEMO_FLOW["nodes"]["greet"]["prompt"]),
        ("caller", "안녕하세요"),
        ("assistant", DEMO_FLOW["nodes"]["offer"]["prompt"]),
    ], stderr
    assert turns[1].meta["grammar"] and turns[1].stt_ms is not None
    assert turns[2].first_frame_ms is not None and turns[2].first_frame_ms < 3000


@pytest.mark.slow
async def test_a_key_during_the_greeting_answers_it(
    start_in_process: StartInProcess, make_store: MakeStore, vosk_models: VoskModelCache
) -> None:
    store = await make_store()
    await seed_demo(store.db, number="100", language="ko", greeting="", flow=DEMO_FLOW,
                    record_calls=False)

    async def key_then_hang_up(fake: EagiAsterisk, prompt: Prompt) -> str:
        if len(fake.prompts) == 1:  # "1" halfway through the greeting: the first choice
            return f"200 result={ord('1')} endpos={len(prompt.pcm) // 4}"
        asyncio.get_running_loop().call_later(0.05, fake.hang_up)
        return f"200 result=0 endpos={len(prompt.pcm) // 2}"

    run = await start_in_process(store_settings(store.path), key_then_hang_up,
                                 vosk_models=vosk_models)
    assert await finish(run) == 0
    assert len(run.fake.prompts) == 2
    call, turns = await only_call(store.path)
    greeting = DEMO_FLOW["nodes"]["greet"]["prompt"]
    assert [t.speaker for t in turns] == ["assistant", "assistant"]
    assert turns[0].interrupted and turns[0].text.endswith("…")
    assert greeting.startswith(turns[0].text[:-1]) and len(turns[0].text) < len(greeting)
    assert turns[1].text == DEMO_FLOW["nodes"]["offer"]["prompt"]  # "1" chose "hello"
    assert call.slots == {"greeted": "hello"}
    assert (call.status, call.end_reason) == ("completed", "caller_hangup")


@pytest.mark.slow
@pytest.mark.parametrize("target, variable, value", [
    ("callwright-transfer,sales", "CALLWRIGHT_TRANSFER", "callwright-transfer,sales,1"),
    ("PJSIP/200", "CALLWRIGHT_TRANSFER_DIAL", "PJSIP/200"),
])
async def test_a_transfer_is_left_to_the_dialplan(
    start_in_process: StartInProcess, make_store: MakeStore, vosk_models: VoskModelCache,
    target: str, variable: str, value: str,
) -> None:
    store = await make_store()
    flow = {"version": 1, "name": "Transfer", "language": "en", "start": "to_sales",
            "nodes": {"to_sales": {"kind": "transfer", "target": target,
                                   "text": "Connecting you to sales.", "reason": "sales"}}}
    await store.number("100", await store.assistant(language="en", flow=flow))
    run = await start_in_process(store_settings(store.path), vosk_models=vosk_models)
    assert await finish(run) == 0
    assert run.fake.variables[variable] == value
    assert ["HANGUP"] not in run.fake.peer.commands  # the dialplan goes on after EAGI()
    [prompt] = run.fake.prompts
    assert prompt.rms > 300
    call, turns = await only_call(store.path)
    assert (call.status, call.end_reason) == ("transferred", "sales")
    assert [t.text for t in turns] == ["Connecting you to sales."]
