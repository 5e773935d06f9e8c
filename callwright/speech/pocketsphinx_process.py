"""One pocketsphinx worker process, as the engine
(:class:`~callwright.speech.pocketsphinx_stt.PocketsphinxSttEngine`) sees it: the pipes, the task
that routes the worker's answers to its streams, and the watchdog that kills a worker that stops
answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Protocol

from callwright.errors import SpeechError
from callwright.speech.pocketsphinx_worker import _HEADER, Op, _frame

log = logging.getLogger(__name__)


class WorkerStream(Protocol):
    """What the worker needs of a stream it serves."""

    def answer(self, op: Op, payload: bytes) -> None: ...

    def fail(self, error: SpeechError) -> None: ...


class WorkerProcess:
    """One worker process and the task that routes its answers to the streams."""

    def __init__(self, proc: asyncio.subprocess.Process, hang_timeout_s: float) -> None:
        self.proc = proc
        self.hang_timeout_s = hang_timeout_s
        #: When the worker last sent anything (monotonic seconds).
        self.last_heard = time.monotonic()
        self.streams: dict[int, WorkerStream] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.error: SpeechError | None = None
        self._stderr: deque[str] = deque(maxlen=20)
        self._reader = asyncio.create_task(self._read(), name="pocketsphinx-worker")
        self._log_task = asyncio.create_task(self._drain_stderr(), name="pocketsphinx-stderr")

    @property
    def alive(self) -> bool:
        return self.error is None

    def send(self, op: Op, stream_id: int, payload: bytes = b"") -> None:
        if self.error is not None:
            raise self.error
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            raise SpeechError("the pocketsphinx worker's input is closed")
        stdin.write(_frame(op, stream_id, payload))

    async def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while True:
                header = await stdout.readexactly(_HEADER.size)
                self.last_heard = time.monotonic()
                op, sid, size = _HEADER.unpack(header)
                payload = await stdout.readexactly(size) if size else b""
                if op == Op.READY:
                    if not self.ready.done():
                        self.ready.set_result(None)
                    continue
                stream = self.streams.get(sid)
                if op == Op.ERROR and sid == 0:
                    raise SpeechError(f"pocketsphinx worker failed: {payload.decode()}")
                if stream is not None:
                    stream.answer(Op(op), payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self._log_task
            detail = " | ".join(self._stderr) or f"exit status {await self.proc.wait()}"
            self.fail(SpeechError(f"the pocketsphinx worker stopped: {detail}"))
        except SpeechError as exc:
            self.fail(exc)

    async def _drain_stderr(self) -> None:
        stderr = self.proc.stderr
        assert stderr is not None
        async for raw in stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self._stderr.append(line)
                log.warning("pocketsphinx worker %s: %s", self.proc.pid, line)

    def watch(self) -> None:
        """A FINISH was sent: nothing back from the worker for ``hang_timeout_s`` means it hangs."""
        sent_at = time.monotonic()
        asyncio.get_running_loop().call_later(self.hang_timeout_s, self._check_alive, sent_at)

    def _check_alive(self, sent_at: float) -> None:
        if self.error is not None or self.last_heard >= sent_at:
            return
        error = SpeechError(
            f"the pocketsphinx worker {self.proc.pid} gave no answer for "
            f"{self.hang_timeout_s:g} s: killed, the next turn starts a new one"
        )
        log.error("%s", error)
        self.fail(error)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def fail(self, error: SpeechError) -> None:
        if self.error is None:
            self.error = error
        if not self.ready.done():
            self.ready.set_exception(error)
            self.ready.exception()  # retrieved: the starter reads self.error
        for stream in list(self.streams.values()):
            stream.fail(error)

    async def stop(self, timeout_s: float = 5.0) -> None:
        self.fail(SpeechError("the pocketsphinx engine is closed"))
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await asyncio.gather(self._reader, self._log_task, return_exceptions=True)
