"""The pure parts of the turn-taking bench: the corpus, its flow, and the summary."""

from __future__ import annotations

from typing import cast

from ari_app.simulator.caller import SimulatedCaller
from bench.turn_corpus import Rendered, corpus
from bench.turn_taking import TurnFigure, first_reply, flow_for, resumed_after, summarise
from callwright.dialog.flow import validate_flow


def test_the_corpus_holds_what_the_issue_asks_for() -> None:
    items = corpus()
    kinds = {(i.language, i.answer) for i in items}
    assert {("ko", "yes_no"), ("ko", "digits"), ("ko", "free"), ("en", "yes_no"),
            ("en", "digits"), ("en", "free")} <= kinds
    assert any(i.has_pauses and i.answer == "digits" for i in items)
    assert any(i.has_pauses and i.answer == "free" for i in items)
    assert sum(i.noise for i in items) == len(items) // 2


def test_each_language_gets_a_valid_flow_asking_each_item() -> None:
    for language in ("ko", "en"):
        items = [i for i in corpus(noise=False) if i.language == language]
        flow = flow_for(items)
        assert validate_flow(flow, llm_available=False) == []
        asks = [n for n in flow["nodes"].values() if n["kind"] == "ask"]
        assert len(asks) == len(items)
        node, item = next((n, i) for n, i in zip(asks, items, strict=True)
                          if i.answer == "digits")
        assert node["answer"] == "digits" and node["length"] == item.max_digits


def test_the_summary_counts_cut_offs_on_paused_turns() -> None:
    items = {i.name: i for i in corpus()}
    figures = [
        TurnFigure(items["ko_yes"], 180.0, False),
        TurnFigure(items["ko_no"], 220.0, False),
        TurnFigure(items["ko_phone"], None, True, 40.0, 20.0),
        TurnFigure(items["ko_card"], 240.0, False),
        TurnFigure(items["ko_free"], None, False),
    ]
    summary = summarise(figures)
    assert summary["turns"] == 5 and summary["no_reply"] == 1
    assert summary["cut_offs"] == 1 and summary["cut_off_items"] == ["ko_phone"]
    assert summary["cut_off_rate_on_paused_turns"] == 0.5
    assert summary["cut_off_heard_after_the_caller_went_on_ms"]["max"] == 20.0
    assert summary["gap_ms_closed_all"]["n"] == 3
    assert summary["gap_ms_clean"]["yes_no"]["p50"] == 200.0


class HeardFrames:
    t0 = 100.0
    speech_rms = 500.0

    def __init__(self, loud: str) -> None:
        """``loud``: one character per 20 ms frame heard, ``#`` speech, ``.`` silence."""
        tone = (b"\x00\x10" + b"\x00\xf0") * 80
        self.frames = [(i * 0.02, tone if c == "#" else bytes(320)) for i, c in enumerate(loud)]

    def heard_frames(self) -> list[tuple[float, bytes]]:
        return list(self.frames)


def test_the_first_reply_after_a_time_and_how_long_it_was_heard() -> None:
    caller = cast(SimulatedCaller, HeardFrames("##....###..#........####"))
    start, heard = first_reply(caller, 100.05) or (0.0, 0.0)
    assert round(start - 100.0, 2) == 0.12 and round(heard) == 120  # 6 frames, a 40 ms gap
    assert first_reply(caller, 100.5) is None


def test_a_premature_reply_is_timed_from_when_the_caller_went_on() -> None:
    phone = next(i for i in corpus() if i.name == "ko_phone")  # pauses of 500 and 700 ms
    rendered = Rendered(phone, b"", [1000.0, 2500.0, 4000.0])
    assert resumed_after(rendered, 1200.0) == 1500.0  # the second group's start
    assert resumed_after(rendered, 2600.0) == 3200.0
    assert resumed_after(rendered, 3900.0) == 4000.0  # (not in a pause: the end of the speech)
