"""Commands to FreeSWITCH as bytes (each ends with a blank line, as mod_event_socket reads them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fs_app.esl.message import EslProtocolError


def _line(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise EslProtocolError(f"an ESL command line cannot hold a line break: {text!r}")
    return text


def command(line: str, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    parts = [_line(line)] + [f"{_line(k)}: {_line(v)}" for k, v in headers]
    return ("\n".join(parts) + "\n\n").encode("utf-8")


def auth(password: str) -> bytes:
    return command(f"auth {password}")


def api(line: str) -> bytes:
    return command(f"api {line}")


def bgapi(line: str, job_uuid: str | None = None) -> bytes:
    return command(f"bgapi {line}", [("Job-UUID", job_uuid)] if job_uuid else [])


def events(names: Iterable[str], *, fmt: str = "plain") -> bytes:
    return command(f"event {fmt} {' '.join(names)}")


def connect() -> bytes:
    return command("connect")


def myevents(uuid: str = "", *, fmt: str = "") -> bytes:
    return command(" ".join(part for part in ("myevents", uuid, fmt) if part))


def linger(seconds: int | None = None) -> bytes:
    return command("linger" if seconds is None else f"linger {seconds}")


def exit_() -> bytes:
    return command("exit")


def execute(app: str, arg: str = "", *, uuid: str = "", event_lock: bool = True) -> bytes:
    """``sendmsg [uuid]`` running dialplan application ``app`` on the channel (outbound sockets
    omit the uuid: the socket's own channel)."""
    headers = [("call-command", "execute"), ("execute-app-name", app)]
    if arg:
        headers.append(("execute-app-arg", arg))
    if event_lock:
        headers.append(("event-lock", "true"))
    return command(f"sendmsg {uuid}".rstrip(), headers)


def hangup(cause: str = "NORMAL_CLEARING", *, uuid: str = "") -> bytes:
    return command(f"sendmsg {uuid}".rstrip(),
                   [("call-command", "hangup"), ("hangup-cause", cause)])


def originate_line(endpoint: str, variables: Sequence[tuple[str, str]],
                   app: str = "&park()") -> str:
    """``originate {name=value,...}<endpoint> <app>`` (the form recorded on 1.10.12): the
    variables become the originated leg's channel variables. The line is split on spaces and
    the ``{}`` list on commas, so neither may appear in a name or value (EslProtocolError)."""
    for text in (endpoint, *(part for pair in variables for part in pair)):
        if any(ch in text for ch in " ,{}'\"\n\r\t"):
            raise EslProtocolError(f"cannot go in an originate line: {text!r}")
    listed = ",".join(f"{name}={value}" for name, value in variables)
    return f"originate {{{listed}}}{endpoint} {app}" if listed else f"originate {endpoint} {app}"
