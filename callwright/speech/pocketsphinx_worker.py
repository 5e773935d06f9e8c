"""The pocketsphinx worker process: decodes the streams multiplexed on its stdin, answers on its
stdout.

:class:`~callwright.speech.pocketsphinx_stt.PocketsphinxSttEngine` starts each worker as a
``python -c`` child running :func:`worker_main`. Parent and worker speak a small framed protocol:
each message is a ``<BII`` header (:class:`Op`, stream id, payload length) and the payload. The
worker keeps a pool of warm decoders: a grammar decoder without the language model, taught only
the words of the grammars compiled into it (:func:`jsgf_for`), or a free-speech decoder with the
language model and the whole dictionary.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import struct
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from callwright.errors import SpeechError

#: The rate of the bundled model.
MODEL_RATE = 16000
#: Audio decoded between two partial results sent back by a worker, in milliseconds.
PARTIAL_EVERY_MS = 200
#: Grammar searches one decoder keeps compiled (the oldest is dropped past this).
MAX_SEARCHES = 32
_HEADER = struct.Struct("<BII")  # op, stream id, payload length


class Op(enum.IntEnum):
    OPEN = 1  # parent -> worker, payload: JSON {"grammar": [["yes"], ["no", "thanks"]] | null}
    AUDIO = 2  # PCM16 LE at 16 kHz
    FINISH = 3  # end the utterance; the worker answers FINAL and frees the decoder
    CLOSE = 4  # abandon the utterance
    READY = 10  # worker -> parent, once, when the first decoder is loaded
    PARTIAL = 11  # UTF-8 text
    FINAL = 12  # JSON {"text": ..., "confidence": ...}
    ERROR = 13  # UTF-8 message (stream id 0: the worker itself)


def jsgf_for(phrases: Sequence[Sequence[str]]) -> str:
    """A JSGF grammar accepting exactly one of ``phrases`` (each a sequence of words)."""
    if not phrases:
        raise SpeechError("a grammar needs at least one phrase")
    alternatives = " | ".join(" ".join(words) for words in phrases)
    return f"#JSGF V1.0;\ngrammar callwright;\npublic <phrase> = {alternatives};\n"


def _frame(op: Op, stream_id: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(op, stream_id, len(payload)) + payload


class _Lexicon:
    """The model's pronunciation dictionary, read once per worker (about 20 MB)."""

    def __init__(self, path: Path) -> None:
        self.entries: dict[str, str] = {}
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                word, _, phones = line.strip().partition(" ")
                if word and phones:
                    self.entries.setdefault(word, phones.strip())

    def variants(self, word: str) -> list[tuple[str, str]]:
        """``(name, phones)`` of every pronunciation of ``word`` (``either``, ``either(2)``)."""
        found, n = [], 1
        while (phones := self.entries.get(word if n == 1 else f"{word}({n})")) is not None:
            found.append((word if n == 1 else f"{word}({n})", phones))
            n += 1
        return found


class _Decoder:
    """A native decoder (worker side). A free-speech decoder loads the language model and the
    whole dictionary (about 90 MB); a grammar decoder loads neither (about 5 MB) and is taught
    just the words of the grammars compiled into it."""

    def __init__(self, model_dir: Path, free: bool) -> None:
        import pocketsphinx

        self.native: Any = pocketsphinx.Decoder(
            hmm=str(model_dir / "en-us"),
            lm=str(model_dir / "en-us.lm.bin") if free else None,
            dict=str(model_dir / "cmudict-en-us.dict") if free else None,
            samprate=MODEL_RATE,
            loglevel="FATAL",
        )
        self.free = free
        self.searches: dict[tuple[tuple[str, ...], ...], str] = {}
        self._words: set[str] = set()
        self._serial = 0

    def use_grammar(self, grammar: tuple[tuple[str, ...], ...], lexicon: _Lexicon) -> list[str]:
        """Select ``grammar``, compiling it on first use; then returns the words missing from the
        dictionary (their phrases are left out)."""
        name = self.searches.get(grammar)
        missing: list[str] = []
        if name is None:
            missing = sorted({w for p in grammar for w in p if not lexicon.variants(w)})
            known = [p for p in grammar if not set(p) & set(missing)]
            if not known:
                raise ValueError(f"no grammar phrase is in the English dictionary ({missing})")
            for word in {w for p in known for w in p} - self._words:
                for variant, phones in lexicon.variants(word):
                    self.native.add_word(variant, phones, False)
                self._words.add(word)
            if len(self.searches) >= MAX_SEARCHES:
                self.native.remove_search(self.searches.pop(next(iter(self.searches))))
            self._serial += 1
            name = f"g{self._serial}"
            self.native.add_jsgf_string(name, jsgf_for(known))
            self.searches[grammar] = name
        self.native.activate_search(name)
        return missing


