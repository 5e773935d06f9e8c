"""The assistant's side of an EAGI call: dialog replies spoken with ``STREAM FILE``.

EAGI cannot send audio back on fd 3, so every sentence is synthesised to a temporary raw
signed-linear file that Asterisk plays: ``.sln`` (8 kHz) or ``.sln16`` (16 kHz), the rate of
the call's audio (format_sln is a core module). The next sentence is synthesised while the
previous one plays. The reply ``200 result=0 endpos=N`` comes when playback ends; ``result`` is
the key that stopped an interruptible prompt (its ASCII code), ``-1`` when the file could not be
played or the channel hung up.

Each reply is written to the call's journal as one assistant turn (its sentences, whether a key
cut it, dialog/TTS/first-prompt timings), as the ARI pipeline does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from agi.eagi_audio import CallerAudio, Gone
from agi.fastagi import ESCAPE_ALL, AgiSession
from agi.protocol import DeadChannel
from callwright.call.journal import CallJournal, TurnRecord
from callwright.call.speaker import SentenceTag, heard_text
from callwright.dialog.actions import DialogAction, DialogEngine, Hangup, Listen, Say, Transfer
from callwright.errors import CallwrightError, MediaError
from callwright.media.pacer import SentSegment
from callwright.speech.protocols import TtsEngine
from callwright.store.clock import utc_now_iso

log = logging.getLogger(__name__)

#: How long to wait for Asterisk's HANGUP after a prompt could not be played.
HANGUP_GRACE_S = 0.5


@dataclass(frozen=True, slots=True)
class Keyed:
    """The caller pressed a key during a prompt."""

    digit: str


@dataclass(frozen=True, slots=True)
class _Clip:
    text: str
    interruptible: bool
    pcm: bytes


@dataclass(frozen=True, slots=True)
class _Broken:
    error: CallwrightError


@dataclass(frozen=True, slots=True)
class _Done:
    pass


_Item = _Clip | _Broken | _Done | DialogAction
ReplyEnd = Listen | Hangup | Transfer | Keyed | Gone


@dataclass(slots=True)
class _Timing:
    turn_end: float | None
    transcript_ready: float | None
    first_text_at: float | None = None
    first_audio_at: float | None = None
    first_play_at: float | None = None
    started_at: str = ""
    heard: list[str] = field(default_factory=list)
    interrupted: bool = False


def _ms(a: float | None, b: float | None) -> int | None:
    return None if a is None or b is None else round((b - a) * 1000)


class PromptPlayer:
    """Speaks one dialog's replies on one EAGI channel."""

    def __init__(
        self,
        *,
        session: AgiSession,
        audio: CallerAudio,
        tts: TtsEngine,
        voice: str | None,
        dialog: DialogEngine,
        journal: CallJournal,
        tmp_dir: Path,
        gone: asyncio.Event,
    ) -> None:
        self._session = session
        self._audio = audio
        self._tts = tts
        self._voice = voice
        self._dialog = dialog
        self._journal = journal
        self._tmp = tmp_dir
        self._gone = gone
        self._clips = 0
        #: Monotonic time the caller's last transcript was ready (for the dialog_ms figure).
        self.transcript_ready: float | None = None

    async def reply(
        self, actions: AsyncIterator[DialogAction], turn_end: float | None = None
    ) -> ReplyEnd:
        """Speak one reply of the dialog; return what ends it: the Listen to run next (a
        default one if the dialog gave none), a Hangup or Transfer, a key, or Gone."""
        timing = _Timing(turn_end, self.transcript_ready)
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        producer = asyncio.get_running_loop().create_task(self._produce(actions, queue, timing))
        listen: Listen | None = None
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Clip):
                    end = await self._speak(item, timing)
                    if end is not None:
                        return end
                elif isinstance(item, _Broken):
                    raise item.error
                elif isinstance(item, _Done):
                    return listen or Listen()
                elif isinstance(item, Listen):
                    listen = item
                elif isinstance(item, Hangup | Transfer):
                    return item
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
            if timing.heard:
                await self._log(timing)

    async def _speak(self, clip: _Clip, timing: _Timing) -> Keyed | Gone | None:
        if self._gone.is_set():
            return Gone()
        if timing.first_play_at is None:
            timing.first_play_at = time.monotonic()
            timing.started_at = utc_now_iso()
        played, digit, endpos = await self.play(clip)
        if not played:
            return Gone()
        if digit is None:
            timing.heard.append(clip.text)
            return None
        segment = SentSegment(SentenceTag(0, 0, clip.text), max(0, endpos or 0) * 2,
                              len(clip.pcm))
        heard = heard_text([segment])
        if heard:
            timing.heard.append(heard)
        timing.interrupted = True
        self._dialog.on_interrupted(" ".join(timing.heard))
        return Keyed(digit)

    async def _produce(self, actions: AsyncIterator[DialogAction],
                       out: asyncio.Queue[_Item], timing: _Timing) -> None:
        try:
            async for action in actions:
                if isinstance(action, Say):
                    if not action.text.strip():
                        continue
                    if timing.first_text_at is None:
                        timing.first_text_at = time.monotonic()
                    pcm = await self._tts.synthesize(action.text, self._audio.sample_rate,
                                                     self._voice)
                    if timing.first_audio_at is None:
                        timing.first_audio_at = time.monotonic()
                    out.put_nowait(_Clip(action.text, action.interruptible, pcm))
                else:
                    out.put_nowait(action)
                    if isinstance(action, Hangup | Transfer):
                        return
        except CallwrightError as exc:
            out.put_nowait(_Broken(exc))
        finally:
            out.put_nowait(_Done())
            aclose = getattr(actions, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(RuntimeError, CallwrightError):
                    await aclose()

    async def play(self, clip: _Clip) -> tuple[bool, str | None, int | None]:
        """Write the clip to a file and STREAM FILE it: (played, key pressed, endpos).
        ``played`` is False when the caller hung up; MediaError if Asterisk could not play it."""
        self._clips += 1
        rate = self._audio.sample_rate
        base = self._tmp / f"say-{self._clips}"
        path = base.with_name(base.name + (".sln16" if rate == 16000 else ".sln"))
        await asyncio.to_thread(path.write_bytes, clip.pcm)
        self._audio.mute()
        try:
            result = await self._session.stream_file(
                str(base), ESCAPE_ALL if clip.interruptible else ""
            )
        except DeadChannel:
            return False, None, None
        finally:
            self._audio.unmute()
            with contextlib.suppress(OSError):
                path.unlink()
        if not result.played:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HANGUP_GRACE_S):
                    await self._gone.wait()
            if self._gone.is_set():
                return False, None, None
            raise MediaError(f"Asterisk could not play {path}")
        return True, result.digit, result.endpos

    async def say_once(self, text: str) -> None:
        """Speak ``text`` outside the dialog (the apology when a call fails); errors are
        logged, never raised."""
        if self._gone.is_set():
            return
        try:
            async with asyncio.timeout(15.0):
                pcm = await self._tts.synthesize(text, self._audio.sample_rate, self._voice)
                await self.play(_Clip(text, False, pcm))
        except (CallwrightError, TimeoutError) as exc:
            log.warning("could not speak to the caller: %s", exc)

    async def _log(self, timing: _Timing) -> None:
        node = self._dialog.node_id()
        await self._journal.turn(TurnRecord(
            speaker="assistant",
            text=" ".join(timing.heard),
            started_at=timing.started_at or utc_now_iso(),
            ended_at=utc_now_iso(),
            interrupted=timing.interrupted,
            dialog_ms=_ms(timing.transcript_ready, timing.first_text_at),
            tts_ms=_ms(timing.first_text_at, timing.first_audio_at),
            first_frame_ms=_ms(timing.turn_end, timing.first_play_at),
            meta={"node": node, "via": "eagi"} if node else {"via": "eagi"},
        ))
