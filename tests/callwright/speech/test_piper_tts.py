"""PiperTts through the real ``piper`` package (piper-tts) and onnxruntime.

No Piper voice can be downloaded here, so the end-to-end tests build a tiny voice with Piper's own
signature (:mod:`tests.fakes.piper_voice`): it "speaks" each phoneme id as a tone the test can read
back, so the test compares the phonemes Piper fed the model with what espeak-ng says the text's
phonemes are.

Nothing heavy is imported on a test's event loop: ``onnx`` (for building voices) comes with
``tests.fakes.piper_voice`` at collection, and Piper's native modules with the product's warm-up
(``callwright.speech.warmup.import_native_modules``, called by the session fixture in
``tests/conftest.py`` as the call service calls it at start-up).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callwright.errors import SpeechError
from callwright.speech.piper_tts import PiperTts
from callwright.speech.protocols import TtsEngine
from tests.fakes.piper_voice import VOICE_RATE, build_tiny_voice, read_ids, spoken_phonemes

TtsFactory = Callable[..., Awaitable[PiperTts]]
VoiceFactory = Callable[..., Path]


@pytest.fixture
def tiny_voice(tmp_path: Path) -> VoiceFactory:
    """Factory: ``tiny_voice(name="tiny", speakers=None)`` -> path of a Piper-compatible .onnx."""

    def make(name: str = "tiny", speakers: dict[str, int] | None = None) -> Path:
        return build_tiny_voice(tmp_path, name, speakers)

    return make


@pytest.fixture
async def make_tts() -> AsyncIterator[TtsFactory]:
    """Factory: ``await make(path, **options)`` -> a PiperTts (closed at the end)."""
    made: list[PiperTts] = []

    async def make(path: Path, **options: Any) -> PiperTts:
        tts = PiperTts(path, **options)
        made.append(tts)
        return tts

    yield make
    for tts in made:
        await tts.close()


def change_config(voice: Path, **changes: Any) -> None:
    config = Path(f"{voice}.json")
    settings = json.loads(config.read_text(encoding="utf-8"))
    config.write_text(json.dumps({**settings, **changes}), encoding="utf-8")


def espeak_ipa(text: str) -> str:
    ipa = subprocess.run(
        ["espeak-ng", "-q", "--ipa", "-v", "en-us", "--", text],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return " ".join(ipa.split())


async def test_a_missing_voice_names_the_file_and_the_fetch_command(
    make_tts: TtsFactory, tmp_path: Path
) -> None:
    tts = await make_tts(tmp_path / "en_US-lessac-medium.onnx")
    with pytest.raises(SpeechError) as error:
        await tts.synthesize("Hello", 8000)
    message = str(error.value)
    assert str(tmp_path / "en_US-lessac-medium.onnx") in message
    assert "callwright models fetch en_US-lessac-medium" in message


async def test_a_voice_without_its_config_is_refused(make_tts: TtsFactory, tmp_path: Path) -> None:
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"not checked before the config")
    tts = await make_tts(model, model_name="en_GB-alan-medium")
    with pytest.raises(SpeechError, match=r"voice\.onnx\.json.*models fetch en_GB-alan-medium"):
        await tts.start()


async def test_a_corrupt_voice_is_a_speech_error(make_tts: TtsFactory, tmp_path: Path) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"\x00garbage, not a protobuf")
    model.with_name("broken.onnx.json").write_text("{}", encoding="utf-8")
    tts = await make_tts(model)
    with pytest.raises(SpeechError, match="could not load the Piper voice"):
        await tts.synthesize("Hello", 8000)


async def test_a_voice_that_loads_but_cannot_speak_is_refused_when_it_loads(
    make_tts: TtsFactory, tiny_voice: VoiceFactory
) -> None:
    # Loading includes a first synthesis: a voice that cannot speak fails when its engine is
    # built (at start-up, or when an assistant switches to it), never in the middle of a call.
    path = tiny_voice("wants-a-speaker", speakers={"alice": 0, "bob": 1})
    change_config(path, num_speakers=1, speaker_id_map={})  # the model still needs a speaker id
    tts = await make_tts(path)
    with pytest.raises(SpeechError, match="could not load the Piper voice"):
        await tts.start()
    assert tts.sample_rate is None


async def test_empty_text_needs_no_voice(make_tts: TtsFactory, tmp_path: Path) -> None:
    tts = await make_tts(tmp_path / "absent.onnx")
    assert await tts.synthesize("  ", 8000) == b""
    with pytest.raises(SpeechError):
        await tts.synthesize("text", 0)


async def test_speaks_the_phonemes_of_the_text_through_real_piper(
    make_tts: TtsFactory, tiny_voice: VoiceFactory
) -> None:
    tts = await make_tts(tiny_voice())
    engine: TtsEngine = tts
    pcm = await engine.synthesize("Hello world", VOICE_RATE)
    assert tts.sample_rate == VOICE_RATE
    ids = read_ids(pcm)
    assert ids[:2] == [1, 0] and ids[-1] == 2  # sentence start, pad ... sentence end
    assert all(i == 0 for i in ids[1::2])  # a pad after every phoneme
    assert spoken_phonemes(ids) == espeak_ipa("Hello world")


async def test_sentences_are_joined_with_the_configured_silence(
    make_tts: TtsFactory, tiny_voice: VoiceFactory
) -> None:
    path = tiny_voice()
    plain = await (await make_tts(path)).synthesize("How are you? Fine.", VOICE_RATE)
    spaced_tts = await make_tts(path, sentence_silence_ms=100)
    spaced = await spaced_tts.synthesize("How are you? Fine.", VOICE_RATE)
    assert len(spaced) - len(plain) == 2 * (VOICE_RATE * 100 // 1000)
    ids = read_ids(plain)
    assert ids.count(1) == 2 and ids.count(2) == 2  # two sentences
    assert spoken_phonemes(ids) == espeak_ipa("How are you? Fine.")


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_audio_is_resampled_to_the_call_rate(
    make_tts: TtsFactory, tiny_voice: VoiceFactory, rate: int
) -> None:
    tts = await make_tts(tiny_voice())
    native = await tts.synthesize("Hello world", VOICE_RATE)
    pcm = await tts.synthesize("Hello world", rate)
    assert len(pcm) // 2 == round(len(native) // 2 * rate / VOICE_RATE)
    assert np.abs(np.frombuffer(pcm, dtype="<i2")).max() > 10000


async def test_the_voice_argument_picks_a_speaker(
    make_tts: TtsFactory, tiny_voice: VoiceFactory
) -> None:
    tts = await make_tts(tiny_voice("duo", speakers={"alice": 0, "bob": 1}))
    alice = read_ids(await tts.synthesize("Hi", VOICE_RATE, voice="alice"))
    bob = read_ids(await tts.synthesize("Hi", VOICE_RATE, voice="bob"))
    default = read_ids(await tts.synthesize("Hi", VOICE_RATE, voice="duo"))
    assert alice[0] == 1 and bob[0] == 2  # bob's ids are shifted by one
    assert default == alice


async def test_concurrent_requests_and_close(
    make_tts: TtsFactory, tiny_voice: VoiceFactory
) -> None:
    tts = await make_tts(tiny_voice(), threads=2)
    texts = ["Good morning.", "One moment please.", "Goodbye."]
    results = await asyncio.gather(*(tts.synthesize(t, VOICE_RATE) for t in texts))
    for text, pcm in zip(texts, results, strict=True):
        assert spoken_phonemes(read_ids(pcm)) == espeak_ipa(text)
    await tts.close()
    await tts.close()
    with pytest.raises(SpeechError, match="closed"):
        await tts.synthesize("Hello", 8000)
