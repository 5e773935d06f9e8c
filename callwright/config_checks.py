"""The checks on configuration values, applied by :func:`callwright.config.load_config`: each
value against the limits declared with its setting (choices, bounds, non-empty), and the checks
that involve more than one key (the ARI URL, password and TLS, RTP ports, VAD timings, URLs, the
LLM, the admin's certificate and key).
A failure raises :class:`~callwright.errors.ConfigError` naming the dotted key and what was
expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from callwright.errors import ConfigError

if TYPE_CHECKING:  # config.py imports the checks from here
    from callwright.config import AriSettings, MediaSettings, Settings


def _check_value(dotted: str, value: Any, meta: Mapping[str, Any]) -> None:
    choices: tuple[str, ...] = meta.get("choices", ())
    if choices and value not in choices:
        raise ConfigError(dotted, "one of " + ", ".join(choices), value)
    if meta.get("nonempty") and not str(value).strip():
        raise ConfigError(dotted, "a non-empty string", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(dotted, "a finite number", value)
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None and not lo <= value <= hi:
        raise ConfigError(dotted, f"a value from {_num(lo)} to {_num(hi)}", value)
    if lo is not None and hi is None and value < lo:
        raise ConfigError(dotted, f"a value of at least {_num(lo)}", value)


def _num(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WILDCARDS = {"0.0.0.0", "::", "[::]"}
_DIALPLAN_TARGET = re.compile(r"^[^,\s]+,[^,\s]+(?:,\d+)?$")


def _check_url(dotted: str, url: str, *, need_port: bool) -> None:
    shape = "an http(s)://host:port URL" if need_port else "an http(s):// URL"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(dotted, shape, url) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(dotted, shape, url)
    if need_port and port is None:
        raise ConfigError(dotted, shape + " with an explicit port (Asterisk's http.conf)", url)
    if parts.query or parts.fragment:
        raise ConfigError(dotted, shape + " without a query or fragment", url)


def _check_together(s: Settings) -> Settings:
    """Checks that involve more than one key; resolves media.advertise_host."""
    check_ari("ari", s.ari)
    if (s.admin.tls_cert is None) != (s.admin.tls_key is None):
        given, missing = (("admin.tls_cert", "admin.tls_key") if s.admin.tls_key is None
                          else ("admin.tls_key", "admin.tls_cert"))
        raise ConfigError(missing, f"a file as well when {given} is set (HTTPS needs the "
                          "certificate and its private key)")
    target = s.calls.fallback_target.strip()
    if target and not _DIALPLAN_TARGET.match(target):
        raise ConfigError("calls.fallback_target", "'context,extension[,priority]' or \"\" (the "
                          "priority after Stasis())", s.calls.fallback_target)
    media = check_media("media", s.media)
    if s.store.url and not s.store.url.startswith(("postgresql://", "postgres://")):
        # The value is not repeated: it may hold a password.
        raise ConfigError("store.url", 'a postgresql:// URL, or "" for the SQLite file at'
                          " store.path")
    if s.vad.end_silence_ms >= s.vad.max_turn_ms:
        raise ConfigError("vad.end_silence_ms", f"less than vad.max_turn_ms ({s.vad.max_turn_ms})",
                          s.vad.end_silence_ms)
    if s.speech.models_mirror:
        _check_url("speech.models_mirror", s.speech.models_mirror, need_port=False)
    if s.llm.base_url:
        _check_url("llm.base_url", s.llm.base_url, need_port=False)
        if not s.llm.model:
            raise ConfigError("llm.model", "a model name when llm.base_url is set")
    if not _ENV_NAME.match(s.llm.api_key_env):
        raise ConfigError("llm.api_key_env", "an environment variable name", s.llm.api_key_env)
    return replace(s, media=media)


def check_ari(prefix: str, ari: AriSettings) -> None:
    """The ARI keys of ``[ari]`` or of a ``[[pbx]]`` entry (``prefix`` names it in errors)."""
    if ari.url:
        _check_url(f"{prefix}.url", ari.url, need_port=True)
        path = urlsplit(ari.url).path.rstrip("/")
        if path.endswith("/ari"):
            raise ConfigError(f"{prefix}.url", "the URL without /ari (the client adds it)",
                              ari.url)
        if path:
            raise ConfigError(f"{prefix}.url", "http(s)://host:port with no path", ari.url)
        if not ari.password:
            raise ConfigError(f"{prefix}.password",
                              f"a password (from ari.conf) when {prefix}.url is set")
    if ari.ca_file is not None and not ari.verify:
        raise ConfigError(f"{prefix}.ca_file", f"no CA file with {prefix}.verify = false (a CA "
                          "to trust and no checks contradict each other; drop one)",
                          str(ari.ca_file))


def check_media(prefix: str, media: MediaSettings) -> MediaSettings:
    """The media keys of ``[media]`` or of a ``[[pbx]]`` entry's ``media`` table; returns them
    with ``advertise_host`` resolved."""
    if media.transport == "rtp" and media.format == "slin16":
        raise ConfigError(
            f"{prefix}.format",
            "ulaw, alaw or slin with media.transport = rtp: Asterisk 22 drops 16 kHz RTP sent "
            "back to it (slin16, dynamic payload type 118) without a log line, so the caller "
            "would hear nothing; use media.transport = audiosocket or websocket for 16 kHz",
            media.format,
        )
    if media.rtp_port_min >= media.rtp_port_max:
        raise ConfigError(f"{prefix}.rtp_port_max", f"a port above {prefix}.rtp_port_min "
                          f"({media.rtp_port_min})", media.rtp_port_max)
    if media.rtp_port_min % 2:
        raise ConfigError(f"{prefix}.rtp_port_min", "an even port (RTP uses even ports)",
                          media.rtp_port_min)
    if not media.advertise_host:
        if media.bind_host in _WILDCARDS:
            raise ConfigError(f"{prefix}.advertise_host", "an address Asterisk can reach, when "
                              f"{prefix}.bind_host is the wildcard {media.bind_host}")
        media = replace(media, advertise_host=media.bind_host)
    return media
