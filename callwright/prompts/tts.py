"""A TTS engine that says an assistant's recorded prompts instead of synthesising their text."""

from __future__ import annotations

from callwright.speech.protocols import TtsEngine
from callwright.store.prompts import prompt_key


class PromptedTts:
    """``inner`` for every text but those with a recording (``prompts``: text -> PCM16 at
    ``sample_rate``), which are played as recorded."""

    def __init__(self, inner: TtsEngine, prompts: dict[str, bytes], sample_rate: int) -> None:
        self.inner = inner
        self.name = inner.name
        self._prompts = prompts
        self._rate = sample_rate
        self.played = 0

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        recorded = self._prompts.get(prompt_key(text))
        if recorded is not None and sample_rate == self._rate:
            self.played += 1
            return recorded
        return await self.inner.synthesize(text, sample_rate, voice)
