"""PiperTts through the real ``piper`` package (piper-tts) and onnxruntime.

No Piper voice can be downloaded here, so the end-to-end tests build a tiny voice with Piper's
own signature: an ONNX graph taking ``input`` (phoneme ids, int64 [1, N]), ``input_lengths``,
``scales`` (and ``sid`` when multi-speaker) and returning ``output`` (float [1, 1, samples]), plus
a ``.onnx.json`` config with Piper's default phoneme-id map. The graph "speaks" each phoneme id as
a block of ``BLOCK`` samples of a sine in FFT bin ``2 * id`` (id 0, the pad, is silence), so the
test can read back from the audio which phonemes piper fed the model, and compare them with what
espeak-ng says the text's phonemes are.
"""

from __future__ import annotations

import asyncio
import importlib
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

BLOCK = 1024
VOICE_RATE = 22050
TtsFactory = Callable[..., Awaitable[PiperTts]]
VoiceFactory = Callable[..., Path]


def _need(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.fail(
            f"{module} is not installed: these tests need piper-tts==1.8.0 (which brings "
            "onnxruntime) and onnx==1.23.2 (to build the test voice)"
        )


def build_tiny_voice(
    directory: Path, name: str = "tiny", speakers: dict[str, int] | None = None
) -> Path:
    """Write ``directory/NAME.onnx`` and its ``.onnx.json``: a Piper-compatible test voice."""
    onnx = _need("onnx")
    phoneme_ids = _need("piper.phoneme_ids")
    helper, numpy_helper, tp = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    ramp = (2 * np.pi * 2 * np.arange(BLOCK) / BLOCK).astype(np.float32).reshape(1, 1, BLOCK)
    inputs = [
        helper.make_tensor_value_info("input", tp.INT64, [1, None]),
        helper.make_tensor_value_info("input_lengths", tp.INT64, [1]),
        helper.make_tensor_value_info("scales", tp.FLOAT, [3]),
    ]
    nodes = [helper.make_node("Cast", ["input"], ["ids_f"], to=tp.FLOAT)]
    ids = "ids_f"
    if speakers:  # speaker n shifts every id by n
        inputs.append(helper.make_tensor_value_info("sid", tp.INT64, [1]))
        nodes += [
            helper.make_node("Cast", ["sid"], ["sid_f"], to=tp.FLOAT),
            helper.make_node("Add", ["ids_f", "sid_f"], ["ids_s"]),
        ]
        ids = "ids_s"
    nodes += [
        helper.make_node("Unsqueeze", [ids, "axis2"], ["ids3"]),
        helper.make_node("Mul", ["ids3", "ramp"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["wave"]),
        helper.make_node("Gather", ["scales", "one"], ["length_scale"], axis=0),
        helper.make_node("Mul", ["wave", "length_scale"], ["scaled"]),
        helper.make_node("Reshape", ["scaled", "shape"], ["output"]),
    ]
    constants = [
        numpy_helper.from_array(ramp, "ramp"),
        numpy_helper.from_array(np.array([2], np.int64), "axis2"),
        numpy_helper.from_array(np.array(1, np.int64), "one"),
        numpy_helper.from_array(np.array([1, 1, -1], np.int64), "shape"),
    ]
    output = helper.make_tensor_value_info("output", tp.FLOAT, [1, 1, None])
    graph = helper.make_graph(nodes, name, inputs, [output], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = directory / f"{name}.onnx"
    onnx.save(model, str(path))
    config = {
        "audio": {"sample_rate": VOICE_RATE},
        "espeak": {"voice": "en-us"},
        "phoneme_type": "espeak",
        "num_symbols": 256,
        "num_speakers": len(speakers or {}) or 1,
        "speaker_id_map": speakers or {},
        "phoneme_id_map": phoneme_ids.DEFAULT_PHONEME_ID_MAP,
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
    }
    Path(f"{path}.json").write_text(json.dumps(config), encoding="utf-8")
    return path


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


def read_ids(pcm: bytes) -> list[int]:
    """The phoneme ids the tiny voice spoke, one per block of audio at the voice's rate."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert samples.size % BLOCK == 0
    ids = []
    for block in samples.reshape(-1, BLOCK):
        loud = np.abs(block).max() > 300
        ids.append(int(round(np.argmax(np.abs(np.fft.rfft(block))) / 2)) if loud else 0)
    return ids


def spoken_phonemes(ids: list[int]) -> str:
    by_id = {v[0]: k for k, v in _need("piper.phoneme_ids").DEFAULT_PHONEME_ID_MAP.items()}
    by_id[2] = " "  # a sentence's end; 0 (pad) and 1 (sentence start) say nothing
    text = "".join(by_id[i] for i in ids if i not in (0, 1))
    return " ".join("".join(c for c in text if c not in ".,?!;:").split())


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
