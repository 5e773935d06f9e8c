"""The ``make_rig`` factory: a :class:`CallPipeline` on a real pacer clock (shared by every rig of
a test, as the calls of a process share it) with the fakes of :mod:`tests.callwright.call.rig`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from callwright.call.journal import CallJournal
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline import CallPipeline, TransferHandler
from callwright.call.pipeline_settings import PipelineSettings
from callwright.dialog.actions import CallContext
from callwright.media.pacer import PacerClock
from callwright.media.recorder import StereoWavRecorder
from callwright.speech.barge_in import BargeInConfig
from callwright.speech.endpointing import EndpointingConfig
from tests.callwright.call.rig import (
    FakeStt,
    FakeTransport,
    MemoryTurns,
    Rig,
    ScriptedDialog,
    ToneTts,
)

MakeRig = Callable[..., Rig]


@pytest.fixture
async def make_rig() -> AsyncIterator[MakeRig]:
    """``make_rig(dialog, answers, ...)``: a running pipeline. ``stt``/``tts``/``fallback_tts``/
    ``recorder``/``transfer`` replace the defaults; other keywords override
    :class:`PipelineSettings`."""
    clock = PacerClock()
    clock.start()
    rigs: list[Rig] = []

    def make(dialog: ScriptedDialog, answers: Sequence[str] = (), *, fail_stt: bool = False,
             barge_in: bool = True, stt: FakeStt | None = None, tts: ToneTts | None = None,
             fallback_tts: ToneTts | None = None, recorder: StereoWavRecorder | None = None,
             uid: str = "uid1", transfer: TransferHandler | None = None,
             **settings: Any) -> Rig:
        transport, store = FakeTransport(), MemoryTurns()
        tts = tts if tts is not None else ToneTts()
        stt = stt if stt is not None else FakeStt(list(answers), fail_stt)
        base = PipelineSettings(
            language="en", voice=None,
            endpointing=EndpointingConfig(end_silence_ms=400),
            barge_in=BargeInConfig(enabled=barge_in, min_speech_ms=200),
        )
        pipeline = CallPipeline(
            transport=transport, stt=stt, tts=tts, dialog=dialog,
            ctx=CallContext(uid, "5551234", "100", "en"),
            journal=CallJournal(store, 1), clock=clock,
            settings=replace(base, **settings), recorder=recorder, fallback_tts=fallback_tts,
            transfer=transfer,
        )
        task = asyncio.get_running_loop().create_task(pipeline.run())
        rig = Rig(pipeline, transport, stt, tts, dialog, store, task)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        if not rig.task.done():
            rig.pipeline.end(CallOutcome("completed", "test_end"))
            await asyncio.wait_for(rig.task, 5)
    await clock.stop()
