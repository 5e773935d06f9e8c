"""The sans-IO AGI protocol against what a real Asterisk 22 sent, plus fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agi.environment import AgiEnvironment, parse_environment
from agi.protocol import (
    MAX_LINE_BYTES,
    AgiConnection,
    AgiEvent,
    Command,
    DeadChannel,
    ErrorReply,
    HangupNotice,
    InvalidCommand,
    Reply,
    UsageError,
    command_error,
    parse_success,
    quote_arg,
    split_command_line,
)
from callwright.errors import ProtocolError
from tests.agi.conftest import AgiFacts


def ready(env: str) -> AgiConnection:
    conn = AgiConnection()
    events = conn.receive(env.encode())
    assert len(events) == 1 and isinstance(events[0], AgiEnvironment)
    return conn


def to_command(line: str) -> Command:
    """A recorded command line as a Command: the leading upper-case words are its name."""
    words = split_command_line(line)
    size = 0
    while size < len(words) and words[size].isalpha() and words[size].isupper():
        size += 1
    return Command(" ".join(words[:size]), tuple(words[size:]))


def exchange(conn: AgiConnection, command: str, reply: str) -> list[AgiEvent]:
    assert conn.send(to_command(command)) == (command + "\n").encode() or '"' in command
    return conn.receive(reply.encode())


# -- the environment ------------------------------------------------------------------------------


def test_the_recorded_fastagi_environment(agi_facts: AgiFacts) -> None:
    conn = AgiConnection()
    [env] = conn.receive(agi_facts.fastagi_env.encode())
    assert isinstance(env, AgiEnvironment)
    assert env.network and not env.enhanced
    assert env.script == "test"
    assert env.request == "agi://127.0.0.1:4573/test"
    assert env.channel == "Local/s@caller-long-00000022;1"
    assert env.uniqueid == "1795327395.125"
    assert env.caller_number == "5551234" and env.caller_name == "Alice"
    assert env.context == "agi-test" and env.extension == "100" and env.priority == "2"
    assert env.get("accountcode") == ""  # "agi_accountcode: " with its trailing space
    assert env.get("agi_version") == "22.10.1"
    assert env.args == ("foo", "bar baz")
    assert env.dialed == "foo"  # the first argument wins over the extension
    assert len(env.values) == 24


def test_the_recorded_eagi_environment(agi_facts: AgiFacts) -> None:
    [env] = AgiConnection().receive(agi_facts.eagi_env.encode())
    assert isinstance(env, AgiEnvironment)
    assert env.enhanced and not env.network
    assert env.script == "eagi_facts.py"
    assert env.caller_number == "" and env.caller_name == ""  # "unknown"
    assert env.args == ()
    assert env.dialed == "100"


def test_the_environment_fed_byte_by_byte(agi_facts: AgiFacts) -> None:
    conn = AgiConnection()
    data = agi_facts.fastagi_env.encode()
    events = [e for i in range(len(data)) for e in conn.receive(data[i:i + 1])]
    assert len(events) == 1 and isinstance(events[0], AgiEnvironment)
    assert events[0].args == ("foo", "bar baz")


@pytest.mark.parametrize("garbage", [
    b"hello world\n\n",
    b"agi_request agi://x/y\n\n",
    b"AGI_REQUEST: x\n\n",
    b"\n",  # an empty block
    b"agi_channel: SIP/1\n\n",  # no agi_request
    b"agi_request: a\nagi_request: b\n\n",
    b"agi_request: a\nagi_arg_2: x\n\n",  # arguments must be numbered from 1
    b"agi_request: " + b"x" * (MAX_LINE_BYTES + 10) + b"\n\n",
])
def test_a_broken_environment_is_a_protocol_error(garbage: bytes) -> None:
    with pytest.raises(ProtocolError):
        AgiConnection().receive(garbage)


def test_a_line_that_never_ends_is_refused_before_it_fills_memory() -> None:
    conn = AgiConnection()
    with pytest.raises(ProtocolError, match="longer than"):
        for _ in range(100):
            conn.receive(b"x" * 1024)


def test_closing_in_the_middle_of_the_environment_is_a_protocol_error() -> None:
    conn = AgiConnection()
    conn.receive(b"agi_request: x\n")
    with pytest.raises(ProtocolError):
        conn.receive_eof()


# -- commands -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command, line", [
    (Command("ANSWER"), "ANSWER"),
    (Command("GET VARIABLE", ("CALLERID(num)",)), "GET VARIABLE CALLERID(num)"),
    (Command("SET VARIABLE", ("FOO", "bar baz")), 'SET VARIABLE FOO "bar baz"'),
    (Command("GET FULL VARIABLE", ("${CHANNEL}",)), "GET FULL VARIABLE ${CHANNEL}"),
    (Command("STREAM FILE", ("hello", "")), 'STREAM FILE hello ""'),
    (Command("VERBOSE", ("hello from fastagi", "1")), 'VERBOSE "hello from fastagi" 1'),
    (Command("channel  status"), "CHANNEL STATUS"),
    (Command("SET VARIABLE", ("X", 'say "hi" \\o/')), 'SET VARIABLE X "say \\"hi\\" \\\\o/"'),
])
def test_commands_are_written_as_asterisk_reads_them(command: Command, line: str) -> None:
    assert command.line == line
    assert command.encode() == (line + "\n").encode()


def test_the_recorded_command_lines_split_into_their_words(agi_facts: AgiFacts) -> None:
    lines = [command for command, _ in agi_facts.exchanges]
    assert split_command_line(lines[2]) == ["GET", "VARIABLE", "CALLERID(name)"]
    assert split_command_line(lines[4]) == ["SET", "VARIABLE", "FOO", "bar baz"]
    assert split_command_line(lines[9]) == ["STREAM", "FILE", "no-such-file", ""]
    assert split_command_line(lines[10]) == ["STREAM", "FILE", "beep", "0123456789*#"]


@pytest.mark.parametrize("arg", ["a\nHANGUP", "x\r", "nul\x00"])
def test_an_argument_that_would_inject_a_second_command_is_refused(arg: str) -> None:
    with pytest.raises(ValueError):
        Command("SET VARIABLE", ("FOO", arg))


@pytest.mark.parametrize("name", ["", "ANSWER\nHANGUP", "GET-VARIABLE", "1ANSWER"])
def test_a_bad_command_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        Command(name)


def test_one_command_at_a_time(agi_facts: AgiFacts) -> None:
    with pytest.raises(RuntimeError):
        AgiConnection().send(Command("ANSWER"))  # before the environment
    conn = ready(agi_facts.fastagi_env)
    conn.send(Command("ANSWER"))
    with pytest.raises(RuntimeError):
        conn.send(Command("NOOP"))
    assert conn.receive(b"200 result=0\n") == [Reply("0")]
    conn.send(Command("NOOP"))


# -- replies --------------------------------------------------------------------------------------


def test_every_recorded_reply(agi_facts: AgiFacts) -> None:
    conn = ready(agi_facts.fastagi_env)
    got = []
    for command, reply in agi_facts.exchanges:
        events = exchange(conn, command, reply)
        if command == "HANGUP":
            events += conn.receive(agi_facts.hangup_notice.encode())
        got.append(events)
    replies = [events[0] for events in got]
    assert [r.value for r in replies[:8] if isinstance(r, Reply)] == [0, 1, 1, 0, 1, 1, 1, 6]
    assert replies[1] == Reply("1", "5551234")
    assert replies[3] == Reply("0")
    assert replies[5] == Reply("1", "bar baz")
    assert replies[6] == Reply("1", "Local/s@caller-long-00000022;1")
    hello, missing, beep = replies[8:11]
    assert isinstance(hello, Reply) and hello.value == 0 and hello.endpos == 40350
    assert isinstance(missing, Reply) and missing.value == -1 and missing.endpos == 0
    assert isinstance(beep, Reply) and beep.endpos == 3404
    assert replies[13] == ErrorReply(510, "Invalid or unknown command")
    usage = replies[14]
    assert isinstance(usage, ErrorReply) and usage.code == 520
    assert usage.message == "Invalid command syntax.  Proper usage follows:"
    assert usage.usage[1] == "Example return code: 200 result=1 (testvariable)"
    assert got[15] == [Reply("1"), HangupNotice()]
    assert conn.hung_up
    assert replies[16] == Reply("1", "bar baz")  # still answers on the dead channel
    dead = replies[17]
    assert isinstance(dead, ErrorReply) and dead.code == 511


def test_the_whole_recorded_stream_in_arbitrary_pieces(agi_facts: AgiFacts) -> None:
    whole = ready(agi_facts.fastagi_env)
    pieces = ready(agi_facts.fastagi_env)
    for command, reply in agi_facts.exchanges[:15]:
        expected = exchange(whole, command, reply)
        pieces.send(to_command(command))
        data = reply.encode()
        events = [e for i in range(0, len(data), 7) for e in pieces.receive(data[i:i + 7])]
        assert events == expected and len(expected) == 1


def test_error_replies_become_typed_errors() -> None:
    assert isinstance(command_error(ErrorReply(510, "x")), InvalidCommand)
    assert isinstance(command_error(ErrorReply(511, "x")), DeadChannel)
    error = command_error(ErrorReply(520, "x", ("usage",)), "GET VARIABLE")
    assert isinstance(error, UsageError) and error.usage == ("usage",)
    assert "GET VARIABLE" in str(error)


@pytest.mark.parametrize("text, reply", [
    ("result=1 (a) b=c)", Reply("1", "a) b=c")),
    ("result= (timeout)", Reply("", "timeout")),
    ("result=0 (dtmf) endpos=120", Reply("0", "dtmf", {"endpos": "120"})),
    ("result=1 ()", Reply("1", "")),
    ("result=-1 endpos=0", Reply("-1", None, {"endpos": "0"})),
])
def test_success_replies(text: str, reply: Reply) -> None:
    parsed = parse_success(text)
    assert (parsed.result, parsed.data, dict(parsed.extra)) == (
        reply.result, reply.data, dict(reply.extra))


@pytest.mark.parametrize("text", ["resul=1", "result=1 (open", "result=1 garbage", "ok"])
def test_malformed_success_replies(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_success(text)


def test_a_non_integer_result_is_a_protocol_error_only_when_read_as_one() -> None:
    reply = parse_success("result=*12#")
    assert reply.result == "*12#"
    with pytest.raises(ProtocolError):
        _ = reply.value


@pytest.mark.parametrize("line", [
    b"200 result=0\n",          # no command was sent
    b"hello\n",
    b"100 Trying\n",
    b"404-not a usage reply\n",
])
def test_unexpected_lines_after_the_environment(agi_facts: AgiFacts, line: bytes) -> None:
    conn = ready(agi_facts.fastagi_env)
    if not line.startswith(b"200"):
        conn.send(Command("NOOP"))
    with pytest.raises(ProtocolError):
        conn.receive(line)


def test_an_endless_usage_reply_is_refused(agi_facts: AgiFacts) -> None:
    conn = ready(agi_facts.fastagi_env)
    conn.send(Command("GET VARIABLE"))
    conn.receive(b"520-Invalid command syntax.\n")
    with pytest.raises(ProtocolError):
        conn.receive(b"help text\n" * 1000)


# -- fuzzing --------------------------------------------------------------------------------------

_printable = st.text(st.characters(exclude_characters="\n\r\x00", exclude_categories=["Cs"]),
                     max_size=60)


@given(_printable)
def test_any_argument_survives_the_round_trip(arg: str) -> None:
    line = Command("SET VARIABLE", ("FOO", arg)).line
    assert split_command_line(line) == ["SET", "VARIABLE", "FOO", arg]
    assert "\n" not in line


@given(_printable)
def test_a_quoted_argument_is_one_word(arg: str) -> None:
    assert split_command_line(quote_arg(arg)) == [arg]


@given(_printable)
def test_any_variable_value_comes_back_as_sent(value: str) -> None:
    reply = parse_success(f"result=1 ({value})")
    assert reply.data == value and reply.value == 1


@given(st.dictionaries(st.from_regex(r"agi_[a-z][a-z0-9_]{0,12}", fullmatch=True),
                       _printable, max_size=20))
def test_any_environment_comes_back_as_sent(values: dict[str, str]) -> None:
    values = {k: v for k, v in values.items() if not k.startswith("agi_arg_")}
    values["agi_request"] = "agi://127.0.0.1/route"
    block = "".join(f"{k}: {v}\n" for k, v in values.items()) + "\n"
    [env] = AgiConnection().receive(block.encode())
    assert isinstance(env, AgiEnvironment) and dict(env.values) == values
    assert parse_environment(f"{k}: {v}" for k, v in values.items()) == env


@settings(max_examples=300)
@given(st.binary(max_size=400), st.booleans())
def test_garbage_is_a_protocol_error_or_events_never_a_crash(data: bytes,
                                                             after_env: bool) -> None:
    conn = AgiConnection()
    if after_env:
        conn.receive(b"agi_request: x\n\n")
        conn.send(Command("NOOP"))
    try:
        events = conn.receive(data)
        conn.receive_eof()
    except ProtocolError:
        return
    assert all(isinstance(e, AgiEnvironment | Reply | ErrorReply | HangupNotice)
               for e in events)


_REPLY_LINES = [
    "200 result=0", "200 result=1 (x y)", "200 result=-1 endpos=0", "HANGUP",
    "510 Invalid or unknown command", "511 Command Not Permitted", "520-usage", "text",
    "520 End of proper usage.", "200 result=", "garbage (", "",
]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(_REPLY_LINES), min_size=1, max_size=8), st.integers(1, 9))
def test_replies_give_the_same_events_in_any_chunking(lines: list[str], chunk: int) -> None:
    data = "".join(line + "\n" for line in lines).encode()

    def run(size: int) -> list[object]:
        conn = AgiConnection()
        conn.receive(b"agi_request: x\n\n")
        conn.send(Command("NOOP"))
        seen: list[object] = []
        try:
            for i in range(0, len(data), size):
                seen += conn.receive(data[i:i + size])
        except ProtocolError:
            return ["protocol error"]  # the connection is dead: what came before is moot
        return seen

    assert run(len(data)) == run(chunk)
