"""Route matching and the operation table."""

from __future__ import annotations

import pytest

from ari_app.simulator.spec import AriSpec, MethodNotAllowed, RouteMatch


@pytest.fixture
def spec() -> AriSpec:
    return AriSpec.builtin()


def test_table_parses_parameters(spec: AriSpec) -> None:
    op = spec.get("POST", "/bridges/{bridgeId}/addChannel")
    channel = op.param("channel")
    assert channel is not None and channel.required and channel.multiple
    assert op.param("bridgeId") is not None and op.param("bridgeId").location == "path"  # type: ignore[union-attr]
    assert spec.get("POST", "/channels").param("variables").location == "body"  # type: ignore[union-attr]
    assert spec.get("GET", "/events").websocket
    assert len(spec.operations) == 109


def test_literal_segment_wins_without_backtracking(spec: AriSpec) -> None:
    found = spec.resolve("POST", "/channels/externalMedia")
    assert isinstance(found, RouteMatch) and found.operation.nickname == "externalMedia"
    # DELETE /channels/{channelId} exists, but the literal node has only POST: 405.
    assert spec.resolve("DELETE", "/channels/externalMedia") == MethodNotAllowed("OPTIONS,POST")


def test_path_arguments(spec: AriSpec) -> None:
    found = spec.resolve("POST", "/bridges/b%201/addChannel")
    assert isinstance(found, RouteMatch)
    assert found.path_args == {"bridgeId": "b 1"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/channels", "OPTIONS,GET,POST"),
        ("PUT", "/channels/123", "OPTIONS,GET,POST,DELETE"),
        ("GET", "/applications/x/subscription", "OPTIONS,POST,DELETE"),
    ],
)
def test_method_not_allowed(spec: AriSpec, method: str, path: str, allow: str) -> None:
    assert spec.resolve(method, path) == MethodNotAllowed(allow)


@pytest.mark.parametrize("path", ["/no-such-resource", "/channels/", "/asterisk/config", "x"])
def test_unknown_paths(spec: AriSpec, path: str) -> None:
    assert spec.resolve("GET", path) is None
