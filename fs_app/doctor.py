"""``callwright doctor``'s checks of FreeSWITCH (when ``[freeswitch] esl_host`` is set): its
inbound Event Socket (reachable, ``auth`` accepted, ``api version``), the modules a call needs
with ``[freeswitch] media`` (``api show modules``: mod_audio_fork or mod_audio_stream), and
whether our socket and audio listen addresses can be bound.

Every network step has a timeout (``step_timeout_s``). What the answers mean, and the fixes,
are decided in :mod:`callwright.doctor.freeswitch`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterable
from typing import Any

from callwright.config import FreeswitchSettings, Settings
from callwright.doctor import freeswitch as verdicts
from callwright.doctor.freeswitch import EslProblem, ListenProblem
from callwright.doctor.report import Check, skip, warn
from fs_app.esl import commands
from fs_app.esl.message import EslMessage, EslProtocolError
from fs_app.esl.parser import EslParser


class EslProbeError(Exception):
    """The inbound Event Socket could not be used (``problem`` says why)."""

    def __init__(self, problem: EslProblem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.detail = detail


class EslProbe:
    """One inbound ESL connection, for a few commands and their replies (events not asked for)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 timeout_s: float) -> None:
        self._reader, self._writer = reader, writer
        self._timeout_s = timeout_s
        self._parser = EslParser()
        self._pending: list[EslMessage] = []
        #: The first bytes the peer sent (to show a server that is not ESL).
        self._seen = bytearray()

    @classmethod
    async def open(cls, fs: FreeswitchSettings, timeout_s: float) -> EslProbe:
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(fs.esl_host, fs.esl_port)
        except TimeoutError as exc:
            raise EslProbeError(EslProblem.TIMEOUT) from exc
        except socket.gaierror as exc:
            raise EslProbeError(EslProblem.UNRESOLVED, exc.strerror or "") from exc
        except OSError as exc:
            if exc.errno == errno.ECONNREFUSED:
                raise EslProbeError(EslProblem.REFUSED) from exc
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                raise EslProbeError(EslProblem.UNREACHABLE, exc.strerror or "") from exc
            raise EslProbeError(EslProblem.OTHER, str(exc)) from exc
        return cls(reader, writer, timeout_s)

    async def next(self) -> EslMessage:
        try:
            async with asyncio.timeout(self._timeout_s):
                while not self._pending:
                    data = await self._reader.read(65536)
                    if not data:
                        raise EslProbeError(EslProblem.NOT_ESL, "the connection was closed")
                    self._seen += data[:80 - len(self._seen)]
                    self._pending.extend(self._parser.feed(data))
        except TimeoutError as exc:
            if self._seen:  # bytes came, but never a whole ESL message
                raise EslProbeError(EslProblem.NOT_ESL, f"it sent {bytes(self._seen)!r}") from exc
            raise EslProbeError(EslProblem.TIMEOUT, "no answer") from exc
        except EslProtocolError as exc:
            raise EslProbeError(EslProblem.NOT_ESL, str(exc)) from exc
        except OSError as exc:
            raise EslProbeError(EslProblem.OTHER, str(exc)) from exc
        return self._pending.pop(0)

    async def send(self, data: bytes) -> EslMessage:
        self._writer.write(data)
        try:
            await self._writer.drain()
        except OSError as exc:
            raise EslProbeError(EslProblem.OTHER, str(exc)) from exc
        return await self.next()

    async def login(self, password: str) -> None:
        """Wait for ``auth/request`` and answer it; a refused password is
        ``EslProblem.PASSWORD``."""
        first = await self.next()
        if first.content_type != "auth/request":
            raise EslProbeError(EslProblem.NOT_ESL,
                                f"first message {first.content_type or 'without a type'!r}")
        answer = await self.send(commands.auth(password))
        if not answer.reply_text.startswith("+OK"):
            raise EslProbeError(EslProblem.PASSWORD, answer.reply_text.strip())

    async def api(self, line: str) -> str:
        answer = await self.send(commands.api(line))
        if answer.content_type != "api/response":
            raise EslProbeError(EslProblem.NOT_ESL, f"{line!r} answered {answer.content_type!r}")
        return answer.text

    async def close(self) -> None:
        self._writer.close()
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._writer.wait_closed()
        except (OSError, TimeoutError):
            pass  # closing: nothing left to learn from this socket


async def freeswitch_checks(settings: Settings, *, step_timeout_s: float = 5.0) -> list[Check]:
    """The FreeSWITCH lines, in checklist order; none when ``[freeswitch] esl_host`` is unset."""
    fs = settings.freeswitch
    if not fs.esl_host:
        return []
    checks = await esl_checks(fs, step_timeout_s)
    checks.append(await listen_check(verdicts.SOCKET_ID, fs, fs.socket_host, fs.socket_port))
    checks.append(await listen_check(verdicts.AUDIO_ID, fs, fs.audio_host, fs.audio_port))
    return checks


async def esl_checks(fs: FreeswitchSettings, step_timeout_s: float) -> list[Check]:
    """The ESL line and the modules line."""
    try:
        probe = await EslProbe.open(fs, step_timeout_s)
    except EslProbeError as exc:
        return [verdicts.esl_failure(exc.problem, fs, exc.detail),
                skip(verdicts.FS_MODULES_ID, verdicts.FS_MODULES_TITLE,
                     "FreeSWITCH's Event Socket cannot be used")]
    try:
        try:
            await probe.login(fs.esl_password)
            version = await probe.api("version")
        except EslProbeError as exc:
            return [verdicts.esl_failure(exc.problem, fs, exc.detail),
                    skip(verdicts.FS_MODULES_ID, verdicts.FS_MODULES_TITLE,
                         "FreeSWITCH's Event Socket cannot be used")]
        checks = [verdicts.esl_reached(fs, version)]
        try:
            loaded = verdicts.parse_show_modules(await probe.api("show modules"))
        except (EslProbeError, ValueError) as exc:
            checks.append(warn(verdicts.FS_MODULES_ID, verdicts.FS_MODULES_TITLE,
                               f"could not be listed: {exc}",
                               "`fs_cli -x 'show modules'` must list "
                               + ", ".join(verdicts.needed_modules(fs.media))))
        else:
            checks.append(verdicts.modules_verdict(loaded, fs.media))
        return checks
    finally:
        await probe.close()


async def listen_check(check_id: str, fs: FreeswitchSettings, host: str, port: int) -> Check:
    """Whether ``host:port`` can be bound now (as ``serve-freeswitch`` will bind it)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return verdicts.listen_verdict(check_id, fs, ListenProblem.UNRESOLVED, exc.strerror or "")
    return verdicts.listen_verdict(check_id, fs, *bind_problem(infos))


def bind_problem(infos: Iterable[tuple[Any, ...]]) -> tuple[ListenProblem | None, str]:
    """Bind (and release) the first address, as asyncio's server does (SO_REUSEADDR)."""
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                problem = {errno.EADDRINUSE: ListenProblem.IN_USE,
                           errno.EADDRNOTAVAIL: ListenProblem.NOT_LOCAL,
                           errno.EACCES: ListenProblem.DENIED}.get(exc.errno or 0,
                                                                   ListenProblem.OTHER)
                return problem, "" if problem is not ListenProblem.OTHER else str(exc)
            return None, ""
    return ListenProblem.OTHER, "no address"
