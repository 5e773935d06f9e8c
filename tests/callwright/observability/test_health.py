"""Readiness: named probes, run concurrently, never cancelled, reported as JSON."""

from __future__ import annotations

import asyncio

import pytest

from callwright.observability.health import Probe, Readiness


def answer(problem: str | None) -> Probe:
    async def probe() -> str | None:
        return problem

    return probe


async def test_ready_when_every_probe_passes() -> None:
    report = await Readiness({"a": answer(None), "b": answer(None)}).check()
    assert report.ready
    assert report.as_json() == {
        "ready": True, "not_ready": [],
        "checks": {"a": {"ready": True, "detail": "ok"}, "b": {"ready": True, "detail": "ok"}},
    }


async def test_a_failing_probe_is_named_with_its_reason() -> None:
    report = await Readiness({"ari": answer("down"), "store": answer(None)}).check()
    assert not report.ready
    assert report.not_ready == ["ari"]
    assert report.as_json()["checks"]["ari"] == {"ready": False, "detail": "down"}


async def test_a_probe_that_raises_counts_as_not_ready() -> None:
    async def broken() -> str | None:
        raise OSError("disk on fire")

    report = await Readiness({"store": broken}).check()
    assert report.as_json()["checks"]["store"] == {
        "ready": False, "detail": "check failed: OSError: disk on fire"}


async def test_a_slow_probe_times_out_without_being_cancelled_or_run_twice() -> None:
    release = asyncio.Event()
    runs: list[int] = []
    finished: list[int] = []

    async def slow() -> str | None:
        runs.append(1)
        await release.wait()
        finished.append(1)
        return None

    readiness = Readiness({"store": slow, "ari": answer(None)}, timeout_s=0.05)
    first = await readiness.check()
    assert first.not_ready == ["store"]
    assert first.as_json()["checks"]["store"]["detail"] == "no answer within 0.05 s"
    second = await readiness.check()
    assert second.not_ready == ["store"] and runs == [1]  # the same run is waited for again
    release.set()
    third = await readiness.check()
    assert third.ready and runs == [1] and finished == [1]  # it ran to its end
    assert (await readiness.check()).ready and runs == [1, 1]  # then a new run
    await readiness.close()


async def test_close_waits_for_a_probe_still_running() -> None:
    done: list[str] = []

    async def slow() -> str | None:
        await asyncio.sleep(0.1)
        done.append("finished")
        return None

    readiness = Readiness({"store": slow}, timeout_s=0.01)
    assert not (await readiness.check()).ready
    await readiness.close()
    assert done == ["finished"]


async def test_probes_can_be_added_but_not_twice() -> None:
    readiness = Readiness({"ari": answer(None)})
    readiness.add("draining", answer("the service is draining"))
    assert readiness.names == ["ari", "draining"]
    assert (await readiness.check()).not_ready == ["draining"]
    with pytest.raises(ValueError, match="exists already"):
        readiness.add("ari", answer(None))
