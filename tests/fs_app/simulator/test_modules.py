"""``api show modules`` on the simulator, held to what FreeSWITCH 1.10.12 listed
(modules-loaded.txt), and the doctor's reading of both."""

from __future__ import annotations

from callwright.doctor.freeswitch import (
    NEEDED_MODULES,
    modules_verdict,
    needed_modules,
    parse_show_modules,
)
from callwright.doctor.report import Status
from fs_app.simulator.modules import MOD_DIR, MODULE_ROWS, module_rows, show_modules
from fs_app.simulator.server import FreeswitchSimulator, socket_dialplan
from tests.fs_app.simulator.esl_client import RawEsl
from tests.fs_app.traces import FACTS

#: FreeSWITCH's reply body (the capture added a newline after it).
RECORDED = (FACTS / "modules-loaded.txt").read_text(encoding="utf-8").removesuffix("\n")
RECORDED_DIR = "/srv/fs-lab/fs/lib/freeswitch/mod"


def test_every_simulated_row_is_a_recorded_row() -> None:
    recorded = set(RECORDED.replace(RECORDED_DIR, MOD_DIR).splitlines())
    ours = show_modules(MODULE_ROWS).splitlines()
    assert ours[0] == RECORDED.splitlines()[0] == "type,name,ikey,filename"
    missing = [line for line in ours[1:-2] if line not in recorded]
    assert not missing


def test_the_list_ends_as_recorded() -> None:
    body = show_modules(MODULE_ROWS)
    assert body.endswith(f"\n\n{len(MODULE_ROWS)} total.\n")
    assert RECORDED.endswith("\n\n385 total.\n")
    rows = RECORDED.splitlines()[1:-2]
    assert rows == sorted(rows, key=lambda r: tuple(r.split(",")[:2]))  # by type, then name
    assert len(rows) == 385


def test_the_doctor_reads_the_recorded_list_and_the_simulated_one() -> None:
    recorded = parse_show_modules(RECORDED)
    assert set(NEEDED_MODULES) <= recorded and "mod_audio_stream" in recorded
    assert parse_show_modules(show_modules(MODULE_ROWS)) == set(NEEDED_MODULES) | {
        "mod_audio_stream", "mod_loopback"}
    assert modules_verdict(recorded).status is Status.OK
    assert modules_verdict(recorded, "audio_stream").status is Status.OK
    fork_less = parse_show_modules(show_modules(module_rows(without=["mod_audio_fork"])))
    verdict = modules_verdict(fork_less)
    assert verdict.status is Status.FAIL and verdict.detail == (
        "not loaded: mod_audio_fork (mod_audio_stream is loaded: [freeswitch] media ="
        " 'audio_stream' would use it, with slower replies)")
    assert modules_verdict(fork_less, "audio_stream").status is Status.OK


def test_each_media_needs_its_own_module() -> None:
    """mod_audio_stream's calls need no silence playback (mod_tone_stream), but mod_commands'
    uuid_broadcast for their replies."""
    assert set(needed_modules("audio_fork")) == {
        "mod_audio_fork", "mod_event_socket", "mod_dptools", "mod_commands", "mod_tone_stream"}
    assert set(needed_modules("audio_stream")) == {
        "mod_audio_stream", "mod_event_socket", "mod_dptools", "mod_commands"}
    loaded = set(needed_modules("audio_stream"))
    assert modules_verdict(loaded, "audio_stream").status is Status.OK
    verdict = modules_verdict(loaded - {"mod_audio_stream", "mod_commands"}, "audio_stream")
    assert verdict.status is Status.FAIL
    assert verdict.detail == "not loaded: mod_audio_stream, mod_commands"
    assert "build amigniter mod_audio_stream" in verdict.fix and "load mod_commands" in verdict.fix
    fork_instead = loaded - {"mod_audio_stream"} | {"mod_audio_fork"}
    assert modules_verdict(fork_instead, "audio_stream").detail == (
        "not loaded: mod_audio_stream (mod_audio_fork is loaded: [freeswitch] media ="
        " 'audio_fork' would use it)")


async def test_api_show_modules_over_esl() -> None:
    sim = FreeswitchSimulator(dialplan=socket_dialplan("127.0.0.1", 9),
                              modules=module_rows(without=["mod_audio_fork"]))
    await sim.start()
    esl = await RawEsl.open(sim.esl_port)
    try:
        await esl.next()
        assert (await esl.command("auth ClueCon\n\n")).reply_text == "+OK accepted"
        answer = await esl.command("api show modules\n\n")
        assert answer.content_type == "api/response"
        assert answer.text == show_modules(module_rows(without=["mod_audio_fork"]))
        assert "mod_audio_fork" not in answer.text and "mod_tone_stream" in answer.text
    finally:
        esl.close()
        await sim.stop()
