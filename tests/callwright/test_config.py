from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path

import pytest

from callwright.config import SECTIONS, Settings, load_config, section_keys
from callwright.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "callwright.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callwright.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_with_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_config(None, {})
    assert s.config_file is None
    assert s.server.log_level == "info"
    assert s.server.data_dir == tmp_path / "var"
    assert s.server.master_key_file == tmp_path / "var" / "master.key"
    assert s.ari.url == "" and not s.ari.enabled
    assert s.ari.reconnect_max_s == 30.0 and s.ari.reconnect_give_up_s == 0
    assert (s.media.transport, s.media.format) == ("rtp", "ulaw")
    assert s.media.advertise_host == "127.0.0.1"  # "" resolves to bind_host
    assert (s.media.rtp_port_min, s.media.rtp_port_max) == (40000, 40999)
    assert s.speech.models_dir == tmp_path / "voice_models" / "data"
    assert s.vad.aggressiveness == 2 and s.vad.barge_in is True
    assert not s.llm.enabled and s.llm.api_key_env == "CALLWRIGHT_LLM_API_KEY"
    assert s.calls.unknown_number_action == "message"
    assert s.store.path == tmp_path / "var" / "callwright.db"
    assert s.recordings.encrypt is False
    assert s.admin.port == 8080 and s.admin.secure_cookies is True
    assert s.demo.simulator_port == 0


def test_file_and_environment_override(tmp_path: Path) -> None:
    path = write(tmp_path, """
[ari]
url = "http://pbx.example:8088"
password = "from-file"
reconnect_max_s = 5          # an integer is fine for a float setting

[media]
transport = "audiosocket"
format = "slin16"
bind_host = "0.0.0.0"
advertise_host = "10.0.0.5"

[store]
path = "data/cw.db"
""")
    env = {
        "CALLWRIGHT_ARI_PASSWORD": "from-env",
        "CALLWRIGHT_MEDIA_AUDIOSOCKET_PORT": "9100",
        "CALLWRIGHT_VAD_BARGE_IN": "no",
        "CALLWRIGHT_LLM_TEMPERATURE": "0.7",
        "CALLWRIGHT_RECORDINGS_DIR": "/srv/recs",
        "CALLWRIGHT_LLM_API_KEY": "sk-not-a-setting",  # the key itself, named by api_key_env
        "CALLWRIGHT_SOMETOOL_FLAG": "1",  # not one of our sections: ignored
        "HOME": "/root",
    }
    s = load_config(path, env)
    assert s.config_file == path
    assert s.ari.url == "http://pbx.example:8088" and s.ari.password == "from-env"
    assert s.ari.reconnect_max_s == 5.0 and isinstance(s.ari.reconnect_max_s, float)
    assert (s.media.transport, s.media.format) == ("audiosocket", "slin16")
    assert s.media.advertise_host == "10.0.0.5"
    assert s.media.audiosocket_port == 9100
    assert s.vad.barge_in is False
    assert s.llm.temperature == 0.7
    assert s.store.path == tmp_path / "data" / "cw.db"  # relative to the file's directory
    assert s.recordings.dir == Path("/srv/recs")
    assert s.llm.api_key(env) == "sk-not-a-setting"


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[admin]\nport = 9999\n')
    s = load_config(None, {"CALLWRIGHT_CONFIG": str(path)})
    assert s.admin.port == 9999
    assert s.config_file == path


@pytest.mark.parametrize(
    ("word", "expected"),
    [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False), ("no", False)],
)
def test_booleans_from_environment(word: str, expected: bool) -> None:
    settings = load_config(None, {"CALLWRIGHT_ADMIN_SECURE_COOKIES": word})
    assert settings.admin.secure_cookies is expected


@pytest.mark.parametrize(
    ("toml", "key", "words"),
    [
        ('[server]\nlog_level = "loud"', "server.log_level", "debug, info, warning, error"),
        ('[admin]\nport = "80"', "admin.port", "an integer"),
        ('[admin]\nport = 70000', "admin.port", "from 1 to 65535"),
        ('[admin]\nsecure_cookies = "yes"', "admin.secure_cookies", "true or false"),
        ('[vad]\naggressiveness = 4', "vad.aggressiveness", "from 0 to 3"),
        ('[vad]\nbarge_in_min_ms = true', "vad.barge_in_min_ms", "an integer"),
        ('[llm]\ntemperature = "hot"', "llm.temperature", "a number"),
        ('[media]\ntransport = "sip"', "media.transport", "rtp, audiosocket, websocket"),
        ('[media]\nformat = "opus"', "media.format", "ulaw, alaw, slin, slin16"),
        ('[media]\nrtp_port_min = 41000', "media.rtp_port_max", "above media.rtp_port_min"),
        ('[media]\nrtp_port_min = 40001', "media.rtp_port_min", "even"),
        ('[media]\nbind_host = "0.0.0.0"', "media.advertise_host", "wildcard"),
        ('[ari]\nurl = "http://pbx:8088/ari"\npassword = "p"', "ari.url", "without /ari"),
        ('[ari]\nurl = "pbx:8088"\npassword = "p"', "ari.url", "http(s)://host:port"),
        ('[ari]\nurl = "http://pbx"\npassword = "p"', "ari.url", "explicit port"),
        ('[ari]\nurl = "http://pbx:8088"', "ari.password", "when ari.url is set"),
        ('[ari]\nusername = ""', "ari.username", "non-empty"),
        ('[llm]\nbase_url = "http://127.0.0.1:11434/v1"', "llm.model", "when llm.base_url"),
        ('[llm]\nbase_url = "ftp://x"\nmodel = "m"', "llm.base_url", "http(s)://"),
        ('[llm]\napi_key_env = "MY KEY"', "llm.api_key_env", "environment variable name"),
        ('[calls]\nunknown_number_action = "ring"', "calls.unknown_number_action", "message"),
        ('[store]\npath = ""', "store.path", "non-empty path"),
        (
            '[vad]\nend_silence_ms = 2000\nmax_turn_ms = 1500',
            "vad.end_silence_ms",
            "less than vad.max_turn_ms",
        ),
        ('[server]\nlog_level = 3', "server.log_level", "a string"),
        ('server = 1', "server", "table"),
    ],
)
def test_wrong_values_name_their_key(tmp_path: Path, toml: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, toml), {})
    assert caught.value.key == key
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"config {key}:")


