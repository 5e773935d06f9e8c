"""What the simulated FreeSWITCH answers to ``api show modules``: the rows of the modules it
imitates, in the form FreeSWITCH 1.10.12 wrote them (modules-loaded.txt: a CSV header
``type,name,ikey,filename``, one row per interface sorted by type and name, a blank line and
``<n> total.``; tests/fs_app/simulator/test_modules.py holds it to the recording)."""

from __future__ import annotations

from collections.abc import Iterable

#: Where the module files are (the recording's build had its own prefix).
MOD_DIR = "/usr/lib/freeswitch/mod"

#: (type, name, ikey) of the interfaces the simulator implements, as the recorded build lists
#: them (mod_audio_fork's ``uuid_audio_fork`` and mod_audio_stream's ``uuid_audio_stream``
#: included: ``without`` drops a module).
MODULE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("api", "event_sink", "mod_event_socket"),
    ("api", "hupall", "mod_commands"),
    ("api", "module_exists", "mod_commands"),
    ("api", "originate", "mod_commands"),
    ("api", "show", "mod_commands"),
    ("api", "status", "mod_commands"),
    ("api", "uuid_audio_fork", "mod_audio_fork"),
    ("api", "uuid_audio_stream", "mod_audio_stream"),
    ("api", "uuid_break", "mod_commands"),
    ("api", "uuid_broadcast", "mod_commands"),
    ("api", "uuid_kill", "mod_commands"),
    ("api", "uuid_transfer", "mod_commands"),
    ("api", "version", "mod_commands"),
    ("application", "answer", "mod_dptools"),
    ("application", "bridge", "mod_dptools"),
    ("application", "hangup", "mod_dptools"),
    ("application", "log", "mod_dptools"),
    ("application", "park", "mod_dptools"),
    ("application", "playback", "mod_dptools"),
    ("application", "socket", "mod_event_socket"),
    ("application", "transfer", "mod_dptools"),
    ("application", "unloop", "mod_loopback"),
    ("endpoint", "loopback", "mod_loopback"),
    ("endpoint", "null", "mod_loopback"),
    ("file", "silence_stream", "mod_tone_stream"),
    ("file", "tone_stream", "mod_tone_stream"),
)


def module_rows(without: Iterable[str] = ()) -> tuple[tuple[str, str, str], ...]:
    """:data:`MODULE_ROWS` less the modules (ikeys) in ``without`` (not loaded)."""
    dropped = set(without)
    return tuple(row for row in MODULE_ROWS if row[2] not in dropped)


def show_modules(rows: Iterable[tuple[str, str, str]]) -> str:
    """The body of ``api show modules``."""
    lines = [f"{kind},{name},{ikey},{MOD_DIR}/{ikey}.so" for kind, name, ikey in sorted(rows)]
    return "type,name,ikey,filename\n" + "".join(f"{line}\n" for line in lines) \
        + f"\n{len(lines)} total.\n"
