"""Choosing and building the dialog engine for one call.

A flow is the default: the assistant's flow when it has one (with the LLM available to its ``llm``
nodes when LLM settings are given), else the LLM on its own when it has LLM settings, else the
embedded demo flow, which needs no LLM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from openai import AsyncOpenAI

from callwright.dialog.actions import DialogEngine
from callwright.dialog.demo_flow import demo_flow
from callwright.dialog.flow import Flow, LlmNode, load_flow
from callwright.dialog.flow_engine import FlowEngine
from callwright.dialog.llm_engine import LlmEngine, LlmSettings
from callwright.errors import LlmError

__all__ = ["build_dialog_engine"]


def build_dialog_engine(
    flow_definition: Mapping[str, Any] | Flow | None,
    llm_settings: LlmSettings | None,
    client_factory: Callable[[], AsyncOpenAI] | None,
    greeting: str,
    *,
    language: str = "ko",
    on_llm_error: Callable[[LlmError], None] | None = None,
) -> DialogEngine:
    """One dialog engine for one call.

    ``flow_definition``: the assistant's flow (a JSON object, or an already loaded :class:`Flow`);
    raises :class:`~callwright.errors.FlowError` when it is invalid. ``llm_settings`` and
    ``client_factory`` together enable the LLM. ``greeting`` is spoken first by the assistant's
    flow or LLM; the demo flow has its own greeting and ignores it. ``language`` picks the demo
    flow's language.

    The client comes from ``client_factory``, called only when the LLM will be used; the caller
    owns it (a client shared by all calls is best: building one costs tens of milliseconds) and
    the engine never closes it.
    """
    flow: Flow | None = None
    if flow_definition is not None:
        flow = flow_definition if isinstance(flow_definition, Flow) else load_flow(flow_definition)
    wants_llm = flow is None or any(isinstance(n, LlmNode) for n in flow.nodes.values())
    llm: LlmEngine | None = None
    if llm_settings is not None and client_factory is not None and wants_llm:
        llm = LlmEngine(
            client_factory(),
            llm_settings,
            # With a flow, the flow speaks the greeting; the LLM joins at an llm node.
            greeting=(greeting or None) if flow is None else None,
            on_error=on_llm_error,
        )
    if flow is not None:
        return FlowEngine(flow, greeting=greeting or None, llm=llm)
    if llm is not None:
        return llm
    return FlowEngine(load_flow(demo_flow(language)))
