"""The export ZIP: what a data subject receives for a request of access or portability.

Layout (documented for the recipient in ``docs/privacy.md``):

- ``manifest.json``: the format name and version, when and by which org it was made, the subject
  (a caller number or one call), counts, and every other member of the archive with its size
  and SHA-256;
- ``calls.json``: every call (metadata, slots, events, notes, turns, where its recording is);
- ``turns.jsonl``: the transcript, one JSON object per line and turn, each naming its call's uid;
- ``recordings/<uid>.wav``: the recordings, decrypted when they were encrypted at rest.

The ZIP is written to ``<name>.part`` with mode 0600 and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from callwright.privacy.recording_crypto import KeySource, copy_plaintext

MANIFEST = "manifest.json"
CALLS = "calls.json"
TURNS = "turns.jsonl"


def _dumps(value: Any, *, indent: int | None = 2) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def write_export(out_dir: Path, name: str, document: dict[str, Any],
                 recordings: dict[str, Path], keys: KeySource) -> Path:
    """Write ``document`` (its ``calls``) and the ``recordings`` (uid → file) to ``out_dir/name``.

    Each call of ``document`` gains ``recording``: ``None`` (none), ``{"file": member,
    "missing": False}`` or ``{"file": None, "missing": True}`` (the file is gone).
    """
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = out_dir / name
    partial = out_dir / (name + ".part")
    members: list[dict[str, Any]] = []
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for call in document["calls"]:
                source = recordings.get(call["uid"])
                call["recording"] = None
                if source is None:
                    continue
                if not source.is_file():
                    call["recording"] = {"file": None, "missing": True}
                    continue
                member = f"recordings/{call['uid']}.wav"
                size, sha = _copy_recording(archive, member, source, keys)
                call["recording"] = {"file": member, "missing": False}
                members.append({"file": member, "type": "audio/wav", "bytes": size,
                                "sha256": sha, "call_uid": call["uid"]})
            turns = "".join(
                _dumps({"call_uid": call["uid"], **turn}, indent=None) + "\n"
                for call in document["calls"] for turn in call.get("turns", [])
            )
            calls = _dumps(document)
            for member, text, kind in ((CALLS, calls, "application/json"),
                                       (TURNS, turns, "application/x-ndjson")):
                data = text.encode()
                archive.writestr(member, data, compress_type=zipfile.ZIP_DEFLATED)
                members.insert(0 if member == CALLS else 1, {
                    "file": member, "type": kind, "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()})
            manifest = {
                "format": document["format"], "version": document["version"],
                "exported_at": document["exported_at"], "org": document["org"],
                "subject": document["subject"],
                "counts": {
                    "calls": len(document["calls"]),
                    "turns": sum(len(c.get("turns", [])) for c in document["calls"]),
                    "recordings": sum(1 for m in members if m["file"].startswith("recordings/")),
                },
                "files": members,
            }
            archive.writestr(MANIFEST, _dumps(manifest), compress_type=zipfile.ZIP_DEFLATED)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, final)
    return final


def _copy_recording(archive: zipfile.ZipFile, member: str, source: Path,
                    keys: KeySource) -> tuple[int, str]:
    digest = hashlib.sha256()
    with archive.open(member, "w", force_zip64=True) as handle:

        def feed(chunk: bytes) -> None:
            digest.update(chunk)
            handle.write(chunk)

        size = copy_plaintext(source, keys, feed)
    return size, digest.hexdigest()
