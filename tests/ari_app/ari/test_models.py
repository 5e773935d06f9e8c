"""ARI resource models read from every REST response recorded on Asterisk 22.10.1."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ari_app.ari.models import Application, AsteriskInfo, Bridge, Channel, Playback
from callwright.errors import ProtocolError

# (method, path regex relative to /ari) -> the model the body holds (a list of it for GET lists)
_MODELS: list[tuple[str, str, Callable[[object], object]]] = [
    ("GET", r"/channels", Channel.from_json),
    ("POST", r"/channels(/create|/externalMedia|/[^/]+/snoop)?", Channel.from_json),
    ("GET", r"/channels/[^/]+", Channel.from_json),
    ("GET", r"/bridges", Bridge.from_json),
    ("POST", r"/bridges", Bridge.from_json),
    ("GET", r"/bridges/[^/]+", Bridge.from_json),
    ("POST", r"/(channels|bridges)/[^/]+/play", Playback.from_json),
    ("GET", r"/applications/[^/]+", Application.from_json),
    ("GET", r"/asterisk/info", AsteriskInfo.from_json),
]


def recorded_bodies(asterisk22_dir: Path) -> Iterator[tuple[str, str, str, Any]]:
    facts = asterisk22_dir / "asterisk-facts"
    for path in sorted(facts.glob("*.jsonl")) + sorted((facts / "media-ari").glob("*.jsonl")):
        requests: dict[int, dict[str, Any]] = {}
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record.get("dir") == "request":
                requests[record["seq"]] = record
            elif record.get("dir") == "response" and record["status"] in (200, 201):
                request = requests[record["seq"]]
                if isinstance(record["body"], dict | list):
                    ari_path = request["path"].removeprefix("/ari")
                    yield path.name, request["method"], ari_path, record["body"]


def test_every_recorded_resource_parses(asterisk22_dir: Path) -> None:
    parsed: dict[str, int] = {}
    for _, method, path, body in recorded_bodies(asterisk22_dir):
        reader = next((r for m, p, r in _MODELS if m == method and re.fullmatch(p, path)), None)
        if reader is None:
            continue
        for item in body if isinstance(body, list) else [body]:
            model = reader(item)
            parsed[type(model).__name__] = parsed.get(type(model).__name__, 0) + 1
    assert parsed.get("Channel", 0) > 20
    assert {"Bridge", "Playback", "Application", "AsteriskInfo"} <= set(parsed)


def test_external_media_channelvars(asterisk22_dir: Path) -> None:
    found = [Channel.from_json(body) for _, method, path, body in recorded_bodies(asterisk22_dir)
             if method == "POST" and path == "/channels/externalMedia"]
    rtp = [c for c in found if c.name.startswith("UnicastRTP/")]
    assert rtp, "no RTP externalMedia response recorded"
    assert rtp[0].var("UNICASTRTP_LOCAL_ADDRESS") == "127.0.0.1"
    assert (rtp[0].var("UNICASTRTP_LOCAL_PORT") or "").isdigit()
    assert rtp[0].var("NO_SUCH") is None


def test_asterisk_info_sections() -> None:
    info = AsteriskInfo.from_json({"system": {"version": "22.10.1", "entity_id": "e"},
                                   "status": {"startup_time": "t"}})
    assert (info.version, info.entity_id, info.startup_time) == ("22.10.1", "e", "t")
    assert AsteriskInfo.from_json({}).version is None


@pytest.mark.parametrize(("reader", "value", "fragment"), [
    (Channel.from_json, [], "channel: expected an object, got array"),
    (Channel.from_json, {"id": "1", "name": "n", "state": "Up", "channelvars": {"A": 1}},
     "channel.channelvars.A: expected a string, got number"),
    (Channel.from_json, {"id": "1", "name": "n", "state": "Up", "caller": "Alice"},
     "channel.caller: expected an object, got string"),
    (Bridge.from_json, {"name": "no id"}, "missing required field 'id'"),
    (Application.from_json, {"name": "a", "channel_ids": [1]}, "channel_ids"),
])
def test_wrong_shapes_raise_protocol_error(reader: Callable[[object], object], value: object,
                                           fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        reader(value)
    assert fragment in str(info.value)
