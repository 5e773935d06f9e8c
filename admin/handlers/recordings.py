"""A call's recording: a stereo WAV streamed with HTTP Range, to the roles that may hear it."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from admin.errors import Missing, UserError
from admin.routing import Ctx, Route
from callwright.accounts.roles import Permission


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


async def recording(ctx: Ctx) -> web.StreamResponse:
    call = await ctx.services.calls.find_call(ctx.org_id, ctx.match("uid"))
    if call is None or not call.get("recording_path"):
        raise Missing("This recording")
    if call.get("recording_key_id"):
        raise UserError(
            "This recording is encrypted at rest; this admin cannot play encrypted recordings yet.",
            status=409,
        )
    path = recording_file(ctx.services.recordings_dir, call["recording_path"])
    if path is None:
        raise Missing("The recording file")
    response = web.FileResponse(
        path, headers={"Content-Type": "audio/wav", "Cache-Control": "private, no-store"}
    )
    return response


ROUTES = [
    Route(
        "GET",
        "/calls/{uid}/recording",
        recording,
        Permission.RECORDINGS_LISTEN,
        "The call's stereo WAV recording (supports HTTP Range)",
    ),
]
