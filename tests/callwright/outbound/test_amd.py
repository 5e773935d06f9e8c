"""Our answering-machine detection on the simulator's callee audio of each recorded AMD case
(amd.md): the same AMDSTATUS and AMDCAUSE as Asterisk's AMD() gave."""

from __future__ import annotations

import pytest

from ari_app.simulator.far_end import AMD_PROFILES, callee_audio
from callwright.outbound.amd import AmdDetector


def detect(pcm: bytes, lead_silence_ms: int = 0) -> tuple[str, str, int]:
    detector = AmdDetector()
    frames = bytes(320) * (lead_silence_ms // 20) + pcm
    for i in range(0, len(frames), 320):
        result = detector.feed(frames[i:i + 320].ljust(320, b"\0"))
        if result is not None:
            return result.status, result.cause, (i // 320 + 1) * 20
    result = detector.elapsed(5000)
    assert result is not None
    return result.status, result.cause, 5000


@pytest.mark.parametrize(("profile", "status", "cause"), [
    ("speech", "MACHINE", "MAXWORDS-3-2"),
    ("hello", "HUMAN", "HUMAN-800-800"),
    ("silence", "MACHINE", "INITIALSILENCE-2500-2500"),
    ("tone", "MACHINE", "LONGGREETING-1500-1500"),
])
def test_the_recorded_cases(profile: str, status: str, cause: str) -> None:
    got = detect(callee_audio(AMD_PROFILES[profile]))
    assert got[:2] == (status, cause)
    # Asterisk decided about 0.5 s later: the callee's audio started 0.5 s after AMD().
    assert abs(got[2] + 500 - AMD_PROFILES[profile].duration_s * 1000) < 350


def test_no_frames_is_not_sure() -> None:
    detector = AmdDetector()
    assert detector.elapsed(4980) is None
    result = detector.elapsed(5000)
    assert result is not None and (result.status, result.cause) == ("NOTSURE", "TOOLONG-5000")
    assert detector.feed(bytes(320)) is result
