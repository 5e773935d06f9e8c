"""TLS contexts built from the settings, for the two places Callwright speaks TLS:

* :func:`admin_server_context`: the admin serving HTTPS with ``[admin] tls_cert`` and ``tls_key``
  (None when neither is set: plain HTTP);
* :func:`ari_client_context`: the call service connecting to Asterisk over ``https``/``wss`` with
  ``[ari] ca_file`` and ``verify``. One context serves the REST client, the events WebSocket and
  the media WebSockets alike.

Both read their files at once, so a wrong file stops the process at start-up, not at the first
connection: a missing or unreadable file, a file that holds no certificate, an encrypted key or a
key that does not match the certificate raises :class:`~callwright.errors.ConfigError` naming the
setting.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from callwright.config import AdminSettings, AriSettings
from callwright.errors import ConfigError

log = logging.getLogger(__name__)


class _PassphraseAsked(Exception):
    """Raised from the passphrase callback: we never prompt on the terminal."""


def _ask_no_passphrase() -> bytes:
    raise _PassphraseAsked


def require_readable(key: str, path: Path) -> None:
    """ConfigError naming ``key`` unless ``path`` is a file this process can read."""
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise ConfigError(key, "an existing file", str(path)) from None
    except IsADirectoryError:
        raise ConfigError(key, "a file, not a directory", str(path)) from None
    except OSError as exc:
        raise ConfigError(key, f"a file this process can read ({exc.strerror})",
                          str(path)) from None


def server_context(cert: Path, key: Path, *, cert_key: str, key_key: str) -> ssl.SSLContext:
    """A server context presenting ``cert`` (PEM, the chain after the leaf) with ``key``
    (PEM, unencrypted). ``cert_key``/``key_key`` name the settings in errors."""
    require_readable(cert_key, cert)
    require_readable(key_key, key)
    try:  # the certificate alone first, so that an error names the right file
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(cert))
    except ssl.SSLError as exc:
        raise ConfigError(cert_key, f"a PEM certificate file ({exc.reason or exc})",
                          str(cert)) from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key), password=_ask_no_passphrase)
    except _PassphraseAsked:
        raise ConfigError(key_key, "an unencrypted private key (this one needs a passphrase; "
                          "decrypt it, e.g. with `openssl pkey`)", str(key)) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(key_key, f"the private key of the certificate in {cert_key} "
                              "(this key does not match it)", str(key)) from None
        raise ConfigError(key_key, f"a PEM private key file ({exc.reason or exc})",
                          str(key)) from None
    if key.stat().st_mode & 0o077:
        log.warning("%s: %s can be read by other users; chmod 600 it", key_key, key)
    return context


def client_context(ca_file: Path | None, verify: bool, *, ca_key: str) -> ssl.SSLContext:
    """A client context: the certificates in ``ca_file`` as the only trusted CAs (else the
    system's), host names checked; or, with ``verify`` false, no checks at all."""
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_file is None:
        return ssl.create_default_context()
    require_readable(ca_key, ca_file)
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except ssl.SSLError as exc:
        raise ConfigError(ca_key, f"a PEM file of CA certificates ({exc.reason or exc})",
                          str(ca_file)) from None


def admin_server_context(admin: AdminSettings) -> ssl.SSLContext | None:
    """The admin's HTTPS context, or None when ``[admin] tls_cert`` is not set."""
    if admin.tls_cert is None or admin.tls_key is None:  # the loader wants both or neither
        return None
    return server_context(admin.tls_cert, admin.tls_key,
                          cert_key="admin.tls_cert", key_key="admin.tls_key")


def ari_client_context(ari: AriSettings) -> ssl.SSLContext:
    """The context for every connection to Asterisk (used only by ``https``/``wss`` URLs)."""
    if not ari.verify and ari.url.startswith("https://"):
        log.warning("ari.verify = false: the certificate of %s is not checked; anyone on the "
                    "path can read the ARI password and the calls", ari.url or "ARI")
    return client_context(ari.ca_file, ari.verify, ca_key="ari.ca_file")
