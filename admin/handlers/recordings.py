"""A call's recording: a stereo WAV streamed with HTTP Range, to the roles that may hear it.

A plain recording is served from its file. A recording encrypted at rest (``.cwenc``, the call's
``recording_key_id`` set) is decrypted on the fly with
:class:`callwright.privacy.recording_crypto.EncryptedReader`, with the key its header names from
the keyring (any key of the org's, current or retired, or the legacy master key): only the chunks
of the requested range are read and authenticated, in worker threads, and the plaintext never
touches the disk.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from aiohttp import web

from admin.errors import Missing, UserError
from admin.routing import Ctx, Route
from callwright.accounts.roles import Permission
from callwright.privacy.call_restrictions import CallRestrictionRepository
from callwright.privacy.recording_crypto import (
    RecordingCryptoError,
    WrongRecordingKey,
    open_encrypted,
)

log = logging.getLogger(__name__)

PIECE_BYTES = 256 * 1024  # plaintext read (and decrypted) per worker-thread call
_HEADERS = {"Content-Type": "audio/wav", "Cache-Control": "private, no-store"}


def recording_file(recordings_dir: Path, stored: str) -> Path | None:
    """The recording's path if it lies inside ``recordings_dir`` (never follow a path outside)."""
    root = recordings_dir.resolve()
    candidate = Path(stored)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve()
    except OSError:
        return None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        return None
    return resolved


class Unsatisfiable(Exception):
    """The Range header is malformed or asks for no byte of the file."""


# One range of bytes: ``first-``, ``first-last`` or ``-suffix`` (several ranges are not served).
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)
_BEYOND = 1 << 62  # any position with more digits than this lies past every file


def _position(digits: str) -> int:
    return int(digits) if len(digits.lstrip("0")) < 19 else _BEYOND


def byte_range(request: web.Request, size: int) -> tuple[int, int] | None:
    """The requested ``[start, end)`` clipped to ``size``; None without a Range header.

    Raises :class:`Unsatisfiable` (answered 416) for a malformed range, a first byte past the
    end, a last byte before the first, and a zero-length suffix (``bytes=-0``: RFC 9110 §14.1.2,
    a suffix range is satisfiable only with a non-zero length).
    """
    header = request.headers.get("Range")
    if header is None:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        raise Unsatisfiable()
    first, last = found.groups()
    if first:
        start = _position(first)
        end = size if not last else min(_position(last) + 1, size)
        if last and _position(last) < start:
            raise Unsatisfiable()
    elif last:
        suffix = _position(last)
        if suffix == 0:
            raise Unsatisfiable()
        start, end = max(0, size - suffix), size
    else:
        raise Unsatisfiable()
    if start >= end:
        raise Unsatisfiable()
    return start, end


def _unsatisfiable(size: int) -> web.Response:
    return web.Response(status=416, headers={**_HEADERS, "Content-Range": f"bytes */{size}"})


def _damaged(path: Path, exc: RecordingCryptoError) -> UserError:
    log.warning("admin: cannot decrypt the recording %s: %s", path, exc)
    if isinstance(exc, WrongRecordingKey):
        return UserError(
            "This recording was encrypted with a key this server does not hold; it cannot be "
            "played here.",
            status=409,
        )
    return UserError(
        "This recording's file is damaged or was altered; it cannot be played.", status=409
    )


async def _serve_encrypted(ctx: Ctx, path: Path) -> web.StreamResponse:
    try:
        reader = await open_encrypted(path, ctx.services.keyring)
    except RecordingCryptoError as exc:
        raise _damaged(path, exc) from exc
    try:
        try:
            span = byte_range(ctx.request, reader.size)
        except Unsatisfiable:
            return _unsatisfiable(reader.size)
        start, end = span if span is not None else (0, reader.size)
        # The first piece is decrypted before the status goes out: a damaged file gets an error
        # answer, not a cut-off 200.
        try:
            piece = await asyncio.to_thread(reader.read, start, min(PIECE_BYTES, end - start))
        except RecordingCryptoError as exc:
            raise _damaged(path, exc) from exc
        response = web.StreamResponse(status=200 if span is None else 206, headers=_HEADERS)
        response.headers["Accept-Ranges"] = "bytes"
        if span is not None:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{reader.size}"
        response.content_length = end - start
        await response.prepare(ctx.request)
        position = start
        try:
            while piece:
                await response.write(piece)
                position += len(piece)
                if position >= end:
                    break
                piece = await asyncio.to_thread(
                    reader.read, position, min(PIECE_BYTES, end - position)
                )
            await response.write_eof()
        except (ConnectionResetError, RecordingCryptoError) as exc:
            # The status is sent: all that is left is to stop, and to close the connection so
            # that the short body cannot be taken for a complete one.
            log.warning("admin: recording %s stopped at byte %d: %s", path, position, exc)
            if ctx.request.transport is not None:
                ctx.request.transport.close()
        return response
    finally:
        reader.close()


async def _audit_read(ctx: Ctx, uid: str) -> None:
    """A download (no Range) is an entry each time; a player's Range requests one per listening."""
    ranged = "Range" in ctx.request.headers
    if ranged and not ctx.services.reads.first((ctx.actor.label, ctx.org_id, uid)):
        return
    await ctx.record("recording.play" if ranged else "recording.download", f"call:{uid}",
                     range=ctx.request.headers.get("Range", "")[:60])


async def recording(ctx: Ctx) -> web.StreamResponse:
    call = await ctx.services.calls.find_call(ctx.org_id, ctx.match("uid"))
    if call is None or not call.get("recording_path"):
        raise Missing("This recording")
    restricted = await CallRestrictionRepository(ctx.services.db).for_call(
        ctx.org_id, int(call["id"]))
    if restricted is not None and restricted.recording:
        raise UserError("This recording's processing is restricted: it cannot be played nor "
                        "downloaded until the restriction is lifted.", status=403)
    path = await asyncio.to_thread(
        recording_file, ctx.services.recordings_dir, call["recording_path"]
    )
    if path is None:
        raise Missing("The recording file")
    await _audit_read(ctx, call["uid"])
    if call.get("recording_key_id"):
        return await _serve_encrypted(ctx, path)
    # FileResponse serves the range, but takes ``bytes=-0`` for the whole file: judge it first.
    size = (await asyncio.to_thread(path.stat)).st_size
    try:
        byte_range(ctx.request, size)
    except Unsatisfiable:
        return _unsatisfiable(size)
    return web.FileResponse(path, headers=_HEADERS)


ROUTES = [
    Route(
        "GET",
        "/calls/{uid}/recording",
        recording,
        Permission.RECORDINGS_LISTEN,
        "The call's stereo WAV recording (supports HTTP Range; decrypted when encrypted at rest)",
    ),
]
