"""The outermost boundary of a call, whatever PBX carried it: the call row is closed with an
outcome whatever happens inside."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from callwright.call.outcome import CallOutcome

log = logging.getLogger(__name__)


async def run_guarded(
    body: Callable[[], Awaitable[CallOutcome]],
    *,
    caller_gone: Callable[[], bool],
    end_politely: Callable[[], Awaitable[None]],
    finish: Callable[[CallOutcome], Awaitable[None]],
    what: str,
) -> None:
    """The outermost boundary of a call: run ``body``; whatever happens, ``finish`` gets the
    outcome (to close the row). A shutdown is ``failed/server_shutdown``; an error after the
    caller left is ``abandoned/caller_hangup``; any other error is logged, the caller is let go
    politely (``end_politely``) and the call is ``failed`` with the error as its reason."""
    outcome = CallOutcome("failed", "error: setup did not finish")
    try:
        outcome = await body()
    except asyncio.CancelledError:
        outcome = CallOutcome("failed", "server_shutdown")
        raise
    except Exception as exc:  # the outermost boundary of a call: log, close the record
        if caller_gone():
            log.info("%s: the caller left during set-up (%s)", what, exc)
            outcome = CallOutcome("abandoned", "caller_hangup")
        else:
            log.exception("%s failed", what)
            outcome = CallOutcome("failed", f"error: {type(exc).__name__}: {exc}")
            await end_politely()
    finally:
        await finish(outcome)
