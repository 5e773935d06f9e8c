"""Reads of personal data in the audit log (issue 12, item 7): who opened a call's page, who
played or downloaded a recording, from where and when.

A player fetches a recording in many HTTP Range requests (every seek is one); :class:`RecentReads`
lets the first of them within ``window_s`` per reader and recording make the entry, so one
listening is one entry. A request without a Range header (a download) is always an entry.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class RecentReads:
    def __init__(
        self, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic,
        limit: int = 10_000,
    ) -> None:
        self._window = window_s
        self._clock = clock
        self._limit = limit
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def first(self, key: Hashable) -> bool:
        """True if ``key`` was not seen within the window (and remember it now)."""
        now = self._clock()
        last = self._seen.pop(key, None)
        self._seen[key] = now if last is None or now - last >= self._window else last
        while len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return last is None or now - last >= self._window
