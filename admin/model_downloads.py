"""Speech models downloaded from the admin: the known models of ``voice_models/manifest.json``
fetched in the background (:func:`callwright.speech.model_fetch.fetch_model`: resumable,
checked, installed whole or not at all), with their progress read from the partial files.

One download per model at a time; a finished or failed one is remembered until the next start
(the page shows its result). Where models go: ``$CALLWRIGHT_MODELS_DIR`` or ``voice_models/data``
(:func:`~callwright.speech.model_store.default_data_dir`), as for ``callwright models fetch``;
``mirror`` is ``[speech] models_mirror``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from callwright.errors import CallwrightError
from callwright.speech.model_fetch import fetch_model
from callwright.speech.model_store import (
    Manifest,
    ModelEntry,
    default_data_dir,
    load_manifest,
    model_status,
)

log = logging.getLogger(__name__)


class UnknownModel(CallwrightError):
    """Not a model of the manifest, or one that is not downloaded (a pip package)."""


@dataclass(slots=True)
class Job:
    entry: ModelEntry
    task: asyncio.Task[Path]
    error: str = ""


class ModelDownloads:
    def __init__(self, mirror: str | None = None) -> None:
        #: What the tests (and a composition root) may point elsewhere.
        self.mirror = mirror or None
        self.manifest: Manifest | None = None
        self.data_dir: Path | None = None
        self._jobs: dict[str, Job] = {}

    def _dir(self) -> Path:
        return self.data_dir if self.data_dir is not None else default_data_dir()

    async def _manifest(self) -> Manifest:
        if self.manifest is None:
            self.manifest = await asyncio.to_thread(load_manifest)
        return self.manifest

    async def entries(self) -> list[ModelEntry]:
        return list(await self._manifest())

    async def entry(self, name: str) -> ModelEntry:
        entry = (await self._manifest()).get(name)
        if entry is None:
            raise UnknownModel(f"{name!r} is not a known model (voice_models/manifest.json)")
        return entry

    async def start(self, name: str) -> None:
        entry = await self.entry(name)
        if entry.kind == "package":
            raise UnknownModel(f"{name} comes with a pip package ({entry.distribution}): "
                               "it is installed with Callwright, not downloaded")
        job = self._jobs.get(name)
        if job is not None and not job.task.done():
            return
        task = asyncio.get_running_loop().create_task(
            fetch_model(entry, self._dir(), mirror=self.mirror), name=f"model-download-{name}")
        self._jobs[name] = Job(entry, task)
        task.add_done_callback(lambda done: self._finished(name, done))

    def _finished(self, name: str, task: asyncio.Task[Path]) -> None:
        job = self._jobs.get(name)
        if job is None or task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            job.error = str(exc) or type(exc).__name__
            log.warning("download of model %s failed: %s", name, job.error)

    async def status(self, name: str) -> dict[str, Any]:
        """``state`` (missing, running, installed, packaged, failed), ``bytes`` fetched so far
        and ``total`` (None when the manifest does not give every file's size), ``error``."""
        entry = await self.entry(name)
        data_dir = self._dir()
        job = self._jobs.get(name)
        installed = await asyncio.to_thread(model_status, entry, data_dir)
        state: str = installed.status
        if job is not None and not job.task.done():
            state = "running"
        elif job is not None and job.error and installed.status == "missing":
            state = "failed"
        sizes = [f.size_bytes for f in entry.files()]
        total = sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) \
            else None
        fetched = await asyncio.to_thread(_bytes_under, data_dir / ".downloads" / name)
        return {"name": name, "state": state, "bytes": fetched if state == "running" else 0,
                "total": total, "error": job.error if job is not None else ""}

    async def close(self) -> None:
        for job in self._jobs.values():
            job.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job.task


def _bytes_under(folder: Path) -> int:
    try:
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    except OSError:
        return 0


MODEL_DOWNLOADS = web.AppKey("model_downloads", ModelDownloads)


async def cleanup(app: web.Application) -> AsyncIterator[None]:
    """A ``cleanup_ctx`` hook: downloads in progress stop with the app (a later start resumes)."""
    yield
    await app[MODEL_DOWNLOADS].close()
