"""The [[pbx]] list and [server] node_id (issue 13): one node serving several Asterisk servers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from callwright.config import DEFAULT_PBX, load_config
from callwright.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callwright.toml"
    path.write_text(text, encoding="utf-8")
    return path


TWO = """
[ari]
password = "shared"
app = "cw"

[media]
bind_host = "10.0.0.21"

[[pbx]]
name = "pbx-a"
url = "http://10.0.0.11:8088"

[[pbx]]
name = "pbx-b"
url = "https://10.0.0.12:8089"
password = "own"
app = "cw-b"
[pbx.media]
transport = "audiosocket"
format = "slin16"
rtp_port_min = 41000
rtp_port_max = 41999
audiosocket_port = 9093
"""


def test_two_pbxes_take_their_missing_keys_from_ari_and_media(tmp_path: Path) -> None:
    s = load_config(write(tmp_path, TWO), {})
    a, b = s.pbxes
    assert (a.name, a.ari.url, a.ari.password, a.ari.app) == (
        "pbx-a", "http://10.0.0.11:8088", "shared", "cw")
    assert (a.media.transport, a.media.bind_host, a.media.advertise_host) == (
        "rtp", "10.0.0.21", "10.0.0.21")
    assert (b.ari.password, b.ari.app, b.media.transport, b.media.format) == (
        "own", "cw-b", "audiosocket", "slin16")
    assert (b.media.rtp_port_min, b.media.bind_host) == (41000, "10.0.0.21")
    assert not s.ari.enabled


def test_audiosocket_ports_on_one_host_must_differ(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, TWO.replace("audiosocket_port = 9093\n", "")), {})
    assert caught.value.key == "pbx.pbx-b.media.audiosocket_port"


def test_environment_overrides_of_ari_and_media_reach_the_entries(tmp_path: Path) -> None:
    s = load_config(write(tmp_path, TWO), {"CALLWRIGHT_ARI_USERNAME": "from-env",
                                           "CALLWRIGHT_MEDIA_BIND_HOST": "10.9.9.9"})
    assert [p.ari.username for p in s.pbxes] == ["from-env", "from-env"]
    assert [p.media.advertise_host for p in s.pbxes] == ["10.9.9.9", "10.9.9.9"]


def test_the_ari_section_alone_is_one_pbx_named_default(tmp_path: Path) -> None:
    s = load_config(write(tmp_path, '[ari]\nurl = "http://pbx:8088"\npassword = "p"\n'), {})
    (only,) = s.pbxes
    assert only.name == DEFAULT_PBX and only.ari == s.ari and only.media == s.media
    assert load_config(None, {}).pbxes == ()


def test_node_id_defaults_to_the_host_name(tmp_path: Path) -> None:
    assert load_config(None, {}).node_id == socket.gethostname()
    assert load_config(None, {"CALLWRIGHT_SERVER_NODE_ID": "node-7"}).node_id == "node-7"


@pytest.mark.parametrize(("text", "key", "expected"), [
    ('[[pbx]]\nurl = "http://a:8088"\npassword = "p"\n', "pbx[0].name", "a name"),
    ('[[pbx]]\nname = "a b"\nurl = "http://a:8088"\npassword = "p"\n', "pbx[0].name", "a name"),
    ('[[pbx]]\nname = "a"\npassword = "p"\n', "pbx.a.url", "the URL"),
    ('[[pbx]]\nname = "a"\nurl = "http://a:8088/ari"\npassword = "p"\n', "pbx.a.url", "without"),
    ('[[pbx]]\nname = "a"\nurl = "http://a:8088"\n', "pbx.a.password", "a password"),
    ('[[pbx]]\nname = "a"\nurl = "http://a:8088"\npassword = "p"\nport = 1\n', "pbx.a.port",
     "a known key"),
    ('[[pbx]]\nname = "a"\nurl = "http://a:8088"\npassword = "p"\n[pbx.media]\nformat = "x"\n',
     "pbx.a.media.format", "one of"),
    ('[[pbx]]\nname = "a"\nurl = "http://a:8088"\npassword = "p"\nmedia = 3\n', "pbx.a.media",
     "a [pbx.media] table"),
    ('[ari]\nurl = "http://a:8088"\npassword = "p"\n[[pbx]]\nname = "a"\nurl = "http://b:8088"\n',
     "ari.url", "when a [[pbx]] list"),
    ('[[pbx]]\nname = "a"\nurl = "http://a:8088"\npassword = "p"\n'
     '[[pbx]]\nname = "a"\nurl = "http://b:8088"\npassword = "p"\n'
     '[pbx.media]\nrtp_port_min = 41000\nrtp_port_max = 41999\n', "pbx.a.name", "no other"),
    ('[[pbx]]\nname = "a"\nurl = "http://a:8088"\npassword = "p"\n'
     '[[pbx]]\nname = "b"\nurl = "http://A:8088"\npassword = "p"\n'
     '[pbx.media]\nrtp_port_min = 41000\nrtp_port_max = 41999\n', "pbx.b.app", "other than"),
    ('[[pbx]]\nname = "a"\nurl = "http://a:8088"\npassword = "p"\n'
     '[[pbx]]\nname = "b"\nurl = "http://b:8088"\npassword = "p"\n'
     '[pbx.media]\nrtp_port_min = 40900\nrtp_port_max = 41999\n', "pbx.b.media.rtp_port_min",
     "apart from pbx.a's"),
    ('pbx = 3\n', "pbx", "a list of [[pbx]] tables"),
])
def test_bad_entries_are_refused_naming_the_key(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), {})
    assert caught.value.key == key
    assert expected in caught.value.expected


def test_disjoint_ports_on_different_hosts_may_repeat(tmp_path: Path) -> None:
    s = load_config(write(tmp_path, (
        '[[pbx]]\nname = "a"\nurl = "http://a:8088"\npassword = "p"\n'
        '[[pbx]]\nname = "b"\nurl = "http://b:8088"\npassword = "p"\n'
        '[pbx.media]\nbind_host = "127.0.0.2"\n')), {})
    assert [p.media.rtp_port_min for p in s.pbxes] == [40000, 40000]
