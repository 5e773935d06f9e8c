"""Converting an uploaded prompt once to every call format, with pydub (ffmpeg for MP3/OGG).

:func:`convert_prompt` takes the uploaded bytes (WAV, MP3 or OGG), decodes them with pydub,
makes them mono, and returns PCM16 LE at 8 and 16 kHz (``slin``/``slin16``) plus G.711 ``ulaw``
and ``alaw`` at 8 kHz. It runs ffmpeg for MP3 and OGG: call it on a worker thread, never on the
event loop. :func:`wav_to_mp3` encodes a recording as MP3 for download (ffmpeg too).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from callwright.errors import CallwrightError
from callwright.media.g711 import alaw_encode, ulaw_encode

with warnings.catch_warnings():
    # pydub imports audioop (deprecated since 3.11; pydub has no release without it yet) and
    # warns at import when ffmpeg is missing (WAV needs none; MP3/OGG fail clearly below).
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    warnings.filterwarnings("ignore", "Couldn't find ffmpeg", RuntimeWarning)
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

FORMATS = {"wav": "wav", "mp3": "mp3", "ogg": "ogg", "oga": "ogg", "opus": "ogg"}
#: The longest prompt accepted, and the largest upload.
MAX_SECONDS = 120
MAX_BYTES = 10 * 1024 * 1024


class PromptAudioError(CallwrightError, ValueError):
    """The upload is not audio we can use (the message says why)."""


@dataclass(frozen=True, slots=True)
class PromptAudio:
    slin8: bytes
    slin16: bytes
    ulaw: bytes
    alaw: bytes
    duration_ms: int

    def pcm(self, sample_rate: int) -> bytes:
        return self.slin16 if sample_rate == 16000 else self.slin8


def format_of(filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext not in FORMATS:
        raise PromptAudioError(f"{filename!r}: upload a WAV, MP3 or OGG file")
    return FORMATS[ext]


def convert_prompt(data: bytes, fmt: str) -> PromptAudio:
    """Decode and convert (blocking: ffmpeg for MP3/OGG). PromptAudioError on bad input."""
    if len(data) > MAX_BYTES:
        raise PromptAudioError(f"the file is over {MAX_BYTES // (1024 * 1024)} MB")
    if not data:
        raise PromptAudioError("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # pydub's temporary files
            segment = AudioSegment.from_file(io.BytesIO(data), format=fmt)
    except (CouldntDecodeError, IndexError, ValueError, EOFError) as exc:
        raise PromptAudioError(f"not readable as {fmt.upper()}: {str(exc)[:200]}") from None
    except FileNotFoundError:
        raise PromptAudioError(f"{fmt.upper()} needs ffmpeg, which is not installed") from None
    if len(segment) > MAX_SECONDS * 1000:
        raise PromptAudioError(f"the prompt is over {MAX_SECONDS} s")
    if len(segment) < 100:
        raise PromptAudioError("the prompt is shorter than 0.1 s")
    mono = segment.set_channels(1).set_sample_width(2)
    slin8 = bytes(mono.set_frame_rate(8000).raw_data)
    slin16 = bytes(mono.set_frame_rate(16000).raw_data)
    return PromptAudio(slin8, slin16, ulaw_encode(slin8), alaw_encode(slin8), len(segment))


def wav_to_mp3(wav: bytes, bitrate: str = "64k") -> bytes:
    """A WAV recording as MP3 (blocking: ffmpeg). PromptAudioError when it cannot be done."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            segment = AudioSegment.from_file(io.BytesIO(wav), format="wav")
            out = io.BytesIO()
            segment.export(out, format="mp3", bitrate=bitrate)
    except (CouldntDecodeError, IndexError, ValueError, EOFError) as exc:
        raise PromptAudioError(f"not a readable WAV: {str(exc)[:200]}") from None
    except FileNotFoundError:
        raise PromptAudioError("MP3 needs ffmpeg, which is not installed") from None
    return out.getvalue()
