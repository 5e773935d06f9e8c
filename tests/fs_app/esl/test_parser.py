"""The ESL parser against every message of the recorded traces, whole and in any chunking, and
against input that is not ESL."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fs_app.esl.message import EslMessage, EslProtocolError, api_response, encode_message, reply
from fs_app.esl.parser import EslParser
from tests.fs_app.traces import ESL_FILES, received, streams


@pytest.mark.parametrize("name", ESL_FILES)
def test_every_recorded_message_parses_to_its_headers_and_body(name: str) -> None:
    seen = 0
    for line in received(name):
        raw = line["raw"].encode("utf-8")
        messages = EslParser().feed(raw)
        assert len(messages) == 1, line["raw"][:200]
        message = messages[0]
        if line["dir"] == "recv":
            assert [list(h) for h in message.headers] == line["headers"]
            assert message.text == line["body"]
            assert message.content_type == line["ctype"]
        else:
            assert message.content_type == line["ctype"]
        assert encode_message(message.headers, message.body) == raw  # nothing lost or added
        seen += 1
    assert seen > 0


@pytest.mark.parametrize("name", [n for n in ESL_FILES if n.startswith("esl-")])
def test_a_whole_connection_parses_the_same_in_any_chunking(name: str) -> None:
    for conn, data in streams(name).items():
        whole = EslParser().feed(data)
        for size in (1, 7, 1000):
            parser = EslParser()
            pieces: list[EslMessage] = []
            for start in range(0, len(data), size):
                pieces.extend(parser.feed(data[start:start + size]))
            assert pieces == whole, (conn, size)
            assert parser.pending == 0


def test_the_outbound_connect_reply_is_one_block_of_url_encoded_channel_data() -> None:
    connect = next(line for line in received("esl-outbound.jsonl")
                   if line["ctype"] == "command/reply" and "Event-Name" in line["raw"])
    message = EslParser().feed(connect["raw"].encode())[0]
    assert message.body == b""
    assert message.headers[-4:] == (
        ("Content-Type", "command/reply"), ("Reply-Text", "%2BOK%0A"),
        ("Socket-Mode", "async"), ("Control", "full"),
    )
    assert message.reply_text == "+OK\n" and message.is_ok
    data = message.decoded()
    assert data["Event-Name"] == "CHANNEL_DATA"
    assert data["Caller-Caller-ID-Number"] == "5551234"
    assert data["Answer-State"] == "ringing"


def test_replies_encode_as_freeswitch_writes_them() -> None:
    assert reply("+OK accepted") == b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
    assert api_response("true") == b"Content-Type: api/response\nContent-Length: 4\n\ntrue"


@pytest.mark.parametrize(("data", "why"), [
    (b"Content-Type command/reply\n\n", "header line 1 is not 'Name: value'"),
    (b"Content-Type: api/response\nContent-Length: four\n\ntrue", "Content-Length is not a number"),
    (b"Content-Type: api/response\nContent-Length: -4\n\ntrue", "Content-Length is not a number"),
    (b"\n\n", "empty header block"),
    (b"Content-Type: a\xff\n\n", "not UTF-8"),
])
def test_input_that_is_not_esl_is_a_clear_error(data: bytes, why: str) -> None:
    with pytest.raises(EslProtocolError, match=why):
        EslParser().feed(data)


def test_messages_before_the_bad_input_are_kept_and_the_parser_stops() -> None:
    good = reply("+OK accepted") + api_response("true")
    parser = EslParser()
    with pytest.raises(EslProtocolError) as caught:
        parser.feed(good + b"garbage without colon\n\n" + reply("+OK"))
    assert [m.content_type for m in caught.value.complete] == ["command/reply", "api/response"]
    with pytest.raises(EslProtocolError, match="already failed"):
        parser.feed(reply("+OK"))


def test_an_endless_header_block_is_refused() -> None:
    with pytest.raises(EslProtocolError, match="no end of headers"):
        EslParser().feed(b"X: " + b"y" * (300 * 1024))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_messages_or_a_protocol_error(data: bytes) -> None:
    parser = EslParser()
    got: list[EslMessage] = []
    try:
        for start in range(0, len(data), 17):
            got.extend(parser.feed(data[start:start + 17]))
    except EslProtocolError as exc:
        assert str(exc)  # it says what is wrong
        got.extend(exc.complete)
    # Every message handed out is whole: its bytes are at most what was fed.
    assert all(isinstance(message, EslMessage) for message in got)
    assert sum(len(message.body) for message in got) <= len(data)


header_name = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
                      min_size=1, max_size=12)
header_value = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=20)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(header_name, header_value), min_size=1, max_size=6),
       st.binary(max_size=50), st.integers(min_value=1, max_value=40))
def test_encoded_messages_parse_back_in_any_chunking(
    headers: list[tuple[str, str]], body: bytes, size: int
) -> None:
    headers = [(k, v) for k, v in headers if k != "Content-Length"]
    headers.append(("Content-Length", str(len(body))))
    data = encode_message(headers, body) * 2
    parser = EslParser()
    out: list[EslMessage] = []
    for start in range(0, len(data), size):
        out.extend(parser.feed(data[start:start + size]))
    assert out == [EslMessage(tuple(headers), body)] * 2
