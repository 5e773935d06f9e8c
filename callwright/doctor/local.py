"""Checks of this machine that need no PBX: the configuration, the TLS files, disk space.

Each check reads what it needs (files, the disk) and hands the judging to a pure function where
there is something to judge (:func:`disk_verdict`).
"""

from __future__ import annotations

import os
import shutil
import ssl
from collections.abc import Mapping
from pathlib import Path

from callwright.config import ENV_CONFIG_FILE, ENV_PREFIX, MediaSettings, Settings, load_config
from callwright.doctor.report import Check, fail, ok, warn
from callwright.errors import ConfigError
from callwright.tls import admin_server_context, ari_client_context

CONFIG_ID, CONFIG_TITLE = "config", "configuration"
ARI_TLS_ID, ARI_TLS_TITLE = "ari-tls", "ARI TLS settings"
ADMIN_TLS_ID, ADMIN_TLS_TITLE = "admin-tls", "admin certificate"
DISK_ID, DISK_TITLE = "disk", "disk space for recordings"
#: Below this many hours of recording room: a warning. Below one hour: a failure.
DISK_WARN_HOURS = 10.0


def config_fix(exc: ConfigError, path: Path | None) -> str:
    """Where to correct a setting the loader refused."""
    if exc.key == ENV_CONFIG_FILE:
        return ("pass --config FILE or set CALLWRIGHT_CONFIG to a readable TOML file "
                "(callwright.example.toml documents every key)")
    section, _, key = exc.key.partition(".")
    if not key:
        return (f"remove or rename [{section}] in {path or 'the config file'} "
                "(callwright.example.toml lists the sections)")
    env = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
    return (f"set {key} in [{section}] of {path or 'the config file'} (or {env}) to "
            f"{exc.expected}; callwright.example.toml documents it")


def load_settings(
    path: Path | None, env: Mapping[str, str] = os.environ
) -> tuple[Settings | None, Check]:
    """The settings and the ``config`` line; None when they do not load."""
    shown = path if path is not None else env.get(ENV_CONFIG_FILE) or None
    try:
        settings = load_config(path, env)
    except ConfigError as exc:
        return None, fail(CONFIG_ID, CONFIG_TITLE, str(exc), config_fix(exc, shown and Path(shown)))
    source = (str(settings.config_file) if settings.config_file is not None
              else "no file: defaults and CALLWRIGHT_* environment variables")
    return settings, ok(CONFIG_ID, CONFIG_TITLE, f"loaded ({source})")


def ari_tls(settings: Settings) -> tuple[ssl.SSLContext | None, Check]:
    """The TLS context for Asterisk (None: a setting is wrong) and its line."""
    ari = settings.ari
    try:
        context = ari_client_context(ari)
    except ConfigError as exc:
        return None, fail(ARI_TLS_ID, ARI_TLS_TITLE, str(exc),
                          config_fix(exc, settings.config_file))
    if not ari.url.startswith("https://"):
        unused = "; ari.ca_file is not used with http://" if ari.ca_file is not None else ""
        return context, ok(ARI_TLS_ID, ARI_TLS_TITLE, f"plain HTTP to Asterisk{unused}")
    if not ari.verify:
        return context, warn(ARI_TLS_ID, ARI_TLS_TITLE, "ari.verify = false: Asterisk's "
                             "certificate is not checked, so anyone on the path can read the "
                             "ARI password and the calls", "set [ari] verify = true, and "
                             "[ari] ca_file to the CA that signed Asterisk's certificate")
    trusted = f"the CAs in {ari.ca_file}" if ari.ca_file is not None else "the system's CAs"
    return context, ok(ARI_TLS_ID, ARI_TLS_TITLE, f"HTTPS to Asterisk, trusting {trusted}")


def admin_tls(settings: Settings) -> Check:
    try:
        context = admin_server_context(settings.admin)
    except ConfigError as exc:
        return fail(ADMIN_TLS_ID, ADMIN_TLS_TITLE, str(exc), config_fix(exc, settings.config_file))
    if context is None:
        return ok(ADMIN_TLS_ID, ADMIN_TLS_TITLE, "the admin serves plain HTTP (behind a TLS "
                  "proxy, or set [admin] tls_cert and tls_key)")
    return ok(ADMIN_TLS_ID, ADMIN_TLS_TITLE, f"HTTPS with {settings.admin.tls_cert}")


# -- disk ------------------------------------------------------------------------------------------


def recording_bytes_per_hour(media: MediaSettings) -> int:
    """A call recording is a stereo 16-bit WAV at the call's sample rate."""
    rate = 16000 if media.format == "slin16" else 8000
    return rate * 2 * 2 * 3600


def disk_verdict(where: Path, free_bytes: int, bytes_per_hour: int, *, writable: bool) -> Check:
    """Room for recordings in ``where``, in call-hours."""
    hours = free_bytes / bytes_per_hour
    detail = f"{free_bytes / 2**30:.1f} GiB free at {where}: about {hours:.0f} call-hour(s) of " \
             "recordings"
    if not writable:
        return fail(DISK_ID, DISK_TITLE, f"{where} is not writable by this user",
                    f"give the user running Callwright write access to {where} (chown), or set "
                    "[recordings] dir")
    if hours < 1:
        return fail(DISK_ID, DISK_TITLE, detail, f"free space on the disk of {where}, or set "
                    "[recordings] dir to a larger disk; the retention settings of each "
                    "organisation delete old recordings")
    if hours < DISK_WARN_HOURS:
        return warn(DISK_ID, DISK_TITLE, detail, f"free space on the disk of {where}, or set "
                    "[recordings] dir to a larger disk")
    return ok(DISK_ID, DISK_TITLE, detail)


def existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest parent that exists (a directory not created yet is checked
    where it will be created)."""
    here = path.absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    return here


def disk_check(settings: Settings) -> Check:
    """Free space and write access where recordings go. Blocking (a stat or two)."""
    where = existing_ancestor(Path(settings.recordings.dir))
    try:
        usage = shutil.disk_usage(where)
    except OSError as exc:
        return fail(DISK_ID, DISK_TITLE, f"cannot read the disk of {where}: {exc.strerror}",
                    "set [recordings] dir to a directory on a mounted disk")
    writable = os.access(where, os.W_OK | os.X_OK)
    return disk_verdict(where, usage.free, recording_bytes_per_hour(settings.media),
                        writable=writable)
