"""The turn-taking corpus: caller turns made with espeak-ng, Korean (for Vosk) and English (for
pocketsphinx): short answers, digit strings read in groups, sentences with hesitations, each with
and without background noise.

Each :class:`CorpusItem` is said in parts, with a pause between parts (the pauses inside a turn
that must not end it). The parts of a free sentence are said as its clauses: each but the last
with a comma, so espeak-ng gives it the tune of a clause that goes on (its voice rises), not that
of a finished statement, as a person's does before a pause inside a sentence.

:func:`render` synthesises an item at 8 kHz PCM16 and returns the audio with the call time each
part ends, so a test or a bench knows where the caller really stopped. Rendering is
deterministic (espeak-ng is, and the noise has a fixed seed): the unit tests of the end-of-turn
decision use the same audio as ``bench.turn_taking``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

import numpy as np

from callwright.speech.espeak_tts import parse_wav, resample_pcm16

RATE = 8000
#: A sample louder than this counts as sound when trimming a part's silences.
TRIM_THRESHOLD = 300
#: Background noise level (RMS, dBFS) of the noisy variants: an office line.
NOISE_DBFS = -42.0


@dataclass(frozen=True, slots=True)
class CorpusItem:
    name: str
    language: str                 # espeak-ng voice and the recogniser's language: "ko" or "en"
    answer: str                   # "yes_no", "choice", "digits", "free"
    parts: tuple[str, ...]        # said one after the other
    pauses_ms: tuple[int, ...] = ()   # the pause after each part but the last
    grammar: tuple[str, ...] | None = None
    min_digits: int | None = None
    max_digits: int | None = None
    noise: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.parts)

    @property
    def has_pauses(self) -> bool:
        return any(p >= 300 for p in self.pauses_ms)

    def noisy(self) -> CorpusItem:
        return CorpusItem(self.name + "+noise", self.language, self.answer, self.parts,
                          self.pauses_ms, self.grammar, self.min_digits, self.max_digits, True)


KO_YES_NO = ("네", "예", "아니요", "아니오", "응", "아니")
KO_DIGITS = ("공", "영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
KO_CHOICE = ("예약", "취소", "변경", "상담원")
EN_YES_NO = ("yes", "yeah", "no", "nope")
EN_DIGITS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _clean() -> list[CorpusItem]:
    return [
        CorpusItem("ko_yes", "ko", "yes_no", ("네",), grammar=KO_YES_NO),
        CorpusItem("ko_no", "ko", "yes_no", ("아니요",), grammar=KO_YES_NO),
        CorpusItem("ko_choice", "ko", "choice", ("예약",), grammar=KO_CHOICE),
        CorpusItem("ko_choice2", "ko", "choice", ("상담원",), grammar=KO_CHOICE),
        CorpusItem("ko_phone", "ko", "digits", ("공 일 공", "일 이 삼 사", "오 육 칠 팔"),
                   (500, 700), grammar=KO_DIGITS, min_digits=11, max_digits=11),
        CorpusItem("ko_pin", "ko", "digits", ("일 이 삼 사",), grammar=KO_DIGITS,
                   min_digits=4, max_digits=4),
        CorpusItem("ko_card", "ko", "digits", ("사 오 육 칠", "팔 구 공 일"), (800,),
                   grammar=KO_DIGITS, min_digits=8, max_digits=8),
        CorpusItem("ko_free", "ko", "free", ("예약하고 싶어요",)),
        CorpusItem("ko_free_pause", "ko", "free", ("저는", "내일 예약하고 싶어요"), (600,)),
        CorpusItem("ko_free_hesitant", "ko", "free", ("음", "예약을 변경하고 싶어요"), (450,)),
        CorpusItem("ko_free_phrase", "ko", "free", ("내일 오후 세 시에", "두 명 예약하고 싶어요"),
                   (500,)),
        CorpusItem("en_yes", "en", "yes_no", ("yes",), grammar=EN_YES_NO),
        CorpusItem("en_no", "en", "yes_no", ("no",), grammar=EN_YES_NO),
        CorpusItem("en_phone", "en", "digits", ("five five five", "one two three four"), (600,),
                   grammar=EN_DIGITS, min_digits=7, max_digits=7),
        CorpusItem("en_free", "en", "free", ("I would like to book a table",)),
        CorpusItem("en_free_pause", "en", "free", ("I'd like to", "book a table"), (700,)),
        CorpusItem("en_free_hesitant", "en", "free", ("um", "tomorrow at seven"), (400,)),
        CorpusItem("en_free_phrase", "en", "free", ("I would like a table for two",
                                                    "tomorrow evening"), (450,)),
    ]


#: Korean digit strings read in groups with the pauses of the issue (300-800 ms between groups):
#: (digits, group sizes, pause after each group but the last), the length asked for known.
KO_GROUPED: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("01012345678", (3, 4, 4), (300, 300)),
    ("01098765432", (3, 4, 4), (450, 600)),
    ("01055512340", (3, 4, 4), (800, 800)),
    ("01024681357", (3, 4, 4), (600, 350)),
    ("0212345678", (2, 4, 4), (500, 500)),
    ("0317778888", (3, 3, 4), (400, 700)),
    ("12345678", (4, 4), (300,)),
    ("90817263", (4, 4), (650,)),
    ("55501234", (4, 4), (800,)),
    ("246813", (3, 3), (550,)),
    ("7777", (2, 2), (400,)),
    ("3094", (2, 2), (700,)),
)
_KO_DIGIT = dict(zip("0123456789", ("공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"),
                     strict=True))


def grouped_digits(noise: bool = True) -> list[CorpusItem]:
    """Korean digit strings read in groups (:data:`KO_GROUPED`), clean then under noise: the
    turns that must not be cut at a pause between groups."""
    items = []
    for digits, sizes, pauses in KO_GROUPED:
        parts, at = [], 0
        for size in sizes:
            parts.append(" ".join(_KO_DIGIT[d] for d in digits[at : at + size]))
            at += size
        items.append(CorpusItem(f"ko_groups_{digits}", "ko", "digits", tuple(parts), pauses,
                                grammar=KO_DIGITS, min_digits=len(digits),
                                max_digits=len(digits)))
    return items + [item.noisy() for item in items] if noise else items


def corpus(noise: bool = True) -> list[CorpusItem]:
    """Every item, clean, then (with ``noise``) each again under background noise."""
    items = _clean()
    return items + [item.noisy() for item in items] if noise else items


@dataclass(slots=True)
class Rendered:
    item: CorpusItem
    pcm: bytes                       # 8 kHz PCM16 LE, with LEAD_MS of silence before and after
    part_ends_ms: list[float] = field(default_factory=list)  # where each part's sound ends

    @property
    def speech_end_ms(self) -> float:
        return self.part_ends_ms[-1]


#: Silence before the first part and after the last.
LEAD_MS = 300
TAIL_MS = 1500


def synthesize(text: str, language: str, rate: int = RATE) -> np.ndarray:
    """espeak-ng's audio of ``text`` at ``rate``, silence trimmed at both ends (int16)."""
    wav = subprocess.run(["espeak-ng", "-v", language, "--stdout", text],
                         check=True, capture_output=True, timeout=30).stdout
    samples, from_rate = parse_wav(wav)
    pcm = np.frombuffer(resample_pcm16(samples, from_rate, rate), dtype="<i2")
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > TRIM_THRESHOLD)
    if loud.size == 0:
        return pcm[:0]
    return pcm[loud[0] : loud[-1] + 1]


