"""Log lines that say which call they are about, as text or as one JSON object per line.

A call session calls :func:`bind_call_uid` once its call row exists; from then on every line
logged from that session's task, and from the tasks it starts (its pipeline, replies, speech
streams: asyncio copies the context into each new task), carries the call uid. The
:class:`CallContextFilter` on the handler puts it on each record as ``call_uid`` (None outside a
call); :class:`TextFormatter` and :class:`JsonFormatter` print it.

``[server] log_format = "json"`` gives one JSON object per line::

    {"ts": "2025-01-31T12:00:00.123Z", "level": "INFO", "logger": "ari_app.call_setup",
     "message": "call 3f2a... ended: completed (assistant_hangup)", "call_uid": "3f2a..."}

with ``"exc"`` (the traceback) when the line carries an exception; ``call_uid`` is left out
outside a call.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s:%(call_tag)s %(message)s"

#: The uid of the call the current task works for (None outside a call).
CALL_UID: ContextVar[str | None] = ContextVar("callwright_call_uid", default=None)


def bind_call_uid(uid: str) -> None:
    """Tag every later log line of the current task, and of the tasks it starts, with ``uid``.

    Meant for a call's own task (its context ends with it), so nothing needs resetting."""
    CALL_UID.set(uid)


class CallContextFilter(logging.Filter):
    """Adds ``call_uid`` (str or None) and ``call_tag`` (`` [call <uid>]`` or "") to each record.
    Attach to the handler, so that every logger's lines get it."""

    def filter(self, record: logging.LogRecord) -> bool:
        uid = CALL_UID.get()
        record.call_uid = uid
        record.call_tag = f" [call {uid}]" if uid else ""
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: [call uid] message`` (the call part only inside a call)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "call_tag"):  # a handler without the filter
            CallContextFilter().filter(record)
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC, ms), level, logger, message, call_uid, exc."""

    def format(self, record: logging.LogRecord) -> str:
        uid = record.__dict__.get("call_uid", CALL_UID.get())  # set by the filter, if any
        stamp = datetime.fromtimestamp(record.created, tz=UTC)
        line: dict[str, Any] = {
            "ts": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if uid:
            line["call_uid"] = uid
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def log_handler(log_format: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) writing ``log_format`` ("text" or "json") lines
    with the call uid."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {log_format!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(CallContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return handler


def configure_logging(level: str, log_format: str = "text", stream: TextIO | None = None) -> None:
    """Set up the root logger as ``logging.basicConfig`` does (a no-op when it has a handler
    already), with :func:`log_handler`."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        handlers=[log_handler(log_format, stream)],
    )
