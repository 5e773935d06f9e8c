"""The status listener: /healthz, /readyz (200 or 503 with what is not ready), /metrics."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from ari_app.status_server import StatusServer
from callwright.errors import ConfigError
from callwright.observability.health import Readiness
from callwright.observability.metrics import CallMetrics, ServiceReadings

MakeServer = Callable[..., Awaitable[StatusServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[MakeServer]:
    started: list[StatusServer] = []

    async def make(readiness: Readiness, registry: CollectorRegistry | None = None,
                   port: int = 0) -> StatusServer:
        server = StatusServer(readiness, registry or CollectorRegistry(), port=port)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.content_type, await response.text()


async def test_healthz_answers_while_the_process_runs(make_server: MakeServer) -> None:
    server = await make_server(Readiness())
    assert server.port != 0
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "alive"}
        async with session.get(f"{server.url}/nothing-here") as response:
            assert response.status == 404
        async with session.post(f"{server.url}/readyz") as response:
            assert response.status == 405


async def test_readyz_follows_the_probes(make_server: MakeServer) -> None:
    state: dict[str, str | None] = {"ari": None, "store": None}

    async def ari() -> str | None:
        return state["ari"]

    async def store() -> str | None:
        return state["store"]

    server = await make_server(Readiness({"ari": ari, "store": store}))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/readyz") as response:
            assert response.status == 200
            assert (await response.json())["ready"] is True
        state["ari"] = "events WebSocket down (closed)"
        async with session.get(f"{server.url}/readyz") as response:
            assert response.status == 503
            assert response.content_type == "application/json"
            body = await response.json()
        assert body["ready"] is False and body["not_ready"] == ["ari"]
        assert body["checks"]["ari"] == {"ready": False,
                                         "detail": "events WebSocket down (closed)"}
        assert body["checks"]["store"] == {"ready": True, "detail": "ok"}
        state["ari"] = None
        async with session.get(f"{server.url}/readyz") as response:
            assert response.status == 200


async def test_metrics_are_served_in_the_prometheus_text_format(make_server: MakeServer) -> None:
    registry = CollectorRegistry()
    metrics = CallMetrics(registry, ServiceReadings(calls_in_progress=lambda: 3))
    metrics.recovery("hangup")
    server = await make_server(Readiness(), registry)
    status, content_type, text = await get(f"{server.url}/metrics")
    assert status == 200 and content_type == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["callwright_calls_in_progress"].samples[0].value == 3
    recoveries = {s.labels["action"]: s.value for s in families["callwright_recoveries"].samples
                  if s.name == "callwright_recoveries_total"}
    assert recoveries == {"resume": 0, "dialplan": 0, "hangup": 1}
    assert "python_gc_objects_collected" not in families  # our registry, not the global one


async def test_a_taken_port_is_a_configuration_error(make_server: MakeServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match="server.status_port"):
            await make_server(Readiness(), port=port)