class _Utterance:
    def __init__(self, decoder: _Decoder) -> None:
        self.decoder = decoder
        self.unreported = 0  # samples decoded since the last partial
        self.partial = ""


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def serve(inp: BinaryIO, out: BinaryIO, model_dir: Path, pool_size: int) -> None:
    """The worker loop: decode the streams multiplexed on ``inp`` until it closes."""

    def send(op: Op, stream_id: int, payload: bytes = b"") -> None:
        out.write(_frame(op, stream_id, payload))
        out.flush()

    lexicon = _Lexicon(model_dir / "cmudict-en-us.dict")
    # A free-speech decoder is made on a stream's OPEN (0.3-0.5 s, while the caller still talks).
    idle: dict[bool, deque[_Decoder]] = {False: deque([_Decoder(model_dir, False)]), True: deque()}
    active: dict[int, _Utterance] = {}
    send(Op.READY, 0, json.dumps({"pid": os.getpid()}).encode())

    def release(utterance: _Utterance) -> None:
        pool = idle[utterance.decoder.free]
        if len(pool) < pool_size:
            pool.append(utterance.decoder)

    while (header := _read_exact(inp, _HEADER.size)) is not None:
        op, sid, size = _HEADER.unpack(header)
        payload = _read_exact(inp, size) if size else b""
        if payload is None:
            return
        try:
            if op == Op.OPEN:
                raw = json.loads(payload)["grammar"]
                free = raw is None
                decoder = idle[free].pop() if idle[free] else _Decoder(model_dir, free)
                active[sid] = _Utterance(decoder)
                if not free:
                    missing = decoder.use_grammar(tuple(tuple(p) for p in raw), lexicon)
                    if missing:
                        print(f"grammar words not in the dictionary (ignored): {missing}")
                decoder.native.start_utt()
            elif op == Op.AUDIO and sid in active:
                utterance = active[sid]
                utterance.decoder.native.process_raw(payload, False, False)
                utterance.unreported += len(payload) // 2
                if utterance.unreported >= MODEL_RATE * PARTIAL_EVERY_MS // 1000:
                    utterance.unreported = 0
                    hyp = utterance.decoder.native.hyp()
                    text = hyp.hypstr if hyp is not None else ""
                    if text != utterance.partial:
                        utterance.partial = text
                        send(Op.PARTIAL, sid, text.encode())
            elif op == Op.FINISH and sid in active:
                utterance = active.pop(sid)
                utterance.decoder.native.end_utt()
                hyp = utterance.decoder.native.hyp()
                text = hyp.hypstr if hyp is not None else ""
                confidence = min(1.0, max(0.0, float(hyp.prob))) if text else None
                release(utterance)
                send(Op.FINAL, sid, json.dumps({"text": text, "confidence": confidence}).encode())
            elif op == Op.CLOSE and sid in active:
                utterance = active.pop(sid)
                utterance.decoder.native.end_utt()
                release(utterance)
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            broken = active.pop(sid, None)
            if broken is not None:
                with contextlib.suppress(RuntimeError, ValueError):
                    broken.decoder.native.end_utt()
            send(Op.ERROR, sid, str(exc).encode())


def worker_main() -> None:
    """Entry point of a worker process: ``argv[1]`` is the model directory, ``argv[2]`` the pool
    size. Native code printing to stdout would corrupt the protocol, so fd 1 is pointed at
    stderr and the protocol uses a private copy of the original stdout."""
    model_dir = Path(sys.argv[1])
    pool_size = int(sys.argv[2])
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with out:
        serve(sys.stdin.buffer, out, model_dir, pool_size)
