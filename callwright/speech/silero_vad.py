"""Silero VAD beside the WebRTC VAD: a small neural voice detector (the ONNX model that the
``silero-vad`` package ships), run with onnxruntime, chosen per assistant (``media.vad``).

The ``silero-vad`` package's own Python code imports torch; only its model file is used here, and
the package is installed without its dependencies (``pip install --no-deps silero-vad``, see the
Makefile): onnxruntime runs the model. The package is located without importing it.

Loading takes about 0.3 s and holds the GIL for part of it, so the model is loaded once per
process at start-up (:func:`callwright.speech.warmup.import_native_modules`), never in a call:
:func:`detector` gives a call the WebRTC VAD when the model was not loaded (and says why once).

The model takes 256 samples at 8 kHz (512 at 16 kHz) with the last 32 (64) samples of the previous
chunk before them, and carries a recurrent state from chunk to chunk. :class:`SileroVad` keeps the
state per call, buffers the call's 20 ms frames into those chunks and answers each frame with the
latest speech probability, with hysteresis (speech from ``threshold``, silence below
``threshold - 0.15``) and the same energy floor as the WebRTC detector. One run costs about
0.45 ms of CPU on this machine's cores, ~14 ms per second of a call.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from callwright.errors import ConfigError, MediaError, SpeechError
from callwright.speech.vad import (
    DEFAULT_ENERGY_FLOOR_DBFS,
    FRAME_MS,
    NoiseMargin,
    VoiceActivityDetector,
)

log = logging.getLogger(__name__)

MODEL_FILE = "silero_vad.onnx"
#: Samples per model run, and context samples before them, by sample rate.
CHUNK = {8000: 256, 16000: 512}
CONTEXT = {8000: 32, 16000: 64}
VAD_KINDS = ("webrtc", "silero")
#: A VAD with a noise margin calls no frame speech that is not this much louder than the line's
#: noise (:class:`~callwright.speech.vad.NoiseMargin`): under steady hiss WebRTC and Silero
#: otherwise go on hearing speech 100-150 ms after the words end, which every end-of-turn silence
#: waits for (bench.vad_compare: end lag under -42 dBFS hiss p50 WebRTC 102 -> 2 ms, Silero
#: 149 -> 2 ms). A call's detector has none (None): with it, bench.barge_in's stop time grew from
#: one barge-in to the next within a call (p50 ~100 -> ~190 ms, later ones 500 ms). Calls apply
#: the margin to what the end of turn hears only (``TurnEndConfig.noise_margin_db``), and
#: barge-in keeps the detector's own verdict.
NOISE_MARGIN_DB: float | None = None
#: The margin the benches compare (bench.vad_compare, bench.turn_decisions).
BENCH_NOISE_MARGIN_DB = 6.0


class FrameVad(Protocol):
    """What the listener needs of a voice detector: one verdict per frame."""

    def is_speech(self, pcm_frame: bytes) -> bool: ...


def model_path() -> Path:
    """Where the ``silero-vad`` package keeps its ONNX model. Raises SpeechError if it is not
    installed."""
    spec = importlib.util.find_spec("silero_vad")  # finds it without importing torch
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "data" / MODEL_FILE
        if path.is_file():
            return path
    raise SpeechError("Silero VAD needs the silero-vad package "
                      "(pip install --no-deps silero-vad==6.2.3) and onnxruntime")


class SileroModel:
    """The loaded model, shared by every call of the process (runs are independent: the state is
    passed in and out)."""

    def __init__(self, path: Path | None = None) -> None:
        try:
            ort: Any = importlib.import_module("onnxruntime")
        except ImportError as exc:
            raise SpeechError("Silero VAD needs onnxruntime") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a frame's run is tiny: threads cost more than they give
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # the model has unused initialisers ORT warns about
        try:
            self._session: Any = ort.InferenceSession(
                str(path or model_path()), options, providers=["CPUExecutionProvider"]
            )
        except SpeechError:
            raise
        except Exception as exc:  # onnxruntime raises its own error types
            raise SpeechError(f"could not load the Silero VAD model: {exc}") from exc

    def run(self, chunk: np.ndarray, state: np.ndarray, rate: int) -> tuple[float, np.ndarray]:
        """Speech probability of ``chunk`` (float32, context first) and the next state."""
        prob, new_state = self._session.run(
            None, {"input": chunk[np.newaxis, :], "state": state, "sr": np.array(rate, np.int64)}
        )
        return float(prob[0][0]), new_state


class SileroModels:
    """The process's Silero model, loaded at start-up (:meth:`load`), looked up by calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: SileroModel | None = None
        self._error: str | None = None

    def load(self) -> SileroModel:
        """Load the model (blocking; once). Raises SpeechError."""
        with self._lock:
            if self._model is None:
                try:
                    self._model = SileroModel()
                except SpeechError as exc:
                    self._error = str(exc)
                    raise
            return self._model

    def loaded(self) -> SileroModel | None:
        with self._lock:
            return self._model

    @property
    def error(self) -> str | None:
        return self._error


