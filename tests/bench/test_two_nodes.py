"""The two-nodes benchmark's pure parts (bench.two_nodes): the calls split over the nodes, each
node's settings (ports and node id its own, store, key and recordings shared), the comparison."""

from __future__ import annotations

from pathlib import Path

from bench.two_nodes import Node, compare, node_settings, split_calls


def test_the_calls_are_split_evenly() -> None:
    assert split_calls(100, 2) == [50, 50]
    assert split_calls(101, 2) == [51, 50]
    assert split_calls(100, 1) == [100]


def test_each_node_has_its_own_ports_and_id_and_shares_the_store(tmp_path: Path) -> None:
    store = {"STORE_URL": "postgresql://callwright@127.0.0.1:5432/cw"}
    a = node_settings(Node("node-a", 0), "http://127.0.0.1:1", tmp_path, store)
    b = node_settings(Node("node-b", 1), "http://127.0.0.1:2", tmp_path, store)
    assert (a["SERVER_NODE_ID"], b["SERVER_NODE_ID"]) == ("node-a", "node-b")
    ports_a = range(int(a["MEDIA_RTP_PORT_MIN"]), int(a["MEDIA_RTP_PORT_MAX"]) + 1)
    ports_b = range(int(b["MEDIA_RTP_PORT_MIN"]), int(b["MEDIA_RTP_PORT_MAX"]) + 1)
    assert not set(ports_a) & set(ports_b) and len(ports_a) >= 200
    assert a["SERVER_DATA_DIR"] != b["SERVER_DATA_DIR"]
    for shared in ("STORE_URL", "SERVER_MASTER_KEY_FILE", "RECORDINGS_DIR"):
        assert a[shared] == b[shared]
    assert "STORE_PATH" not in a


def test_the_comparison_is_the_p95_ratio() -> None:
    one = {"turns": 40, "gap_ms": {"p95": 400.0}}
    two = {"turns": 38, "gap_ms": {"p95": 500.0}}
    assert compare(one, two) == {"sqlite_one_node_p95_ms": 400.0,
                                 "postgresql_two_nodes_p95_ms": 500.0,
                                 "p95_ratio_two_nodes_over_one": 1.25}
    assert compare(one, {"turns": 0, "gap_ms": {}})["p95_ratio_two_nodes_over_one"] is None
