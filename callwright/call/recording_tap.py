"""Both sides of a call fed into its stereo recorder, and what happens when the disk says no.

The pipeline hands every caller frame (:meth:`RecordingTap.caller`) and every assistant frame put
on the wire (:meth:`RecordingTap.sent`, written by :meth:`RecordingTap.write_sent` once the tick's
sends are done) to the tap, at their positions on the call's timeline. A write that fails (the
disk is full: ``ENOSPC``, or any other ``OSError`` the recorder reports as a :class:`MediaError`)
stops the recording for the rest of the call, once: the tap drops every later frame and calls
``on_stopped`` with the error, and the call goes on without it. What was written stays in the
file; the session closes (and, if needed, repairs) it at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from callwright.errors import MediaError
from callwright.media.recorder import StereoWavRecorder

log = logging.getLogger(__name__)


class RecordingTap:
    def __init__(
        self, recorder: StereoWavRecorder, on_stopped: Callable[[MediaError], None]
    ) -> None:
        self._recorder: StereoWavRecorder | None = recorder
        self._on_stopped = on_stopped
        self._unwritten: tuple[bytes, int] | None = None  # assistant frame sent, not written yet
        #: Why the recording stopped during the call (None: it did not).
        self.error: MediaError | None = None

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def caller(self, pcm: bytes, at_sample: int) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        try:
            recorder.write_caller(pcm, at_sample)
        except MediaError as exc:
            self._stop(exc)

    def sent(self, frame: bytes, at_sample: int) -> None:
        """An assistant frame just went on the wire: written by :meth:`write_sent`."""
        if self._recorder is not None:
            self._unwritten = (frame, at_sample)

    def write_sent(self) -> None:
        unwritten, self._unwritten = self._unwritten, None
        recorder = self._recorder
        if unwritten is None or recorder is None:
            return
        try:
            recorder.write_assistant(*unwritten)
        except MediaError as exc:
            self._stop(exc)

    def _stop(self, error: MediaError) -> None:
        self._recorder = None
        self._unwritten = None
        self.error = error
        log.error("recording stopped, the call goes on: %s", error)
        self._on_stopped(error)
