"""The lifecycle benchmark's figures (:mod:`bench.lifecycle`): per-cycle records summed up and
checked against the targets of issue 11. Pure: no I/O."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.lifecycle_measures import seconds

BACK_TARGET_S = 3.0
RSS_TARGET_MB_PER_MIN = 1.0


def mb(value: int) -> float:
    return round(value / 2**20, 1)


def brief(cycle: dict[str, Any]) -> dict[str, Any]:
    """A cycle's line on the console."""
    if "error" in cycle:
        return cycle
    keys = ("rows_open", "rows_missing", "leftovers", "restart_to_connected_s", "exit_code",
            "callers_stuck")
    out = {k: cycle[k] for k in keys if k in cycle}
    silences = [c.get("from_back_s", c.get("longest_silence_s")) for c in cycle["callers"]]
    out["worst_silence_s"] = max((s for s in silences if s is not None), default=None)
    return out


def cycle_figures(cycles: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    good = [c for c in cycles if "error" not in c]
    callers = [c for cycle in good for c in cycle["callers"]]

    def values(key: str) -> list[float]:
        return [c[key] for c in callers if c.get(key) is not None]

    out: dict[str, Any] = {
        "cycles": len(cycles), "failed_cycles": [c["error"] for c in cycles if "error" in c],
        "callers": len(callers),
        "served_how": dict(Counter(c["how"] for c in callers)),
        "rows_open": sum(c["rows_open"] for c in good),
        "rows_missing": sum(c["rows_missing"] for c in good),
        "leftover_channels": sum(c["leftovers"]["channels"] for c in good),
        "leftover_bridges": sum(c["leftovers"]["bridges"] for c in good),
        "callers_stuck": sum(c["callers_stuck"] for c in good),
        "restart_to_connected_s": seconds([c["restart_to_connected_s"] for c in good]),
    }
    if kind == "kill":
        out |= {
            "silence_from_kill_s": seconds(values("from_kill_s")),
            "silence_from_back_s": seconds(values("from_back_s")),
            "never_served": sum(c["how"] == "never" for c in callers),
            "kill_to_connected_s": seconds([c["kill_to_connected_s"] for c in good]),
        }
    else:
        out |= {
            "longest_silence_s": seconds(values("longest_silence_s")),
            "silence_from_signal_s": seconds(values("from_signal_s")),
            "handed_back_after_signal_s": seconds(values("handed_back_after_s")),
            "exit_after_signal_s": seconds([c["exit_after_signal_s"] for c in good]),
            "exit_codes": dict(Counter(str(c["exit_code"]) for c in good)),
            "exit_to_connected_s": seconds([c["exit_to_connected_s"] for c in good]),
            "newcomers_turned_away": sum(c["newcomer_turned_away_s"] is not None for c in good),
            "newcomer_turned_away_s": seconds([c["newcomer_turned_away_s"] for c in good
                                               if c["newcomer_turned_away_s"] is not None]),
            "newcomer_rows": sum(c["newcomer_rows"] for c in good),
        }
    out["per_cycle"] = cycles
    return out


def targets(figures: dict[str, Any]) -> dict[str, Any]:
    kills, drains = figures.get("kill_cycles", {}), figures.get("drain_cycles", {})
    soak = figures.get("soak", {})
    back = kills.get("silence_from_back_s", {}).get("p95")
    slope = soak.get("rss_slope_mb_per_min")
    return {
        "silence_from_back_p95_le_3s": back is not None and back <= BACK_TARGET_S,
        "rows_left_open_0": sum(f.get("rows_open", 0) + f.get("rows_missing", 0)
                                for f in (kills, drains)) == 0,
        "leftovers_0": sum(f.get("leftover_channels", 0) + f.get("leftover_bridges", 0)
                           for f in (kills, drains)) == 0,
        "soak_rows_lost_0": soak.get("rows_lost", 0) == 0 if soak else None,
        "soak_rss_slope_lt_1_mb_per_min": None if not soak else
        slope is not None and slope < RSS_TARGET_MB_PER_MIN,
    }