@pytest.mark.parametrize(
    ("env", "key", "words"),
    [
        ({"CALLWRIGHT_ADMIN_PORT": "eighty"}, "admin.port", "CALLWRIGHT_ADMIN_PORT"),
        ({"CALLWRIGHT_VAD_BARGE_IN": "maybe"}, "vad.barge_in", "yes/no"),
        ({"CALLWRIGHT_LLM_TIMEOUT_S": "soon"}, "llm.timeout_s", "a number"),
        ({"CALLWRIGHT_LLM_TIMEOUT_S": "nan"}, "llm.timeout_s", "finite"),
        ({"CALLWRIGHT_MEDIA_FROMAT": "ulaw"}, "media.fromat", "did you mean 'format'"),
    ],
)
def test_wrong_environment_values_name_their_key(env: dict[str, str], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env)
    assert caught.value.key == key
    assert words in str(caught.value)


def test_unknown_key_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, '[media]\nfromat = "ulaw"\n'), {})
    assert caught.value.key == "media.fromat"
    message = str(caught.value)
    assert "unknown" in message and "did you mean 'format'" in message
    assert "transport, format, bind_host" in message


def test_unknown_section_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, '[meida]\nformat = "ulaw"\n'), {})
    assert caught.value.key == "meida"
    assert "unknown" in str(caught.value) and "'media'" in str(caught.value)


def test_slin16_over_rtp_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, '[media]\nformat = "slin16"\n'), {})
    assert caught.value.key == "media.format"
    message = str(caught.value)
    assert "Asterisk 22 drops 16 kHz RTP" in message
    assert "118" in message
    assert "audiosocket or websocket" in message


@pytest.mark.parametrize("transport", ["audiosocket", "websocket"])
def test_slin16_allowed_on_other_transports(transport: str) -> None:
    env = {"CALLWRIGHT_MEDIA_FORMAT": "slin16", "CALLWRIGHT_MEDIA_TRANSPORT": transport}
    assert load_config(None, env).media.format == "slin16"


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="valid TOML"):
        load_config(write(tmp_path, "[server\n"), {})
    with pytest.raises(ConfigError, match="existing configuration file"):
        load_config(tmp_path / "absent.toml", {})


def test_settings_are_frozen() -> None:
    s = load_config(None, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.admin.port = 1  # type: ignore[misc]


def test_example_file_lists_every_key_with_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert list(data) == list(SECTIONS)
    for section in SECTIONS:
        assert list(data[section]) == section_keys(section), section
    copy = tmp_path / "callwright.toml"
    shutil.copy(EXAMPLE, copy)
    monkeypatch.chdir(tmp_path)
    from_example = load_config(copy, {})
    defaults = load_config(None, {})
    assert dataclasses.replace(from_example, config_file=None) == defaults
    assert isinstance(defaults, Settings)


def test_tls_paths_resolve_and_empty_means_unset(tmp_path: Path) -> None:
    path = write(tmp_path, """
[ari]
url = "https://pbx.example:8089"
password = "p"
ca_file = "tls/pbx-ca.pem"

[admin]
tls_cert = "/etc/callwright/admin.pem"
tls_key = "tls/admin-key.pem"
""")
    s = load_config(path, {})
    assert s.ari.ca_file == tmp_path / "tls" / "pbx-ca.pem" and s.ari.verify is True
    assert s.admin.tls_cert == Path("/etc/callwright/admin.pem")
    assert s.admin.tls_key == tmp_path / "tls" / "admin-key.pem"
    s = load_config(path, {"CALLWRIGHT_ARI_CA_FILE": "", "CALLWRIGHT_ARI_VERIFY": "no"})
    assert s.ari.ca_file is None and s.ari.verify is False
    defaults = load_config(None, {})
    assert defaults.ari.ca_file is None and defaults.admin.tls_cert is None


@pytest.mark.parametrize(("toml", "key", "words"), [
    ('[admin]\ntls_cert = "c.pem"\n', "admin.tls_key", "when admin.tls_cert is set"),
    ('[admin]\ntls_key = "k.pem"\n', "admin.tls_cert", "when admin.tls_key is set"),
    ('[ari]\nca_file = "ca.pem"\nverify = false\n', "ari.ca_file", "ari.verify = false"),
    ("[ari]\nca_file = 5\n", "ari.ca_file", "a path"),
    ('[ari]\nverify = "no"\n', "ari.verify", "true or false"),
])
def test_wrong_tls_settings_name_their_key(tmp_path: Path, toml: str, key: str,
                                           words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        load_config(write(tmp_path, toml), {})
    assert info.value.key == key
