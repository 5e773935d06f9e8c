"""TLS contexts from the settings: good files give working contexts (a real handshake on
127.0.0.1), every bad file is a ConfigError naming its setting."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from callwright.config import AdminSettings, AriSettings
from callwright.errors import ConfigError
from callwright.tls import admin_server_context, ari_client_context, client_context, server_context
from tests.fakes.certificates import CertFiles, make_certs


@pytest.fixture
def certs(tmp_path: Path) -> CertFiles:
    return make_certs(tmp_path / "good")


def admin(cert: Path, key: Path) -> AdminSettings:
    return AdminSettings(tls_cert=cert, tls_key=key)


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, host: str = "127.0.0.1") -> str:
    """Run one TLS handshake over a local socket pair; return the negotiated version."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                client.wrap_socket(raw, server_hostname=host) as tls:
            version = tls.version() or ""
            tls.sendall(b"x")
            return version
    finally:
        thread.join(5)
        listener.close()


def test_admin_context_serves_the_certificate(certs: CertFiles) -> None:
    context = admin_server_context(admin(certs.cert, certs.key))
    assert context is not None
    assert handshake(context, certs.client_context()) in ("TLSv1.2", "TLSv1.3")


def test_no_certificate_means_plain_http() -> None:
    assert admin_server_context(AdminSettings()) is None


def test_a_missing_certificate_names_the_setting(certs: CertFiles, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="existing file") as info:
        admin_server_context(admin(tmp_path / "absent.pem", certs.key))
    assert info.value.key == "admin.tls_cert"
    with pytest.raises(ConfigError, match="existing file") as info:
        admin_server_context(admin(certs.cert, tmp_path / "absent-key.pem"))
    assert info.value.key == "admin.tls_key"


def test_an_unreadable_key_names_the_setting(certs: CertFiles, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory") as info:
        admin_server_context(admin(certs.cert, tmp_path))
    assert info.value.key == "admin.tls_key"


def test_a_key_of_another_certificate_is_refused(certs: CertFiles, tmp_path: Path) -> None:
    other = make_certs(tmp_path / "other")
    with pytest.raises(ConfigError, match="does not match") as info:
        admin_server_context(admin(certs.cert, other.key))
    assert info.value.key == "admin.tls_key"
    assert "admin.tls_cert" in str(info.value)


def test_an_encrypted_key_is_refused_without_prompting(tmp_path: Path) -> None:
    locked = make_certs(tmp_path, key_passphrase=b"secret")
    with pytest.raises(ConfigError, match="passphrase") as info:
        admin_server_context(admin(locked.cert, locked.key))
    assert info.value.key == "admin.tls_key"


def test_a_file_that_is_not_a_certificate_is_refused(certs: CertFiles, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="PEM certificate") as info:
        admin_server_context(admin(junk, certs.key))
    assert info.value.key == "admin.tls_cert"
    with pytest.raises(ConfigError, match="PEM private key") as info:
        admin_server_context(admin(certs.cert, junk))
    assert info.value.key == "admin.tls_key"
    # The key where the certificate belongs: no certificate in it.
    with pytest.raises(ConfigError) as info:
        server_context(certs.key, certs.key, cert_key="admin.tls_cert", key_key="admin.tls_key")
    assert info.value.key == "admin.tls_cert"


def test_a_world_readable_key_is_warned_about(
    certs: CertFiles, caplog: pytest.LogCaptureFixture
) -> None:
    certs.key.chmod(0o644)
    assert admin_server_context(admin(certs.cert, certs.key)) is not None
    assert any("admin.tls_key" in r.getMessage() and "chmod 600" in r.getMessage()
               for r in caplog.records)


def test_ari_context_trusts_the_ca_file_only(certs: CertFiles, tmp_path: Path) -> None:
    ari = AriSettings(url="https://127.0.0.1:8089", password="p", ca_file=certs.ca)
    assert handshake(certs.server_context(), ari_client_context(ari))
    stranger = make_certs(tmp_path / "stranger")
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(stranger.server_context(), ari_client_context(ari))


def test_ari_context_checks_the_host_name(certs: CertFiles) -> None:
    context = client_context(certs.ca, True, ca_key="ari.ca_file")
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(certs.server_context(), context, host="pbx.example")


def test_ari_context_without_ca_file_uses_the_system_cas(certs: CertFiles) -> None:
    context = ari_client_context(AriSettings(url="https://127.0.0.1:8089", password="p"))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with pytest.raises(ssl.SSLCertVerificationError):  # our test CA is not a system CA
        handshake(certs.server_context(), context)


def test_verify_false_accepts_any_certificate(
    certs: CertFiles, caplog: pytest.LogCaptureFixture
) -> None:
    ari = AriSettings(url="https://127.0.0.1:8089", password="p", verify=False)
    context = ari_client_context(ari)
    assert handshake(certs.server_context(), context, host="pbx.example")
    assert any("ari.verify = false" in r.getMessage() for r in caplog.records)


def test_a_bad_ca_file_names_the_setting(tmp_path: Path, certs: CertFiles) -> None:
    with pytest.raises(ConfigError, match="existing file") as info:
        ari_client_context(AriSettings(ca_file=tmp_path / "absent.pem"))
    assert info.value.key == "ari.ca_file"
    junk = tmp_path / "junk.pem"
    junk.write_text("junk\n")
    with pytest.raises(ConfigError, match="CA certificates") as info:
        ari_client_context(AriSettings(ca_file=junk))
    assert info.value.key == "ari.ca_file"
