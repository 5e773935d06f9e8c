"""Clock sanity: this machine's clock against Asterisk's, and the wall clock against the
monotonic one. Pure: the adapter measures, these functions judge.

Asterisk's ``GET /asterisk/info`` carries only its start and reload times; the current time comes
from ``GET /asterisk/ping`` (``timestamp``, when the request was received, in milliseconds). The
skew is that time minus the middle of our request, give or take half the round trip.
"""

from __future__ import annotations

from datetime import UTC, datetime

from callwright.doctor.report import Check, fail, ok, warn

ASTERISK_ID, ASTERISK_TITLE = "clock-asterisk", "clock agrees with Asterisk's"
LOCAL_ID, LOCAL_TITLE = "clock-local", "local clock"
#: Beyond this the call rows and Asterisk's event and log times visibly disagree.
SKEW_WARN_S = 1.0
#: Beyond this one of the clocks is plainly wrong (TLS validity and two-step sign-in codes,
#: 30 s windows, go wrong at this scale).
SKEW_FAIL_S = 30.0
#: The wall clock and the monotonic clock may drift apart by this much while the doctor runs.
STEP_WARN_S = 0.5
#: A wall clock before this is unset (a machine with no battery-backed clock and no NTP).
EARLIEST_PLAUSIBLE = datetime(2024, 1, 1, tzinfo=UTC).timestamp()

NTP_FIX = ("run NTP on this machine and on Asterisk's (chrony or systemd-timesyncd): "
           "`timedatectl` must say \"System clock synchronized: yes\" on both")


def parse_ari_time(text: str) -> float:
    """``2026-11-22T05:44:16.180+0000`` (ARI's format) -> seconds since the epoch.
    ValueError if it is not that format."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def skew_verdict(skew_s: float, uncertainty_s: float) -> Check:
    """``skew_s`` > 0: Asterisk's clock is ahead of ours."""
    size = abs(skew_s)
    way = "ahead of" if skew_s > 0 else "behind"
    detail = f"Asterisk's clock is {size:.3f} s {way} ours (± {uncertainty_s:.3f} s)"
    if size - uncertainty_s > SKEW_FAIL_S:
        return fail(ASTERISK_ID, ASTERISK_TITLE, detail, NTP_FIX)
    if size - uncertainty_s > SKEW_WARN_S:
        return warn(ASTERISK_ID, ASTERISK_TITLE, detail + ": call times in the store and "
                    "Asterisk's event and log times disagree", NTP_FIX)
    return ok(ASTERISK_ID, ASTERISK_TITLE, detail)


def local_clock_verdict(
    wall_now: float, wall_elapsed_s: float, monotonic_elapsed_s: float
) -> Check:
    """The wall clock is set (not 1970) and was not stepped while the doctor ran (the two
    clocks advanced alike)."""
    shown = datetime.fromtimestamp(wall_now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if wall_now < EARLIEST_PLAUSIBLE:
        return fail(LOCAL_ID, LOCAL_TITLE, f"the wall clock says {shown}: it is not set",
                    NTP_FIX)
    step = wall_elapsed_s - monotonic_elapsed_s
    if abs(step) > STEP_WARN_S:
        return warn(LOCAL_ID, LOCAL_TITLE, f"the wall clock moved {step:+.3f} s against the "
                    f"monotonic clock in {monotonic_elapsed_s:.1f} s: it is being stepped "
                    "(NTP correcting a large error, or someone set the time)", NTP_FIX)
    return ok(LOCAL_ID, LOCAL_TITLE, f"{shown}; wall and monotonic clocks agree "
              f"({step * 1000:+.1f} ms over {monotonic_elapsed_s:.1f} s)")
