"""A tiny Piper-compatible voice, for tests and benchmarks (no real voice can be downloaded here).

``build_tiny_voice(directory)`` writes ``NAME.onnx`` with Piper's signature: an ONNX graph taking
``input`` (phoneme ids, int64 [1, N]), ``input_lengths``, ``scales`` (and ``sid`` when
multi-speaker) and returning ``output`` (float [1, 1, samples]), plus a ``.onnx.json`` config with
Piper's default phoneme-id map. The graph "speaks" each phoneme id as a block of ``BLOCK`` samples
of a sine in FFT bin ``2 * id`` (id 0, the pad, is silence), so a test can read back from the audio
which phonemes Piper fed the model (:func:`read_ids`).

``onnx`` and ``piper`` are imported with this module, never when a voice is built: importing
``onnx`` takes about 0.6 s of CPU with the GIL held (``ml_dtypes``), which would stall the event
loop of an async test that builds a voice. Import this module at the top of a test module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

BLOCK = 1024
VOICE_RATE = 22050


def build_tiny_voice(
    directory: Path, name: str = "tiny", speakers: dict[str, int] | None = None
) -> Path:
    """Write ``directory/NAME.onnx`` and its ``.onnx.json``: a Piper-compatible test voice."""
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
        "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
    }
    Path(f"{path}.json").write_text(json.dumps(config), encoding="utf-8")
    return path


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
    """The phonemes of ``ids`` as text (sentence ends as spaces, punctuation dropped)."""
    by_id = {v[0]: k for k, v in DEFAULT_PHONEME_ID_MAP.items()}
    by_id[2] = " "  # a sentence's end; 0 (pad) and 1 (sentence start) say nothing
    text = "".join(by_id[i] for i in ids if i not in (0, 1))
    return " ".join("".join(c for c in text if c not in ".,?!;:").split())
