"""Downloading one file of a speech model: :func:`download_file` writes ``file.url`` into a
``.part`` file, resuming with an HTTP ``Range`` request when part of it is already there (and
starting over when the server ignores the range), retrying connection failures and 5xx answers,
and checking the size the manifest gives. :func:`callwright.speech.model_fetch.fetch_model` then
checks the sha256 and installs the model.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import IO

import aiohttp
from tqdm import tqdm

from callwright.errors import ModelFetchError
from callwright.speech.model_store import ModelFile

CHUNK = 1 << 16
WRITE_BUFFER = 1 << 20


class _PartWriter:
    """Appends to a ``.part`` file in a worker thread, in large blocks."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._buffer = bytearray()

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= WRITE_BUFFER:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            block, self._buffer = bytes(self._buffer), bytearray()
            await asyncio.to_thread(self._handle.write, block)


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-999/1000"
    if not value or not value.startswith("bytes ") or "-" not in value:
        return None
    start = value[6:].split("-", 1)[0]
    return int(start) if start.isdigit() else None


def _part_size(part: Path, expected: int | None) -> int:
    """Bytes already downloaded into ``part`` (a part longer than expected is dropped)."""
    have = part.stat().st_size if part.exists() else 0
    if expected is not None and have > expected:
        part.unlink()
        have = 0
    return have


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)


async def download_file(
    session: aiohttp.ClientSession,
    file: ModelFile,
    part: Path,
    *,
    progress: bool = False,
    retries: int = 3,
    label: str = "",
) -> None:
    """Download ``file.url`` into ``part``, resuming what is already there. Raises ModelFetchError.

    Connection failures and 5xx answers are retried ``retries`` times, each resuming with a
    ``Range`` request. Checks the size when the manifest gives one; the caller checks the sha256.
    """
    failures = 0
    while True:
        have = await asyncio.to_thread(_part_size, part, file.size_bytes)
        if have and have == file.size_bytes:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            async with session.get(file.url, headers=headers) as response:
                if response.status == 416 and have:
                    # Nothing after ``have``: the part is complete if the server says so.
                    size = response.headers.get("Content-Range", "").rpartition("/")[2]
                    if size.isdigit() and int(size) == have:
                        return
                    await asyncio.to_thread(_discard, part)
                    raise ModelFetchError(f"{file.url}: range refused, starting over")
                if response.status >= 500:
                    raise ModelFetchError(f"{file.url}: HTTP {response.status}")
                if response.status not in (200, 206):
                    raise _Fatal(f"{file.url}: HTTP {response.status} {response.reason}")
                resume = (
                    response.status == 206
                    and _content_range_start(response.headers.get("Content-Range")) == have
                )
                if not resume:
                    have = 0  # the server ignored the range (or answered oddly): from the start
                length = response.content_length
                total = have + length if length is not None else file.size_bytes
                await _receive(response, part, have, total, progress, label or file.filename)
            got = await asyncio.to_thread(_part_size, part, None)
            if file.size_bytes is not None and got != file.size_bytes:
                await asyncio.to_thread(_discard, part)
                raise _Fatal(f"{file.url}: got {got} bytes, the manifest says {file.size_bytes}")
            return
        except _Fatal as exc:
            raise ModelFetchError(str(exc)) from exc
        except (aiohttp.ClientError, TimeoutError, ModelFetchError) as exc:
            failures += 1
            if failures > retries:
                raise ModelFetchError(f"download of {file.url} failed: {exc}") from exc
            await asyncio.sleep(min(0.2 * 2**failures, 5.0))


class _Fatal(Exception):
    """A download error that retrying will not fix."""


async def _receive(
    response: aiohttp.ClientResponse,
    part: Path,
    offset: int,
    total: int | None,
    progress: bool,
    label: str,
) -> None:
    handle = await asyncio.to_thread(part.open, "ab" if offset else "wb")
    bar = tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        file=sys.stderr,
        disable=not progress,
        leave=True,
    )
    writer = _PartWriter(handle)
    try:
        async for chunk in response.content.iter_chunked(CHUNK):
            await writer.write(chunk)
            bar.update(len(chunk))
    finally:
        bar.close()
        await writer.flush()  # what did arrive is kept for the next resume
        await asyncio.to_thread(handle.close)
