"""The ``[[pbx]]`` list: the Asterisk servers one call node serves (issue 13).

Each entry is a TOML table with a ``name`` (letters, digits, ``-`` and ``_``; unique), the keys of
``[ari]`` (``url``, ``username``, ``password``, ``app``, ``reconnect_max_s``, ``ca_file``, …) and
an optional ``media`` table with the keys of ``[media]``::

    [[pbx]]
    name = "pbx-a"
    url = "http://10.0.0.11:8088"
    password = "secret-a"

    [pbx.media]
    bind_host = "10.0.0.21"
    rtp_port_min = 40000
    rtp_port_max = 40999

An entry's missing keys come from ``[ari]`` (all but ``url``) and ``[media]``, so what every PBX
shares is said once. With no ``[[pbx]]`` list, ``[ari]`` and ``[media]`` are the node's only
PBX, named ``default``, as before; giving both a ``[[pbx]]`` list and ``[ari] url`` is refused
(which one would be meant is unclear). Entries are not overridden from the environment.

Checks across entries: names unique; no two entries on the same Asterisk with the same ARI
``app`` (the second connection would take the first one's events away); RTP port ranges and
AudioSocket ports on the same ``bind_host`` do not overlap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from callwright.config_checks import check_ari, check_media
from callwright.errors import ConfigError

if TYPE_CHECKING:  # config.py imports this module
    from callwright.config import AriSettings, MediaSettings, PbxSettings, Settings

#: The top-level TOML key of the list (``[[pbx]]``).
PBX_LIST = "pbx"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")

#: Builds a section's settings from an entry's TOML table over the section's own values, leaving
#: out the named keys of the section's own values (config.py's loader).
BuildSection = Callable[[str, Mapping[str, Any], tuple[str, ...]], Any]


def read_pbx_list(
    tables: object, build: BuildSection
) -> list[tuple[str, AriSettings, MediaSettings]]:
    """(name, ARI settings, media settings) of each ``[[pbx]]`` entry, in order; each entry's
    own values checked (ConfigError names ``pbx.<name>.<key>``)."""
    if tables is None:
        return []
    if not isinstance(tables, list):
        raise ConfigError(PBX_LIST, "a list of [[pbx]] tables", tables)
    entries: list[tuple[str, AriSettings, MediaSettings]] = []
    for index, table in enumerate(tables):
        where = f"pbx[{index}]"
        if not isinstance(table, dict):
            raise ConfigError(where, "a [[pbx]] table", table)
        own = dict(table)
        name = own.pop("name", None)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{where}.name", "a name of letters, digits, '-' and '_' (at most "
                              "63, starting with a letter or digit)", name)
        prefix = f"pbx.{name}"
        media_table = own.pop("media", {})
        if not isinstance(media_table, dict):
            raise ConfigError(f"{prefix}.media", "a [pbx.media] table of [media] keys",
                              media_table)
        if not isinstance(own.get("url"), str) or not own["url"]:
            raise ConfigError(f"{prefix}.url", "the URL of this Asterisk's HTTP server, e.g. "
                              "http://10.0.0.11:8088")
        ari = _with_prefix(prefix, build, "ari", own, ("url",))
        media = _with_prefix(f"{prefix}.media", build, "media", media_table, ())
        check_ari(prefix, ari)
        entries.append((name, ari, check_media(f"{prefix}.media", media)))
    return entries


def _with_prefix(
    prefix: str, build: BuildSection, section: str, table: Mapping[str, Any],
    ignore: tuple[str, ...],
) -> Any:
    """``build(section, table, ignore)``, its ConfigError renamed from ``<section>.x`` to
    ``<prefix>.x``."""
    try:
        return build(section, table, ignore)
    except ConfigError as exc:
        _, _, key = exc.key.partition(".")
        raise ConfigError(f"{prefix}.{key}", exc.expected, exc.got) from None


def check_pbx_list(settings: Settings) -> Settings:
    """The checks across ``[[pbx]]`` entries (see the module docstring); ``settings`` as is."""
    if not settings.pbx:
        return settings
    if settings.ari.url:
        raise ConfigError("ari.url", "\"\" when a [[pbx]] list is given (each entry has its "
                          "own url; [ari]'s other keys are the entries' defaults)",
                          settings.ari.url)
    _unique_names([p.name for p in settings.pbx])
    _unique_apps(settings.pbx)
    _disjoint_ports(settings.pbx)
    return settings


def _unique_names(names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"pbx.{name}.name", "a name no other [[pbx]] entry has", name)
        seen.add(name)


def _server(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port


def _unique_apps(pbxes: Sequence[PbxSettings]) -> None:
    seen: dict[tuple[tuple[str, int | None], str], str] = {}
    for pbx in pbxes:
        key = (_server(pbx.ari.url), pbx.ari.app)
        if key in seen:
            raise ConfigError(f"pbx.{pbx.name}.app", f"an ARI app name other than pbx."
                              f"{seen[key]}'s on the same Asterisk (one connection per app)",
                              pbx.ari.app)
        seen[key] = pbx.name


def _disjoint_ports(pbxes: Sequence[PbxSettings]) -> None:
    for i, pbx in enumerate(pbxes):
        for other in pbxes[:i]:
            a, b = pbx.media, other.media
            if a.bind_host != b.bind_host:
                continue
            if a.rtp_port_min <= b.rtp_port_max and b.rtp_port_min <= a.rtp_port_max:
                raise ConfigError(f"pbx.{pbx.name}.media.rtp_port_min", "an RTP port range "
                                  f"apart from pbx.{other.name}'s ({b.rtp_port_min}-"
                                  f"{b.rtp_port_max}) on the same bind_host", a.rtp_port_min)
            if "audiosocket" in (a.transport, b.transport) and \
                    a.audiosocket_port == b.audiosocket_port:
                raise ConfigError(f"pbx.{pbx.name}.media.audiosocket_port", "a port other "
                                  f"than pbx.{other.name}'s on the same bind_host",
                                  a.audiosocket_port)