def render(item: CorpusItem, rate: int = RATE, seed: int = 16) -> Rendered:
    """The item's audio (parts and pauses, lead and tail silence, noise when asked)."""
    chunks: list[np.ndarray] = [np.zeros(rate * LEAD_MS // 1000, dtype=np.int16)]
    ends: list[float] = []
    at = float(LEAD_MS)
    for i, part in enumerate(item.parts):
        goes_on = item.answer == "free" and i < len(item.parts) - 1
        audio = synthesize(part + "," if goes_on else part, item.language, rate)
        chunks.append(audio)
        at += len(audio) * 1000.0 / rate
        ends.append(at)
        pause = item.pauses_ms[i] if i < len(item.pauses_ms) else TAIL_MS
        chunks.append(np.zeros(rate * pause // 1000, dtype=np.int16))
        at += pause
    signal = np.concatenate(chunks).astype(np.float64)
    if item.noise:
        rng = np.random.default_rng(seed)
        level = 32768.0 * 10 ** (NOISE_DBFS / 20.0)
        # Low-passed white noise: line hiss with some body, steady under the whole turn.
        white = rng.standard_normal(signal.size + 8)
        hiss = np.convolve(white, np.ones(8) / np.sqrt(8), mode="valid")[: signal.size]
        signal = signal + hiss * level
    pcm = np.clip(np.round(signal), -32768, 32767).astype("<i2").tobytes()
    return Rendered(item, pcm, ends)


def frames(pcm: bytes, frame_ms: int = 20, rate: int = RATE) -> list[bytes]:
    """``pcm`` cut in whole frames (a short last frame dropped)."""
    size = rate * frame_ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]


# -- sounds that are not speech, for comparing voice detectors (bench.vad_compare) --------------
#
# All synthetic, from a seeded generator, at 8 kHz:
# - line hiss: white noise, low-passed by an 8-tap moving sum (as under the noisy corpus items),
#   at a given RMS level in dBFS;
# - office noise: brown-ish noise (white noise through a one-pole low-pass at ~300 Hz) whose level
#   swells and falls 2-4 times a second (a room, a fan, far voices' rhythm), at a given level;
# - a cough: a burst of noise band-passed to 250-2500 Hz (difference of two moving averages), a
#   10 ms attack and an exponential decay (time constant 40-90 ms), 180-350 ms long, peaking at
#   -14 to -8 dBFS, sometimes twice in a row ("cough-cough", 120-200 ms apart).


def _scaled(signal: np.ndarray, dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(signal**2))) or 1.0
    return signal * (32768.0 * 10 ** (dbfs / 20.0) / rms)


def hiss(samples: int, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """Steady line hiss at ``dbfs`` RMS (float samples, PCM16 scale)."""
    white = rng.standard_normal(samples + 8)
    return _scaled(np.convolve(white, np.ones(8), mode="valid")[:samples], dbfs)


def office_noise(samples: int, dbfs: float, rng: np.random.Generator,
                 rate: int = RATE) -> np.ndarray:
    """Low-pitched noise whose level swells and falls a few times a second, at ``dbfs`` RMS."""
    white = rng.standard_normal(samples)
    alpha = float(np.exp(-2 * np.pi * 300 / rate))
    low = np.empty(samples)
    acc = 0.0
    for i, x in enumerate(white):  # one-pole low-pass
        acc = alpha * acc + (1 - alpha) * x
        low[i] = acc
    t = np.arange(samples) / rate
    swell = 1.0 + 0.6 * np.sin(2 * np.pi * rng.uniform(2, 4) * t + rng.uniform(0, 6.3))
    return _scaled(low * swell, dbfs)


def cough(rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """One cough (or two in a row): band-passed noise with a sharp attack and a fast decay."""
    bursts: list[np.ndarray] = []
    for n in range(2 if rng.random() < 0.4 else 1):
        length = int(rate * rng.uniform(0.18, 0.35))
        white = rng.standard_normal(length + 32)
        # 250-2500 Hz: a short moving average (low-pass) minus a long one (high-pass).
        band = (np.convolve(white, np.ones(3) / 3, mode="valid")[:length]
                - np.convolve(white, np.ones(32) / 32, mode="valid")[:length])
        t = np.arange(length) / rate
        envelope = np.minimum(t / 0.010, 1.0) * np.exp(-t / rng.uniform(0.04, 0.09))
        burst = band * envelope
        peak = 32768.0 * 10 ** (rng.uniform(-14.0, -8.0) / 20.0)
        bursts.append(burst * (peak / float(np.max(np.abs(burst)))))
        if n == 0:
            bursts.append(np.zeros(int(rate * rng.uniform(0.12, 0.2))))
    return np.concatenate(bursts)
