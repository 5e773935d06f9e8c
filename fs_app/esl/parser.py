"""Bytes from FreeSWITCH to :class:`EslMessage` objects, whatever the chunking.

``EslParser.feed(data)`` returns the messages completed by ``data``. Input that is not ESL raises
:class:`EslProtocolError` naming what is wrong and where; the messages completed before the bad
one are on the error (``complete``), so nothing already received is lost, and the parser refuses
further input (a byte stream that went wrong once cannot be resynchronised).
"""

from __future__ import annotations

from fs_app.esl.message import EslMessage, EslProtocolError

#: The longest header block accepted (the outbound ``connect`` reply, the largest seen, is ~9 KB).
MAX_HEADER_BYTES = 256 * 1024
#: The longest body accepted (a ``show channels as json`` or a JSON event is far below).
MAX_BODY_BYTES = 16 * 1024 * 1024


def parse_header_block(block: bytes, where: str) -> tuple[tuple[str, str], ...]:
    """``Name: value`` lines (no trailing blank line) to pairs, in order."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EslProtocolError(f"{where}: header block is not UTF-8 ({exc})") from exc
    headers: list[tuple[str, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise EslProtocolError(f"{where}: header line {number} is not 'Name: value': {line!r}")
        headers.append((name, value[1:] if value.startswith(" ") else value))
    return tuple(headers)


def content_length(headers: tuple[tuple[str, str], ...], where: str) -> int:
    values = [value for name, value in headers if name == "Content-Length"]
    if not values:
        return 0
    raw = values[-1].strip()
    if not raw.isdigit():
        raise EslProtocolError(f"{where}: Content-Length is not a number: {raw!r}")
    length = int(raw)
    if length > MAX_BODY_BYTES:
        raise EslProtocolError(f"{where}: Content-Length {length} is over {MAX_BODY_BYTES}")
    return length


class EslParser:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._headers: tuple[tuple[str, str], ...] | None = None
        self._need = 0
        self._count = 0
        self._failed: EslProtocolError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[EslMessage]:
        if self._failed is not None:
            raise EslProtocolError(f"the stream already failed: {self._failed}")
        self._buffer += data
        done: list[EslMessage] = []
        try:
            while (message := self._next()) is not None:
                done.append(message)
        except EslProtocolError as exc:
            exc.complete = done
            self._failed = exc
            raise
        return done

    def _next(self) -> EslMessage | None:
        where = f"ESL message {self._count + 1}"
        if self._headers is None:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    raise EslProtocolError(
                        f"{where}: no end of headers in {MAX_HEADER_BYTES} bytes"
                    )
                return None
            if end == 0:
                raise EslProtocolError(f"{where}: empty header block")
            self._headers = parse_header_block(bytes(self._buffer[:end]), where)
            self._need = content_length(self._headers, where)
            del self._buffer[: end + 2]
        if len(self._buffer) < self._need:
            return None
        body = bytes(self._buffer[: self._need])
        del self._buffer[: self._need]
        message = EslMessage(self._headers, body)
        self._headers, self._need = None, 0
        self._count += 1
        return message
