"""Log lines of a call carry its uid, as text or as one JSON object per line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from callwright.observability.logs import bind_call_uid, configure_logging, log_handler

log = logging.getLogger("callwright.test.logs")


@pytest.fixture
def capture() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """(json lines, text lines) of everything logged to ``log`` during the test."""
    json_out, text_out = io.StringIO(), io.StringIO()
    handlers = [log_handler("json", json_out), log_handler("text", text_out)]
    for handler in handlers:
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield json_out, text_out
    for handler in handlers:
        log.removeHandler(handler)
    log.setLevel(logging.NOTSET)


def records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_every_line_of_a_call_and_of_its_tasks_carries_the_uid(
    capture: tuple[io.StringIO, io.StringIO],
) -> None:
    json_out, text_out = capture

    async def child() -> None:
        log.info("from a task the call started")

    async def call(uid: str) -> None:
        log.info("before the call row exists")
        bind_call_uid(uid)
        log.info("answered %s", "now")
        await asyncio.create_task(child())
        log.warning("ended")

    log.info("outside any call")
    await asyncio.gather(call("uid-a"), call("uid-b"))
    log.info("outside again")

    lines = records(json_out)
    by_uid: dict[object, list[object]] = {}
    for line in lines:
        by_uid.setdefault(line.get("call_uid"), []).append(line["message"])
    assert by_uid[None] == ["outside any call", "before the call row exists",
                            "before the call row exists", "outside again"]
    for uid in ("uid-a", "uid-b"):
        assert by_uid[uid] == ["answered now", "from a task the call started", "ended"]
    first = lines[0]
    assert set(first) == {"ts", "level", "logger", "message"}  # no call_uid outside a call
    assert first["level"] == "INFO" and first["logger"] == "callwright.test.logs"
    assert str(first["ts"]).endswith("Z")

    text = text_out.getvalue().splitlines()
    assert text[0].endswith("callwright.test.logs: outside any call")
    assert any(line.endswith("callwright.test.logs: [call uid-a] answered now") for line in text)


async def test_an_exception_is_kept_in_its_json_line(
    capture: tuple[io.StringIO, io.StringIO],
) -> None:
    json_out, _ = capture
    bind_call_uid("uid-x")
    try:
        raise ValueError("bad thing")
    except ValueError:
        log.exception("it failed: %s", "détail")
    (line,) = records(json_out)
    assert line["message"] == "it failed: détail" and line["call_uid"] == "uid-x"
    assert "ValueError: bad thing" in str(line["exc"])


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        log_handler("xml")


def test_configure_logging_installs_the_handler_once() -> None:
    root = logging.getLogger()
    saved, saved_level = root.handlers[:], root.level
    root.handlers.clear()
    out = io.StringIO()
    try:
        configure_logging("warning", "json", out)
        configure_logging("debug", "text", io.StringIO())  # a second call changes nothing
        logging.getLogger("x").info("hidden")
        logging.getLogger("x").warning("shown")
        assert [r["message"] for r in records(out)] == ["shown"]
        assert root.level == logging.WARNING
    finally:
        root.handlers[:] = saved
        root.setLevel(saved_level)