#: The process-wide Silero model.
SHARED_SILERO = SileroModels()


class SileroVad:
    """One call's Silero voice detector, frame by frame (PCM16 LE mono)."""

    def __init__(
        self, model: SileroModel, sample_rate: int, frame_ms: int = 20, *,
        threshold: float = 0.5, energy_floor_dbfs: float | None = DEFAULT_ENERGY_FLOOR_DBFS,
        noise_margin_db: float | None = None,
    ) -> None:
        if sample_rate not in CHUNK:
            raise ConfigError("vad.sample_rate", "8000 or 16000 for Silero", sample_rate)
        if frame_ms not in FRAME_MS:
            raise ConfigError("vad.frame_ms", f"one of {FRAME_MS}", frame_ms)
        if not 0.2 <= threshold <= 0.95:
            raise ConfigError("vad.silero_threshold", "a probability from 0.2 to 0.95", threshold)
        self._model = model
        self.sample_rate = sample_rate
        self.frame_bytes = sample_rate * frame_ms // 1000 * 2
        self.threshold = threshold
        self._off = threshold - 0.15
        self._floor: float | None = (None if energy_floor_dbfs is None
                       else (32768.0 * 10.0 ** (energy_floor_dbfs / 20.0)) ** 2)
        self._margin = None if noise_margin_db is None else NoiseMargin(noise_margin_db, frame_ms)
        self._chunk = CHUNK[sample_rate]
        self._context = np.zeros(CONTEXT[sample_rate], np.float32)
        self._state = np.zeros((2, 1, 128), np.float32)
        self._buffer = np.zeros(0, np.float32)
        self._speech = False
        self.probability = 0.0
        self.runs = 0

    def is_speech(self, pcm_frame: bytes) -> bool:
        size = len(pcm_frame)
        if size != self.frame_bytes:
            if size > self.frame_bytes or size % 2:
                raise MediaError(f"VAD expects {self.frame_bytes}-byte frames, got {size} bytes")
            pcm_frame = bytes(pcm_frame) + bytes(self.frame_bytes - size)
        samples = np.frombuffer(pcm_frame, dtype="<i2").astype(np.float32) / 32768.0
        self._buffer = np.concatenate((self._buffer, samples))
        while self._buffer.size >= self._chunk:
            chunk, self._buffer = self._buffer[: self._chunk], self._buffer[self._chunk :]
            try:
                self.probability, self._state = self._model.run(
                    np.concatenate((self._context, chunk)), self._state, self.sample_rate
                )
            except Exception as exc:  # onnxruntime's own error types
                raise MediaError(f"Silero VAD failed: {exc}") from exc
            self._context = chunk[-self._context.size :]
            self.runs += 1
        self._speech = bool(self.probability >= (self._off if self._speech else self.threshold))
        if self._margin is not None and not self._margin.passes(pcm_frame, self._speech):
            return False  # its hangover under line noise: the words have ended
        if self._speech and self._floor is not None:
            scaled = samples * 32768.0
            return float(np.dot(scaled, scaled)) / scaled.size >= self._floor
        return self._speech


def detector(
    kind: str, sample_rate: int, aggressiveness: int, frame_ms: int,
    models: SileroModels = SHARED_SILERO, *, noise_margin_db: float | None = NOISE_MARGIN_DB,
) -> FrameVad:
    """A call's voice detector of ``kind`` ("webrtc" or "silero"). Silero needs its model loaded
    at start-up; without it (or at a rate it does not take) the call gets the WebRTC VAD.
    ``noise_margin_db``: see :data:`NOISE_MARGIN_DB`."""
    if kind == "silero":
        model = models.loaded()
        if model is not None and sample_rate in CHUNK:
            return SileroVad(model, sample_rate, frame_ms, noise_margin_db=noise_margin_db)
        log.warning("Silero VAD is not available (%s): using the WebRTC VAD",
                    models.error or "its model was not loaded at start-up"
                    if model is None else f"{sample_rate} Hz calls")
    elif kind != "webrtc":
        raise ConfigError("media.vad", f"one of {VAD_KINDS}", kind)
    return VoiceActivityDetector(sample_rate, aggressiveness, frame_ms,
                                 noise_margin_db=noise_margin_db)
