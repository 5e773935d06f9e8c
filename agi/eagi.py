"""The EAGI entry point: a whole call, half-duplex, for PBXes that cannot expose ARI.

Asterisk runs the script with ``EAGI(callwright-eagi,${EXTEN})`` (see
dialplan/extensions_agi.conf): the AGI environment and replies on stdin, our commands on stdout,
the caller's audio on fd 3. The call then goes the way the ARI path goes, one step at a time:

1. Look up the dialed number (first argument, else ``agi_extension``) and create the call row at
   once (a locked store does not hold the call up: the row is written when it can, see
   :meth:`~callwright.store.queued_calls.QueuedCallRepository.start_call`);
   ``CALLWRIGHT_CALL_UID`` is set on the channel. The speech engines' native modules are
   imported on a worker thread from the moment the script starts (as the call service does
   before it connects: :mod:`callwright.speech.warmup`); then the speech model loads and its
   recognizer is warmed in the background (seconds in a fresh process) while the greeting is
   prepared and played, so the caller's first turn is not the recognizer's first decode.
2. ``ANSWER``; the dialog engine (the assistant's flow, or the demo flow) opens.
3. Each ``Say`` is synthesised (the next one while the previous plays), written to a temporary
   raw signed-linear file (``.sln`` at 8 kHz, ``.sln16`` at 16 kHz) and played with
   ``STREAM FILE``; a key pressed during an interruptible prompt stops it and is the caller's
   answer. The caller's audio is dropped while a prompt plays.
4. ``Listen``: VAD and endpointing over fd 3, Vosk recognition (grammar mode for closed answers);
   the turn goes to the dialog engine, every turn is written to the store as it happens.
5. ``Hangup``: ``HANGUP``. ``Transfer``: ``CALLWRIGHT_TRANSFER`` (``context,exten,priority``) or
   ``CALLWRIGHT_TRANSFER_DIAL`` (``Tech/resource``) is set and the script ends, so the dialplan
   goes on. The caller hanging up (SIGHUP, the ``HANGUP`` line, fd 3 closing) ends the call.

Whatever happens, the call row is closed with its status and reason. The call's store writes go
through a :class:`~callwright.store.write_queue.WriteQueue`, as the call service's do: a store
locked by another process (a backup, the admin, the call service) delays them, in order, without
failing the call or holding up its turns; at the end they get :data:`CLOSE_WRITES_S` to go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import tempfile
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agi.eagi_audio import CallerAudio, Gone, Heard, NoInput, listen_for_turn, open_audio_pipe
from agi.eagi_prompts import Keyed, PromptPlayer
from agi.eagi_stdio import open_stdio
from agi.fastagi import AgiClosed, AgiSession, open_session
from agi.protocol import DeadChannel
from callwright.call.assistant_runtime import AssistantRuntime
from callwright.call.journal import CallJournal, TurnRecord
from callwright.call.pipeline_settings import PipelineSettings
from callwright.config import Settings
from callwright.dialog.actions import CallContext, CallerTurn, DialogEngine, Listen, Transfer
from callwright.dialog.announcement import AnnouncementDialog
from callwright.errors import CallwrightError, MediaError, ProtocolError
from callwright.speech.protocols import SttEngine
from callwright.speech.registry import SpeechEngines
from callwright.speech.vad import VoiceActivityDetector
from callwright.speech.vosk_stt import SHARED_MODELS, VoskModelCache
from callwright.speech.warmup import NativeImports, warm_stt_for
from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.clock import format_iso, utc_now_iso
from callwright.store.db import Database, open_store
from callwright.store.numbers import NumberRepository
from callwright.store.queued_calls import QueuedCallRepository
from callwright.store.write_queue import WriteQueue

log = logging.getLogger(__name__)

VAR_CALL_UID = "CALLWRIGHT_CALL_UID"
VAR_TRANSFER = "CALLWRIGHT_TRANSFER"
VAR_TRANSFER_DIAL = "CALLWRIGHT_TRANSFER_DIAL"
#: Warm free-speech recognizers an EAGI call wants: its caller's.
WARM_STREAMS = 1
#: At the end of the call, how long its queued store writes get to go through a locked store.
CLOSE_WRITES_S = 10.0


@dataclass(frozen=True, slots=True)
class EagiFds:
    """The file descriptors Asterisk gives an EAGI script."""

    stdin: int = 0
    stdout: int = 1
    audio: int = 3


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    reason: str
    hang_up: bool = True  # hang the channel up at the end (not when the dialplan goes on)


CALLER_LEFT = Outcome("completed", "caller_hangup", hang_up=False)


class EagiCall:
    """One call on one run of the EAGI script."""

    def __init__(self, settings: Settings, session: AgiSession, audio: CallerAudio,
                 engines: SpeechEngines, db: Database, tmp_dir: Path, *,
                 writes: WriteQueue | None = None, imports: NativeImports | None = None) -> None:
        self.settings = settings
        self.session = session
        self.audio = audio
        self.engines = engines
        self._db = db
        #: The call's writes, in order, retried while the store is locked (never failing it).
        self.writes = writes if writes is not None else WriteQueue()
        self._imports = imports if imports is not None else NativeImports()
        self._calls = QueuedCallRepository(db, self.writes)
        self._runtime = AssistantRuntime(settings, AssistantRepository(db))
        self._tmp = tmp_dir
        self._gone = asyncio.Event()
        self._stt: asyncio.Task[SttEngine] | None = None
        self._started = time.monotonic()
        #: Writes the call does not wait for (queued in ``writes``; their errors are logged there).
        self._later: set[asyncio.Task[object]] = set()

    def on_sighup(self) -> None:
        """Asterisk sends SIGHUP when the channel hangs up."""
        log.info("SIGHUP: the channel hung up")
        self._gone.set()

    async def _watch_hangup(self) -> None:
        await self.session.wait_hangup()
        self._gone.set()

    async def run(self) -> None:
        """The call, start to end. Once the call row exists it is always closed."""
        env = self.session.env
        watch = asyncio.get_running_loop().create_task(self._watch_hangup())
        try:
            slin16 = await self.session.get_variable("EAGI_AUDIO_FORMAT") == "slin16"
            self.audio.set_rate(16000 if slin16 else 8000)
            found = await NumberRepository(self._db).find_inbound(env.dialed)
            number, assistant = found if found is not None else (None, None)
            call = await self._calls.start_call(  # a locked store does not hold it up
                number.org_id if number else None, assistant.id if assistant else None,
                number.id if number else None, env.dialed, env.caller_number,
                env.caller_name, env.uniqueid or env.channel,
            )
        except BaseException:
            watch.cancel()
            raise
        journal = CallJournal(self._calls, call.id, queue=self.writes)
        outcome = Outcome("failed", "error: setup did not finish")
        try:
            await journal.event("eagi_start", channel=env.channel, rate=self.audio.sample_rate)
            await self.session.set_variable(VAR_CALL_UID, call.uid)
            if assistant is None:
                outcome = await self._unknown_number(call.id, journal)
            else:
                outcome = await self._assistant_call(assistant, call.id, call.uid, journal)
        except asyncio.CancelledError:
            outcome = Outcome("failed", "server_shutdown", hang_up=False)
            raise
        except (AgiClosed, DeadChannel):
            outcome = CALLER_LEFT
        except Exception as exc:  # the outermost boundary of a call: log, close the record
            log.exception("EAGI call %s failed", call.uid)
            outcome = Outcome("failed", f"error: {type(exc).__name__}: {exc}")
        finally:
            watch.cancel()
            if self._stt is not None:
                self._stt.cancel()
            if outcome.hang_up and not self._gone.is_set():
                with contextlib.suppress(CallwrightError):
                    await self.session.hangup()
            # One turn of the loop: the writes started with _write_later (the slots) reach the
            # queue before the close, as a call's last write must be its close.
            await asyncio.sleep(0)
            try:  # the queue keeps it if the store stays locked: run_eagi waits for it again
                async with asyncio.timeout(CLOSE_WRITES_S):
                    await self._calls.close_call(call.id, outcome.status, outcome.reason)
            except (TimeoutError, CallwrightError) as exc:
                log.error("call %s: its end is not written yet: %s", call.uid,
                          exc or "the store is locked")
            log.info("call %s ended: %s (%s)", call.uid, outcome.status, outcome.reason)

    async def _unknown_number(self, call_id: int, journal: CallJournal) -> Outcome:
        action = self.settings.calls.unknown_number_action
        await journal.event("unknown_number", dialed=self.session.env.dialed, action=action)
        if action == "continue":
            return Outcome("rejected", "unknown_number: continued in dialplan", hang_up=False)
        if action == "message":
            await self.session.answer()
            self._write_later(self._calls.mark_answered(call_id))
            dialog = AnnouncementDialog(self.settings.calls.unknown_number_message,
                                        reason="unknown_number")
            ended = await self._converse(dialog, self._runtime.pipeline_settings(None),
                                         journal, CallContext("", "", "", "en"), None)
            if ended == CALLER_LEFT:
                return Outcome("rejected", "unknown_number", hang_up=False)
        return Outcome("rejected", "unknown_number")

    async def _assistant_call(self, assistant: Assistant, call_id: int, uid: str,
                              journal: CallJournal) -> Outcome:
        # The model loads and its recognizer warms (seconds) while the greeting plays.
        self._stt = asyncio.ensure_future(self._warm_stt(assistant.stt))
        self._stt.add_done_callback(lambda t: None if t.cancelled() else t.exception())
        dialog = await self._runtime.for_assistant(assistant)
        settings = self._runtime.pipeline_settings(assistant)
        await self.session.answer()
        self._write_later(self._calls.mark_answered(call_id))
        env = self.session.env
        ctx = CallContext(call_uid=uid, caller_number=env.caller_number, dialed=env.dialed,
                          language=assistant.language)
        outcome = await self._converse(dialog, settings, journal, ctx, assistant.tts)
        if ctx.slots:
            self._write_later(self._calls.set_slots(call_id, dict(ctx.slots)))
        return outcome

    def _write_later(self, write: Coroutine[Any, Any, object]) -> None:
        """Queue a store write the call does not wait for (a locked store must not hold up the
        caller); the queue applies it in order and logs a write that fails for good."""
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(write)
        self._later.add(task)
        task.add_done_callback(_forget_write)
        task.add_done_callback(self._later.discard)

    async def _converse(self, dialog: DialogEngine, settings: PipelineSettings,
                        journal: CallJournal, ctx: CallContext,
                        tts_json: Mapping[str, Any] | None) -> Outcome:
        await self._imports.done()  # the TTS engine loads after the native imports
        player = PromptPlayer(
            session=self.session, audio=self.audio, tts=await self.engines.tts_for(tts_json),
            voice=settings.voice, dialog=dialog, journal=journal, tmp_dir=self._tmp,
            gone=self._gone,
        )
        vad = VoiceActivityDetector(self.audio.sample_rate, settings.vad_aggressiveness)
        actions = dialog.begin(ctx)
        turn_end: float | None = None
        silent_s = 0.0
        try:
            while True:
                step = await player.reply(actions, turn_end)
                if isinstance(step, Gone):
                    return CALLER_LEFT
                if isinstance(step, Transfer):
                    return await self._transfer(step, journal)
                if not isinstance(step, Listen | Keyed):
                    return Outcome("completed", step.reason)
                if isinstance(step, Keyed):
                    await journal.event("dtmf", digit=step.digit)
                    turn_end = player.transcript_ready = time.monotonic()
                    actions = dialog.on_caller_turn(CallerTurn("", dtmf=step.digit))
                    continue
                if time.monotonic() - self._started > settings.max_call_s:
                    return Outcome("completed", "max_duration")
                heard = await listen_for_turn(
                    self.audio, self._stt_engine, vad=vad, endpointing=settings.endpointing,
                    grammar=step.grammar, no_input_s=step.no_input_s, gone=self._gone,
                )
                if isinstance(heard, Gone):
                    return CALLER_LEFT
                if isinstance(heard, NoInput):
                    await journal.event("no_input")
                    silent_s += step.no_input_s
                    if 0 < settings.silence_hangup_s <= silent_s:
                        return Outcome("completed", "caller_silent")
                    turn_end = None
                    actions = dialog.on_no_input()
                    continue
                silent_s = 0.0
                await _log_caller(journal, heard, step)
                turn_end, player.transcript_ready = heard.detected_at, time.monotonic()
                actions = dialog.on_caller_turn(CallerTurn(heard.text,
                                                           confidence=heard.confidence))
        except (AgiClosed, DeadChannel):
            return CALLER_LEFT
        except CallwrightError as exc:
            if self._gone.is_set():
                return CALLER_LEFT
            log.error("call %s failed: %s", ctx.call_uid, exc)
            await journal.event("error", message=str(exc), error=type(exc).__name__)
            await player.say_once(settings.apology_text)
            return Outcome("failed", f"error: {type(exc).__name__}: {exc}")

    async def _warm_stt(self, options: Mapping[str, Any] | None) -> SttEngine:
        await self._imports.done()
        return await warm_stt_for(self.engines, options, self.audio.sample_rate, WARM_STREAMS)

    async def _stt_engine(self) -> SttEngine:
        if self._stt is None:
            raise MediaError("this call has no speech recogniser")
        return await asyncio.shield(self._stt)

    async def _transfer(self, step: Transfer, journal: CallJournal) -> Outcome:
        """Leave the caller to the dialplan, which goes to (or dials) the target we set."""
        target = step.target.strip().removeprefix("dial:").strip()
        name = VAR_TRANSFER_DIAL if "/" in target else VAR_TRANSFER
        parts = [part.strip() for part in target.split(",")]
        if name == VAR_TRANSFER and len(parts) == 2:  # context,extension: priority 1
            target = ",".join([*parts, "1"])
        await self.session.set_variable(name, target)
        await journal.event("transfer_started", target=target, variable=name)
        return Outcome("transferred", step.reason, hang_up=False)


def _forget_write(task: asyncio.Task[object]) -> None:
    if not task.cancelled():
        task.exception()  # logged by the write queue


async def _log_caller(journal: CallJournal, heard: Heard, listen: Listen) -> None:
    await journal.turn(TurnRecord(
        speaker="caller",
        text=heard.text,
        started_at=format_iso(datetime.fromtimestamp(heard.started_wall, tz=UTC)),
        ended_at=utc_now_iso(),
        stt_ms=round(heard.stt_ms),
        confidence=heard.confidence,
        meta={"grammar": list(listen.grammar), "via": "eagi"} if listen.grammar
        else {"via": "eagi"},
    ))


async def run_eagi(
    settings: Settings,
    fds: EagiFds = EagiFds(),
    *,
    handle_sighup: bool = True,
    vosk_models: VoskModelCache = SHARED_MODELS,
) -> int:
    """Run one EAGI call on ``fds``; the exit status (1 when the call could not start)."""
    try:
        reader, writer, stdin = await open_stdio(fds.stdin, fds.stdout)
    except (OSError, ValueError) as exc:
        log.error("EAGI: stdin and stdout must be pipes from Asterisk: %s", exc)
        return 1
    try:
        session = await open_session(reader, writer, env_timeout=10.0, name="eagi")
    except (ProtocolError, TimeoutError) as exc:
        log.error("EAGI: no AGI environment on stdin: %s", exc)
        writer.close()
        stdin.close()
        return 1
    audio = CallerAudio()
    tmp = Path(tempfile.mkdtemp(prefix="callwright-eagi-"))
    engines = SpeechEngines(settings.speech, vosk_models=vosk_models,
                            max_turn_ms=settings.vad.max_turn_ms)
    loop = asyncio.get_running_loop()
    imports = NativeImports()  # on a worker thread, while the store opens and the call starts
    writes = WriteQueue()
    db: Database | None = None
    audio_pipe: asyncio.BaseTransport | None = None
    try:
        audio_pipe = await open_audio_pipe(fds.audio, audio)
        db = await open_store(settings.store)
        call = EagiCall(settings, session, audio, engines, db, tmp, writes=writes,
                        imports=imports)
        if handle_sighup:
            loop.add_signal_handler(signal.SIGHUP, call.on_sighup)
        await call.run()
        return 0
    except CallwrightError as exc:
        log.error("EAGI: the call could not start: %s", exc)
        with contextlib.suppress(CallwrightError):
            await session.verbose(f"Callwright EAGI: {exc}", 1)
        return 1
    finally:
        if handle_sighup:
            # Asterisk's SIGHUP may still come while we clean up: it must not kill us now.
            loop.remove_signal_handler(signal.SIGHUP)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
        await engines.close()
        if audio_pipe is not None:
            audio_pipe.close()
        await session.close()
        stdin.close()
        lost = await writes.close(CLOSE_WRITES_S)
        if lost:
            log.error("EAGI: %d store write(s) lost: the store stayed locked", lost)
        await imports.close()
        if db is not None:
            await db.close()
        await asyncio.to_thread(shutil.rmtree, tmp, True)
