"""The consent notice (issue 12, item 1): a recorded call opens with the assistant's
``consent_prompt``, whatever dialog (flow or LLM) follows, and the caller can refuse the recording
by saying so.

:class:`ConsentDialog` wraps the call's dialog: its opening is the notice, said whole (no
barge-in), then the inner dialog's own opening; everything else is the inner dialog's, except:

- a caller turn that says one of the language's :data:`DECLINE_PHRASES` ("don't record") calls
  ``on_decline`` (the session stops and deletes the recording) and is answered with
  :func:`declined_line`; the inner dialog never hears it. Each :class:`Listen` with a grammar
  (closed answers, Vosk grammar mode) gets the phrases added, so they can be recognised there too.
- with a ``privacy_notice`` and a ``notice_digit``, that key is answered with the notice (the
  dialog's last Listen still holds), when the current Listen takes keys.

The session applies it when the call is recorded, so the recording, which starts with the
pipeline, holds the notice as its first audio. The opt-out *key* is handled by the session
itself (it must work whatever the current Listen accepts).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from callwright.dialog.actions import (
    CallContext,
    CallerTurn,
    DialogAction,
    DialogEngine,
    Listen,
    Say,
)
from callwright.dialog.fixed_prompts import line_for
from callwright.dialog.speculation import SideEffectGate, Speculative

#: What a caller says to refuse the recording, per language (matched in a turn, lower-cased,
#: punctuation and apostrophes ignored).
DECLINE_PHRASES: dict[str, tuple[str, ...]] = {
    "en": ("don't record", "do not record", "stop recording", "stop the recording"),
    "ko": ("녹음하지 마세요", "녹음 하지 마세요", "녹음 중지"),
    "de": ("nicht aufnehmen", "aufnahme stoppen"),
    "fr": ("n'enregistrez pas", "ne pas enregistrer", "arrêtez l'enregistrement"),
    "es": ("no grabe", "no grabar", "pare la grabación"),
    "ja": ("録音しないで", "録音を止めて"),
}

DECLINED_LINES = {
    "en": "The recording is stopped and what was recorded of this call is deleted.",
    "ko": "녹음을 중지했으며 이 통화의 녹음은 삭제되었습니다.",
    "de": "Die Aufnahme ist beendet und das bisher Aufgenommene gelöscht.",
    "fr": "L'enregistrement est arrêté et ce qui a été enregistré est supprimé.",
    "es": "La grabación se ha detenido y lo grabado de esta llamada se ha borrado.",
    "ja": "録音を停止し、この通話の録音は削除しました。",
}


def decline_phrases(language: str) -> tuple[str, ...]:
    """The language's phrases (English when it has none of its own)."""
    return line_for(DECLINE_PHRASES, language)


def declined_line(language: str) -> str:
    return line_for(DECLINED_LINES, language)


def _normal(text: str) -> str:
    text = re.sub(r"['’`]", "", text.lower())
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def says_decline(text: str, language: str) -> bool:
    """True if ``text`` contains one of the language's decline phrases."""
    said = f" {_normal(text)} "
    return any(f" {_normal(p)} " in said for p in decline_phrases(language))


def notice_text(assistant_prompt: str, org_prompt: str) -> str:
    """The consent notice a recorded call opens with: the assistant's, else the org's ("" for
    none: the call opens as it would unrecorded)."""
    return assistant_prompt.strip() or org_prompt.strip()


def consent_dialog(
    inner: DialogEngine, notice: str, *, language: str, on_decline: Callable[[], None],
    privacy_notice: str = "", notice_digit: str = "",
) -> DialogEngine:
    """``inner`` opened by ``notice`` (:func:`notice_text`) and hearing the decline phrases, for
    a recorded call on any call path; ``inner`` itself when there is no notice."""
    if not notice:
        return inner
    return ConsentDialog(inner, notice, language=language, on_decline=on_decline,
                         privacy_notice=privacy_notice, notice_digit=notice_digit)


class ConsentDialog:
    def __init__(
        self,
        inner: DialogEngine,
        notice: str,
        *,
        language: str = "en",
        on_decline: Callable[[], None] | None = None,
        privacy_notice: str = "",
        notice_digit: str = "",
    ) -> None:
        self.inner = inner
        self.notice = notice
        self.language = language
        self._on_decline = on_decline
        self._declined = False
        self.privacy_notice = privacy_notice.strip()
        self.notice_digit = notice_digit

    async def begin(self, ctx: CallContext) -> AsyncIterator[DialogAction]:
        if self.notice.strip():  # "" (a resumed call): the caller heard it before the restart
            yield Say(self.notice, interruptible=False)
        async for action in self._grammars(self.inner.begin(ctx)):
            yield action

    def on_caller_turn(self, turn: CallerTurn) -> AsyncIterator[DialogAction]:
        if self.privacy_notice and self.notice_digit and turn.dtmf == self.notice_digit:
            return _say(self.privacy_notice)
        if (self._on_decline is not None and not self._declined and turn.text
                and says_decline(turn.text, self.language)):
            self._declined = True
            return self._decline(self._on_decline)
        return self._grammars(self.inner.on_caller_turn(turn))

    async def _decline(self, on_decline: Callable[[], None]) -> AsyncIterator[DialogAction]:
        inner = self.inner
        if isinstance(inner, Speculative):
            await inner.side_effects.wait()  # the recording stops once the turn is confirmed
        on_decline()
        yield Say(declined_line(self.language))

    # --- speculation (callwright.dialog.speculation): as far as the inner dialog allows -------

    @property
    def side_effects(self) -> SideEffectGate:
        """The inner dialog's gate; AttributeError when its steps cannot be taken back (then
        neither can this dialog's: it is not :class:`Speculative`)."""
        inner = self.inner
        if not isinstance(inner, Speculative):
            raise AttributeError("side_effects")
        return inner.side_effects

    def snapshot(self) -> object:
        inner = self.inner
        if not isinstance(inner, Speculative):
            raise TypeError("the inner dialog's steps cannot be taken back")
        return (self._declined, inner.snapshot())

    def restore(self, snapshot: object) -> None:
        inner = self.inner
        if not isinstance(inner, Speculative) or not isinstance(snapshot, tuple):
            raise TypeError("not a snapshot of this dialog")
        self._declined, state = snapshot
        inner.restore(state)

    def on_no_input(self) -> AsyncIterator[DialogAction]:
        return self._grammars(self.inner.on_no_input())

    def on_interrupted(self, heard: str) -> None:
        self.inner.on_interrupted(heard)

    def node_id(self) -> str | None:
        return self.inner.node_id()

    async def _grammars(self, source: AsyncIterator[DialogAction]) -> AsyncIterator[DialogAction]:
        """``source``'s actions, the decline phrases added to each closed grammar."""
        extra = decline_phrases(self.language) if self._on_decline is not None else ()
        try:
            async for action in source:
                if isinstance(action, Listen) and action.grammar is not None and extra \
                        and not self._declined:
                    grammar = (*action.grammar, *(p for p in extra if p not in action.grammar))
                    action = replace(action, grammar=grammar)
                yield action
        finally:
            close = getattr(source, "aclose", None)
            if callable(close):
                await close()

    def __getattr__(self, name: str) -> Any:
        """Optional hooks the pipeline looks up by name (``on_transfer_failed``) are inner's."""
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


async def _say(text: str) -> AsyncIterator[DialogAction]:
    """A reply of one line, after which the dialog's last Listen still holds."""
    yield Say(text)
