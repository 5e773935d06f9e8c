"""Locks for jobs that must run on one node at a time (retention, webhook redelivery, the
campaign dialler), on either store engine.

API (what :class:`callwright.cluster.singleton.SingletonJob` calls, its ``JobLock``)::

    lock = job_lock(db, "retention", holder=node_id, lease_s=15)
    if await lock.acquire():   # take it, or confirm this node still holds it: True if held now
        ...                    # do the work; call acquire() again every few seconds
    await lock.release()       # give it up (nothing when not held)

``acquire`` never waits for another holder: it answers at once, so a node calls it on a timer
(every ``lease_s / 3`` seconds or so) and starts or stops its work by the answer. Store errors
(the database unreachable) raise :class:`~callwright.errors.StoreError`; treat them as "not held".

- PostgreSQL (:class:`AdvisoryJobLock`): a session-level advisory lock (``pg_try_advisory_lock``
  on a key made from the job's name) taken on a connection of the lock's own, outside the pool.
  The server holds it as long as that session lives: when the holder's process dies or its
  connection drops, the lock is gone at once, and the next node's ``acquire`` takes it. The
  connection asks the server for short TCP keep-alives (about 11 s to notice a silent peer), so a
  holder cut off by the network loses the lock on the server's side too; the cut-off holder
  finds out at its next ``acquire`` (the check query fails) and must stop working then. Between
  those two moments both may work: keep ``acquire``'s interval short, and jobs idempotent.
- SQLite (:class:`LeaseJobLock`): a lease row in ``job_leases`` (migration 0029,
  :class:`~callwright.store.job_leases.JobLeaseRepository`) with an expiry, renewed by each
  ``acquire``; a holder that dies stops renewing and another node takes the lease once it has
  expired (``lease_s`` later at most). SQLite is one machine's store, so in practice the nodes are
  processes of one host.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Protocol

import asyncpg

from callwright.errors import StoreError
from callwright.store.engine import Database
from callwright.store.job_leases import JobLeaseRepository
from callwright.store.postgres_db import PostgresDatabase, redact_url

__all__ = ["AdvisoryJobLock", "JobLock", "LeaseJobLock", "advisory_key", "job_lock"]

log = logging.getLogger(__name__)

#: How long a lease lasts unless renewed (SQLite), by default.
LEASE_S = 15.0
#: Longest wait for the lock's connection or its check query (PostgreSQL).
CHECK_TIMEOUT_S = 5.0
#: The lock connection's TCP keep-alives: the server drops a silent holder's session (and its
#: locks) after about idle + interval * count seconds.
KEEPALIVES = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2",
              "tcp_keepalives_count": "3"}
_NAMESPACE = b"callwright-job:"
#: What a lost connection or server raises.
_LOST = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError,
         TimeoutError)


class JobLock(Protocol):
    async def acquire(self) -> bool:
        """Take the lock, or keep it when held already; True if this node holds it now."""
        ...

    async def release(self) -> None:
        """Give the lock up (nothing when not held)."""
        ...


def advisory_key(job: str) -> int:
    """The 64-bit advisory lock key of ``job`` (the same on every node)."""
    digest = hashlib.sha256(_NAMESPACE + job.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def job_lock(db: Database, job: str, holder: str, lease_s: float = LEASE_S) -> JobLock:
    """The lock on ``job`` for this store's engine (see the module docstring). ``holder`` names
    this node (the lease's holder on SQLite); ``lease_s`` is the SQLite lease's length."""
    if isinstance(db, PostgresDatabase):
        return AdvisoryJobLock(db.url, job)
    return LeaseJobLock(JobLeaseRepository(db), job, holder, lease_s)


class LeaseJobLock:
    """A lease row with an expiry (SQLite, or any engine): see the module docstring."""

    def __init__(self, leases: JobLeaseRepository, job: str, holder: str,
                 lease_s: float = LEASE_S) -> None:
        self._leases = leases
        self.job = job
        self.holder = holder
        self.lease_s = lease_s

    async def acquire(self) -> bool:
        return await self._leases.take(self.job, self.holder, self.lease_s)

    async def release(self) -> None:
        await self._leases.release(self.job, self.holder)


class AdvisoryJobLock:
    """A PostgreSQL session advisory lock on a connection of its own: see the module
    docstring. Not for concurrent use by several tasks (one job's checks, one at a time)."""

    def __init__(self, url: str, job: str, *, timeout_s: float = CHECK_TIMEOUT_S) -> None:
        self.url = url
        self.job = job
        self.key = advisory_key(job)
        self.timeout_s = timeout_s
        self._conn: asyncpg.Connection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this lock held the job at its last :meth:`acquire`."""
        return self._held

    async def acquire(self) -> bool:
        if self._held and self._conn is not None and not self._conn.is_closed():
            try:  # the session is alive, so its lock is still ours
                await self._conn.fetchval("SELECT 1", timeout=self.timeout_s)
                return True
            except _LOST as exc:
                log.warning("job %s: lost the lock's connection (%s)", self.job, exc)
                await self._drop()
        self._held = False
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self.url, timeout=self.timeout_s,
                                                   server_settings=dict(KEEPALIVES))
            self._held = bool(await self._conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", self.key, timeout=self.timeout_s))
        except _LOST as exc:
            await self._drop()
            raise StoreError(f"job {self.job}: cannot reach {redact_url(self.url)} for its"
                             f" lock: {exc}") from exc
        return self._held

    async def release(self) -> None:
        """Unlock and close the lock's connection (closing alone would free it too)."""
        if self._conn is not None and self._held and not self._conn.is_closed():
            try:
                await self._conn.execute("SELECT pg_advisory_unlock($1)", self.key,
                                         timeout=self.timeout_s)
            except _LOST as exc:
                log.warning("job %s: unlock failed (%s): closing its connection frees it",
                            self.job, exc)
        await self._drop()

    async def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), self.timeout_s)
            except _LOST:
                conn.terminate()
