"""The configuration to paste, with the values given to the setup wizard filled in (pure).

Asterisk's ``http.conf``, ``ari.conf``, ``extensions.conf`` and ``modules.conf`` (the modules
the chosen media transport needs, from :func:`callwright.doctor.asterisk.module_needs`, as the
doctor checks them), and the ``[ari]`` and ``[media]`` sections of ``callwright.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from callwright.doctor.asterisk import module_needs

TRANSPORTS = {
    "rtp": "ExternalMedia over RTP (the default; UDP ports 40000-40999 from Asterisk to us)",
    "audiosocket": "ExternalMedia over AudioSocket (one TCP connection per call, port 9092)",
    "websocket": "ExternalMedia over WebSocket (Asterisk 22's chan_websocket)",
}
CONTEXT = "callwright-inbound"


@dataclass(frozen=True, slots=True)
class PbxChoice:
    """What the wizard was told about the PBX."""

    ari_url: str
    username: str
    password: str
    app: str
    transport: str = "rtp"
    number: str = "100"
    ami: bool = False
    #: The AMI's account and port (manager.conf); "": the ARI user and password.
    ami_username: str = ""
    ami_secret: str = ""
    ami_host: str = ""  # "": the ARI URL's host
    ami_port: int = 5038


@dataclass(frozen=True, slots=True)
class Snippet:
    file: str
    text: str


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _conf_value(value: str) -> str:
    """A value for an Asterisk .conf line (no newlines, no ; which starts a comment)."""
    return value.replace("\n", " ").replace("\r", " ").replace(";", "\\;")


def snippets(choice: PbxChoice) -> list[Snippet]:
    url = urlsplit(choice.ari_url)
    secure = url.scheme == "https"
    host = url.hostname or "127.0.0.1"
    port = url.port or (8089 if secure else 8088)
    if secure:
        http = (f"[general]\nenabled = yes\ntlsenable = yes\ntlsbindaddr = {host}:{port}\n"
                "tlscertfile = /etc/asterisk/keys/asterisk.pem\n"
                "tlsprivatekey = /etc/asterisk/keys/asterisk.key\n")
    else:
        http = f"[general]\nenabled = yes\nbindaddr = {host}\nbindport = {port}\n"
    ari = (f"[general]\nenabled = yes\npretty = no\n\n[{_conf_value(choice.username)}]\n"
           f"type = user\nread_only = no\npassword = {_conf_value(choice.password)}\n"
           "password_format = plain\n")
    number = _conf_value(choice.number) or "100"
    extensions = (f"[{CONTEXT}]\nexten => {number},1,NoOp(Callwright)\n"
                  f" same => n,Stasis({_conf_value(choice.app)})\n same => n,Hangup()\n")
    modules = "[modules]\n" + "".join(
        f"load = {need.names[0]}{'' if need.required else '   ; recommended'}"
        f"   ; {need.why}\n"
        for need in module_needs(choice.transport, "ulaw")
    )
    toml = (f"[ari]\nurl = {_toml_string(choice.ari_url)}\n"
            f"username = {_toml_string(choice.username)}\n"
            f"password = {_toml_string(choice.password)}\napp = {_toml_string(choice.app)}\n\n"
            f'[media]\ntransport = "{choice.transport}"\nformat = "ulaw"\n'
            "# the address Asterisk reaches this server at:\n"
            '# advertise_host = "192.0.2.10"\n')
    found = [
        Snippet("/etc/asterisk/http.conf", http),
        Snippet("/etc/asterisk/ari.conf", ari),
        Snippet("/etc/asterisk/extensions.conf", extensions),
        Snippet("/etc/asterisk/modules.conf", modules),
    ]
    if choice.ami:
        ami_user = choice.ami_username or choice.username
        ami_secret = choice.ami_secret or choice.password
        ami_host = choice.ami_host or host
        found.append(Snippet(
            "/etc/asterisk/manager.conf",
            f"[general]\nenabled = yes\nbindaddr = {_conf_value(ami_host)}\n"
            f"port = {choice.ami_port}\n\n"
            f"[{_conf_value(ami_user)}]\nsecret = {_conf_value(ami_secret)}\n"
            "read = call,system\nwrite = originate,call\n",
        ))
        toml += (f"\n[ami]\nhost = {_toml_string(ami_host)}\nport = {choice.ami_port}\n"
                 f"username = {_toml_string(ami_user)}\nsecret = {_toml_string(ami_secret)}\n")
    found.append(Snippet("callwright.toml", toml))
    return found
