"""A campaign against the PBX simulator: ``python -m bench.campaign [--contacts 200]
[--concurrent 20] [--per-minute 120] [--warp 60] [--out bench/results/campaign.json]``.

The real call service (Vosk, espeak-ng, a SQLite store in a temporary directory) connected to
the simulator places the calls of one campaign. The destinations answer (and hang up after
``--talk-s``), are busy, congested, ring past the ring timeout, or do not exist, in fixed shares;
some contacts are in a time zone whose call window is closed. Retries (up to ``--attempts``,
backoff ``retry_minutes``) run on a clock warped ``--warp`` times (one backoff minute takes
60/warp seconds); the pacing and the calls themselves run in real time. Figures: calls started
per minute against the configured rate, the most calls in progress at once, attempts per
contact (nobody called twice at once, nobody past the attempts allowed, nobody outside the
window), outcomes, the process's CPU time per wall second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ari_app.service import CallService
from ari_app.simulator.far_end import FarEnd
from ari_app.simulator.server import PbxSimulator
from callwright.campaigns.contacts_csv import Contact
from callwright.campaigns.dialler import CampaignDialler
from callwright.config import load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.outbound.placing import OutboundPlacer
from callwright.store.assistants import AssistantRepository
from callwright.store.campaigns import Campaign, CampaignRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.outbound_calls import OutboundCallRepository
from callwright.store.seed import seed_demo

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "bench-secret"
#: Shares of the destinations, in this order over the contact list (out of 20).
PLAN = (["answer"] * 10 + ["busy"] * 4 + ["no_answer"] * 3 + ["congestion"] * 2 + ["invalid"])
#: One contact in this many (the 10th of each 20) is in a zone where the window is closed now.
CLOSED_EVERY = 20


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cw-campaign-"))
    settings = load_config(None, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp), "CALLWRIGHT_STORE_PATH": str(tmp / "cw.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(tmp / "rec"),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp / "master.key"),
        "CALLWRIGHT_SERVER_STATUS_PORT": "0",
    })
    sim = PbxSimulator(username=settings.ari.username, password=PASSWORD)
    await sim.start()
    settings = replace(settings, ari=replace(settings.ari, url=sim.ari_url, password=PASSWORD))
    db = await Database.open(settings.store.path)
    org, assistant, _ = await seed_demo(db, number="100", language="ko", flow=dict(DEMO_FLOW),
                                        record_calls=False)
    await NumberRepository(db).create(org.id, "+15550100111", direction="outbound",
                                      outbound_endpoint="Local/{number}@callwright-outbound")
    contacts = []
    for i in range(args.contacts):
        number = f"+1555{i:07d}"
        kind = PLAN[i % len(PLAN)]
        sim.set_destination(number, FarEnd(kind, hangup_after_s=args.talk_s,
                                           ring_s=0.2 if kind == "answer" else 0.0))
        closed = i % CLOSED_EVERY == 9  # an answering destination that must not be called
        contacts.append(Contact(i + 2, number, {"first_name": f"N{i}"},
                                "Pacific/Kiritimati" if closed else ""))
    # The window: open now in UTC, closed now at UTC+14 (those contacts wait for it).
    now = datetime.now(UTC)
    start = (now - timedelta(minutes=30)).strftime("%H:%M")
    end = (now + timedelta(hours=3)).strftime("%H:%M")
    campaigns = CampaignRepository(db)
    made = await campaigns.create(Campaign(
        0, org.id, "bench", assistant.id, max_concurrent=args.concurrent,
        calls_per_minute=args.per_minute, max_attempts=args.attempts, retry_minutes=1,
        window_start=start, window_end=end, window_days="1,2,3,4,5,6,7", timezone="UTC"),
        contacts)
    await db.close()
    service = CallService(settings, warm_streams=1)
    await service.start()
    assert service.db is not None and service.outbound is not None
    await service.outbound.campaigns.stop()  # this bench runs the dialler on a warped clock
    service.outbound.dialer.options = replace(service.outbound.dialer.options, ring_timeout_s=2)
    service.outbound.dialer.poll_s = 0.2
    t0, wall0 = cpu_s(), time.monotonic()
    started = datetime.now(UTC)

    warp = float(args.warp)

    def warped() -> datetime:
        return started + (datetime.now(UTC) - started) * warp

    db = service.db
    outbound = OutboundCallRepository(db)
    dialler = CampaignDialler(CampaignRepository(db), outbound, OutboundPlacer(
        AssistantRepository(db), NumberRepository(db), outbound), now=warped)
    campaigns = CampaignRepository(db)
    await campaigns.change(org.id, made.id, "start")
    peak = 0
    open_contacts = args.contacts - args.contacts // CLOSED_EVERY
    deadline = time.monotonic() + args.limit_s
    while time.monotonic() < deadline:
        await dialler.tick()
        peak = max(peak, len(service.outbound.dialer.active))
        counts = await campaigns.counts(made.id)
        if counts["done"] + counts["failed"] + counts["skipped"] >= open_contacts and \
                counts["calling"] == 0:
            break
        await asyncio.sleep(0.25)
    wall = time.monotonic() - wall0
    cpu = cpu_s() - t0
    rows = await db.fetch_all(
        "SELECT to_number, outcome, created_at, claimed_at, ended_at FROM outbound_calls"
        " WHERE campaign_id = ? ORDER BY id", (made.id,))
    counts = await campaigns.counts(made.id)
    contacts_now = await campaigns.contacts(made.id)
    await service.stop()
    await sim.stop()
    return figures(args, rows, counts, contacts_now, wall, cpu, peak)


def figures(args: argparse.Namespace, rows: list[Any], counts: dict[str, int],
            contacts: list[Any], wall: float, cpu: float, peak: int) -> dict[str, Any]:
    created = sorted(datetime.fromisoformat(str(r["created_at"]).replace("Z", "+00:00"))
                     for r in rows)
    span_s = (created[-1] - created[0]).total_seconds() if len(created) > 1 else 0.0
    per_number: dict[str, list[Any]] = {}
    for r in rows:
        per_number.setdefault(str(r["to_number"]), []).append(r)
    overlapping = 0
    for attempts in per_number.values():
        for a, b in zip(attempts, attempts[1:], strict=False):
            if a["ended_at"] is None or str(b["created_at"]) < str(a["ended_at"]):
                overlapping += 1
    # busiest 60 s of starts
    best = 0
    for i, t in enumerate(created):
        best = max(best, sum(1 for u in created[i:] if (u - t).total_seconds() < 60))
    outcomes: dict[str, int] = {}
    for r in rows:
        outcomes[str(r["outcome"])] = outcomes.get(str(r["outcome"]), 0) + 1
    closed_called = sum(1 for c in contacts if c.timezone and c.attempts > 0)
    return {
        "contacts": args.contacts, "max_concurrent": args.concurrent,
        "calls_per_minute_configured": args.per_minute, "attempts_allowed": args.attempts,
        "calls_placed": len(rows),
        "calls_per_minute_achieved_overall": round(len(rows) / span_s * 60, 1) if span_s else None,
        "calls_per_minute_busiest_minute": best,
        "peak_calls_in_progress": peak,
        "most_attempts_for_one_contact": max((len(v) for v in per_number.values()), default=0),
        "attempts_overlapping_for_one_contact": overlapping,
        "contacts_called_outside_their_window": closed_called,
        "contacts_by_status": {k: v for k, v in counts.items() if ":" not in k},
        "last_outcomes": {k[8:]: v for k, v in counts.items() if k.startswith("outcome:")},
        "attempt_outcomes": outcomes,
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "cpu_per_wall_s": round(cpu / wall, 2) if wall else None,
        "cores": os.cpu_count(),
        "clock_warp_for_backoff": args.warp,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign")
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--per-minute", type=int, default=120)
    parser.add_argument("--attempts", type=int, default=2)
    parser.add_argument("--talk-s", type=float, default=2.0)
    parser.add_argument("--warp", type=float, default=60.0)
    parser.add_argument("--limit-s", type=float, default=900.0)
    parser.add_argument("--out", default=str(RESULTS / "campaign.json"))
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
