"""What to tell the admin when a TLS connection to Asterisk fails.

The REST client and the events WebSocket both report these failures as they report any other
connection failure (:class:`~callwright.errors.AriUnavailable`; the stream keeps retrying), but
worded so that the fix is plain: which check failed, and which settings govern it.
"""

from __future__ import annotations

import ssl

import aiohttp

CERTIFICATE_HINT = ("check that ari.ca_file holds the CA that signed Asterisk's certificate and "
                    "that the certificate names the host of ari.url")


def tls_failure(exc: aiohttp.ClientSSLError) -> str:
    """One line on a failed TLS handshake with ARI, with the settings to check."""
    where = f"{exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cause = exc.certificate_error
        detail = (cause.verify_message if isinstance(cause, ssl.SSLCertVerificationError)
                  and cause.verify_message else str(cause))
        return f"TLS certificate of {where} not trusted: {detail} ({CERTIFICATE_HINT})"
    cause_text = exc.os_error.strerror or str(exc.os_error)
    return (f"TLS handshake with {where} failed: {cause_text} (does Asterisk serve TLS on this "
            "port? see tlsenable and tlsbindaddr in http.conf)")
