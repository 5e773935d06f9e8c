"""What the REST handlers share: the core, the event hub, the call factory and settings."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ari_app.simulator.caller import SimulatedCaller
from ari_app.simulator.calls import CallFactory, SimulatedCall
from ari_app.simulator.core import Pbx
from ari_app.simulator.dialplan import CALLWRIGHT_INBOUND, InboundContext
from ari_app.simulator.far_end import Destinations
from ari_app.simulator.media_rtp import RtpImpairment
from ari_app.simulator.media_websocket import WebSocketMediaEndpoint
from ari_app.simulator.modules_table import ModuleRow, loaded_modules
from ari_app.simulator.silence import SilenceGenerators
from ari_app.simulator.websocket import EventHub

#: What GET /asterisk/info reports about the build (the lab's Asterisk 22.10.1).
BUILD_INFO = {
    "os": "Linux",
    "kernel": "6.18.44-fc-v669",
    "machine": "x86_64",
    "options": "OPTIONAL_API",
    "date": "2026-11-22 05:15:56 UTC",
    "user": "root",
}


@dataclass(eq=False)
class SimContext:
    pbx: Pbx
    hub: EventHub
    calls: CallFactory
    rtp_host: str
    entity_id: str
    startup_time: float
    rng: random.Random
    #: What each destination of an outbound call does (answer, busy, ...), see far_end.py.
    destinations: Destinations = field(default_factory=Destinations)
    #: Seconds between the externalMedia response and the channel's Dial...StasisStart.
    media_stasis_delay_s: float = 0.001
    #: Loss and reordering on the RTP sent to the app (None: a clean network).
    rtp_impairment: RtpImpairment | None = None
    #: Builds the caller for the far end of an outbound call.
    caller_factory: Callable[[], SimulatedCaller] | None = None
    #: Outbound calls (POST /channels, /dial) whose far end answered, oldest first.
    outbound: asyncio.Queue[SimulatedCall] = field(default_factory=asyncio.Queue)
    #: Every call placed or answered, by the id of its app-side channel.
    all_calls: dict[str, SimulatedCall] = field(default_factory=dict)
    #: WebSocket media channels waiting for (or holding) their media connection, by id.
    media_sockets: dict[str, WebSocketMediaEndpoint] = field(default_factory=dict)
    #: Channels made by /channels/create and not dialed yet: id -> (dialstring, call).
    undialed: dict[str, tuple[str, SimulatedCall]] = field(default_factory=dict)
    #: Contexts that send each extension to Stasis() (Local originates into them reach the app
    #: as calls): the project's [callwright-inbound] unless changed.
    inbound_contexts: dict[str, InboundContext] = field(
        default_factory=lambda: dict(CALLWRIGHT_INBOUND)
    )
    #: Loaded modules by name (GET /asterisk/modules); a test may remove one to unload it.
    modules: dict[str, ModuleRow] = field(default_factory=loaded_modules)
    #: Channels playing silence (POST /channels/{id}/silence).
    silence: SilenceGenerators = field(default_factory=SilenceGenerators)
    #: Tasks the simulator runs on its own (a far end playing its greeting).
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
