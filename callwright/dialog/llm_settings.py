"""How an assistant uses its LLM (:class:`LlmSettings`) and what one LLM request took
(:class:`LlmTurnStats`). Both are re-exported by :mod:`callwright.dialog.llm_engine`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from callwright.dialog.webhook_tools import WebhookTool

__all__ = ["LlmSettings", "LlmTurnStats"]


@dataclass(frozen=True, slots=True)
class LlmSettings:
    """How the LLM is used. Holds no credentials: the client carries the API key.

    ``timeout_s`` bounds the wait for the response and for each streamed chunk (the first one
    included). ``transfer_targets`` maps the names the model may choose to dialplan targets.

    A request that fails before the first word (timeout, no connection, HTTP 408/409/429/5xx) is
    tried ``retries`` more times within ``reply_budget_s``, the longest the caller waits for a
    reply's first words (None: 1.5 × ``timeout_s``): a retry waits at most what is left of it,
    and is not made with less than half a second left. A reply that still fails gets the caller
    ``retry_text`` and the engine listens again; after ``max_failures`` failed replies in a row
    it says ``fallback_text``, then hangs up, or hands the caller to ``failure_target`` (back to
    the dialplan) when ``on_failure`` is ``"transfer"``.

    ``knowledge_tool`` offers ``search_knowledge`` when the engine has a retriever;
    ``webhook_tools`` are the assistant's own tools (see
    :func:`callwright.dialog.webhook_tools.parse_tool_declarations`), offered when the engine has
    a webhook client. ``tools_enabled`` False offers none of these tools (a flow's ``finish`` is
    still offered when the flow asks for it).
    """

    model: str
    temperature: float = 0.4
    max_tokens: int = 300
    timeout_s: float = 8.0
    system_prompt: str = "You are a helpful, friendly telephone assistant."
    fallback_text: str = "Sorry, I am having technical trouble. Please call again later."
    tools_enabled: bool = True
    transfer_targets: Mapping[str, str] = field(default_factory=dict)
    on_failure: Literal["hangup", "transfer"] = "hangup"
    failure_target: str | None = None
    max_retries: int = 0  # the HTTP client's own retries (ours are ``retries``)
    retries: int = 1
    reply_budget_s: float | None = None
    max_failures: int = 2
    retry_text: str = "Sorry, I could not answer that just now. Could you say it again?"
    no_input_text: str = "Are you still there?"
    goodbye_text: str = "Goodbye."
    max_no_input: int = 2
    max_tool_rounds: int = 2
    knowledge_tool: bool = True
    webhook_tools: tuple[WebhookTool, ...] = ()


    @property
    def budget_s(self) -> float:
        """The caller's longest wait for a reply's first words, retries included."""
        return self.reply_budget_s if self.reply_budget_s is not None else 1.5 * self.timeout_s


@dataclass(frozen=True, slots=True)
class LlmTurnStats:
    """Timings of one LLM request, for the turn log."""

    ttft_s: float | None
    total_s: float
    sentences: int
    tool_calls: tuple[str, ...]
    ok: bool
