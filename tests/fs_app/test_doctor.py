"""``callwright doctor``'s FreeSWITCH checks against the FreeSWITCH simulator: all pass, and each
failure with its fix line."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from callwright.config import FreeswitchSettings, Settings
from callwright.doctor.freeswitch import AUDIO_ID, ESL_ID, FS_MODULES_ID, SOCKET_ID
from callwright.doctor.report import Check, Status
from cli.doctor import run_doctor
from fs_app.doctor import freeswitch_checks
from fs_app.simulator.modules import module_rows
from fs_app.simulator.server import FreeswitchSimulator, socket_dialplan

PASSWORD = "fs-doctor-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(esl_port: int, **overrides: object) -> Settings:
    fs = FreeswitchSettings(esl_host="127.0.0.1", esl_port=esl_port, esl_password=PASSWORD,
                            socket_port=free_port(), audio_port=free_port())
    return Settings(freeswitch=dataclasses.replace(fs, **overrides))  # type: ignore[arg-type]


async def start_sim(**kwargs: object) -> FreeswitchSimulator:
    sim = FreeswitchSimulator(dialplan=socket_dialplan("127.0.0.1", 8040), password=PASSWORD,
                              **kwargs)  # type: ignore[arg-type]
    await sim.start()
    return sim


@pytest.fixture
async def sim() -> AsyncIterator[FreeswitchSimulator]:
    simulator = await start_sim()
    yield simulator
    await simulator.stop()


def by_id(checks: list[Check]) -> dict[str, Check]:
    return {c.id: c for c in checks}


async def test_not_configured_adds_no_line() -> None:
    assert await freeswitch_checks(Settings()) == []


async def test_every_freeswitch_check_passes(sim: FreeswitchSimulator) -> None:
    checks = await freeswitch_checks(make_settings(sim.esl_port), step_timeout_s=2.0)
    assert [c.id for c in checks] == [ESL_ID, FS_MODULES_ID, SOCKET_ID, AUDIO_ID]
    assert {c.status for c in checks} == {Status.OK}, checks
    assert "FreeSWITCH Version 1.10.12" in checks[0].detail
    assert "mod_audio_fork" in checks[1].detail


async def test_a_wrong_password_fails_with_the_key_to_set(sim: FreeswitchSimulator) -> None:
    checks = by_id(await freeswitch_checks(
        make_settings(sim.esl_port, esl_password="wrong"), step_timeout_s=2.0))
    esl = checks[ESL_ID]
    assert esl.status is Status.FAIL and "password refused: -ERR invalid" in esl.detail
    assert "[freeswitch] esl_password" in esl.fix and "event_socket.conf.xml" in esl.fix
    assert checks[FS_MODULES_ID].status is Status.SKIP


async def test_nothing_listening_fails_with_where_to_look() -> None:
    port = free_port()
    checks = by_id(await freeswitch_checks(make_settings(port), step_timeout_s=2.0))
    esl = checks[ESL_ID]
    assert esl.status is Status.FAIL and esl.detail == f"127.0.0.1:{port} connection refused"
    assert "start FreeSWITCH" in esl.fix and "listen-port" in esl.fix
    assert checks[FS_MODULES_ID].status is Status.SKIP
    assert checks[SOCKET_ID].status is Status.OK  # our own addresses are still checked


async def test_a_server_that_is_not_esl_or_says_nothing() -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: x\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    for handler, problem, fix in ((http, "not FreeSWITCH's Event Socket", "listen-ip"),
                                  (silent, "timed out: no answer", "firewall")):
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            checks = by_id(await freeswitch_checks(make_settings(port), step_timeout_s=0.5))
        finally:
            server.close()
            await server.wait_closed()
        esl = checks[ESL_ID]
        assert esl.status is Status.FAIL and problem in esl.detail, esl
        assert fix in esl.fix


async def test_mod_audio_fork_not_loaded_fails_with_how_to_build_it() -> None:
    sim = await start_sim(modules=module_rows(without=["mod_audio_fork", "mod_tone_stream"]))
    try:
        checks = by_id(await freeswitch_checks(make_settings(sim.esl_port), step_timeout_s=2.0))
    finally:
        await sim.stop()
    modules = checks[FS_MODULES_ID]
    assert checks[ESL_ID].status is Status.OK
    assert modules.status is Status.FAIL
    assert modules.detail == (
        "not loaded: mod_audio_fork, mod_tone_stream (mod_audio_stream is loaded: [freeswitch]"
        " media = 'audio_stream' would use it, with slower replies)")
    assert "build jambonz mod_audio_fork" in modules.fix and "load mod_tone_stream" in modules.fix


async def test_media_audio_stream_needs_mod_audio_stream_not_the_fork() -> None:
    """[freeswitch] media = "audio_stream": the check asks for mod_audio_stream (and no
    mod_tone_stream, which only the fork's silence playback needs)."""
    sim = await start_sim(modules=module_rows(without=["mod_audio_fork", "mod_tone_stream"]))
    try:
        checks = by_id(await freeswitch_checks(make_settings(sim.esl_port, media="audio_stream"),
                                               step_timeout_s=2.0))
    finally:
        await sim.stop()
    modules = checks[FS_MODULES_ID]
    assert modules.status is Status.OK, modules
    assert "mod_audio_stream" in modules.detail and "mod_audio_fork" not in modules.detail


async def test_mod_audio_stream_not_loaded_fails_with_how_to_build_it() -> None:
    sim = await start_sim(modules=module_rows(without=["mod_audio_stream"]))
    try:
        checks = by_id(await freeswitch_checks(make_settings(sim.esl_port, media="audio_stream"),
                                               step_timeout_s=2.0))
    finally:
        await sim.stop()
    modules = checks[FS_MODULES_ID]
    assert modules.status is Status.FAIL
    assert modules.detail == ("not loaded: mod_audio_stream (mod_audio_fork is loaded:"
                              " [freeswitch] media = 'audio_fork' would use it)")
    assert "build amigniter mod_audio_stream" in modules.fix
    assert "load mod_audio_stream" in modules.fix


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


async def test_our_listen_addresses_in_use_or_not_ours(
    sim: FreeswitchSimulator, held_port: int
) -> None:
    checks = by_id(await freeswitch_checks(
        make_settings(sim.esl_port, socket_port=held_port, audio_host="192.0.2.1"),
        step_timeout_s=2.0))
    socket_line, audio_line = checks[SOCKET_ID], checks[AUDIO_ID]
    assert socket_line.status is Status.WARN
    assert socket_line.detail == f"127.0.0.1:{held_port} in use"
    assert "callwright serve-freeswitch" in socket_line.fix
    assert "socket_host/socket_port" in socket_line.fix
    assert audio_line.status is Status.FAIL and "not an address of this machine" in \
        audio_line.detail
    assert "[freeswitch] audio_host/audio_port" in audio_line.fix


async def test_run_doctor_checks_freeswitch_when_esl_host_is_set(
    sim: FreeswitchSimulator, tmp_path: Path
) -> None:
    env = {
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "var" / "callwright.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "var" / "recordings"),
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path / "var"),
        "CALLWRIGHT_FREESWITCH_ESL_HOST": "127.0.0.1",
        "CALLWRIGHT_FREESWITCH_ESL_PORT": str(sim.esl_port),
        "CALLWRIGHT_FREESWITCH_ESL_PASSWORD": PASSWORD,
        "CALLWRIGHT_FREESWITCH_SOCKET_PORT": str(free_port()),
        "CALLWRIGHT_FREESWITCH_AUDIO_PORT": str(free_port()),
    }
    report = await run_doctor(None, env, step_timeout_s=2.0, audio_timeout_s=1.0)
    lines = by_id(report.checks)
    for check_id in (ESL_ID, FS_MODULES_ID, SOCKET_ID, AUDIO_ID):
        assert lines[check_id].status is Status.OK, lines[check_id]
    # FreeSWITCH only: the ARI lines are skipped, not failed, and nothing fails.
    assert lines["ari"].status is Status.SKIP and "FreeSWITCH only" in lines["ari"].detail
    assert not report.failed, [c for c in report.checks if c.status is Status.FAIL]
    without = await run_doctor(None, {k: v for k, v in env.items() if "ESL_HOST" not in k},
                               step_timeout_s=2.0, audio_timeout_s=1.0)
    assert not any(c.id.startswith("freeswitch") for c in without.checks)
    assert by_id(without.checks)["ari"].status is Status.FAIL  # neither PBX set: as before


async def test_asterisk_in_pbx_entries_is_still_checked_beside_freeswitch(
    sim: FreeswitchSimulator, tmp_path: Path
) -> None:
    """[[pbx]] entries and no [ari] url: Asterisk is configured, so its lines are checked (here
    nothing listens: FAIL), not skipped as on a FreeSWITCH-only node."""
    config = tmp_path / "callwright.toml"
    config.write_text(f"""
[freeswitch]
esl_host = "127.0.0.1"
esl_port = {sim.esl_port}
esl_password = "{PASSWORD}"
socket_port = {free_port()}
audio_port = {free_port()}

[[pbx]]
name = "pbx-a"
url = "http://127.0.0.1:{free_port()}"
password = "secret-a"
""", encoding="utf-8")
    env = {"CALLWRIGHT_STORE_PATH": str(tmp_path / "var" / "callwright.db"),
           "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "var" / "recordings"),
           "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path / "var")}
    report = await run_doctor(config, env, step_timeout_s=2.0, audio_timeout_s=1.0)
    ari = [c for c in report.checks if c.id.startswith("ari") and c.id != "ari-tls"]
    assert ari and ari[0].status is Status.FAIL, ari
    assert by_id(report.checks)[ESL_ID].status is Status.OK
