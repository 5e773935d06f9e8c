"""What a FreeSWITCH call session needs from the rest of the process, wired once in
:mod:`fs_app.service` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from callwright.call.assistant_runtime import AssistantRuntime
from callwright.call.live import LiveCalls
from callwright.config import Settings
from callwright.media.pacer import PacerClock
from callwright.privacy.keyring import Keyring
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.speech.registry import SpeechEngines
from callwright.store.calls import CallRepository
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from callwright.store.write_queue import WriteQueue
from fs_app.esl_client import EslClient
from fs_app.fork_media import ForkServer
from fs_app.outbound_handoff import OutboundHandoffs


@dataclass(slots=True)
class FsServices:
    settings: Settings
    calls: CallRepository
    numbers: NumberRepository
    dialogs: AssistantRuntime
    speech: SpeechEngines
    clock: PacerClock
    live: LiveCalls
    forks: ForkServer
    restrictions: CallerRestrictionRepository
    orgs: OrgRepository
    recordings_dir: Path
    master_key: MasterKey
    #: The orgs' data keys: a recording is encrypted with its org's current one.
    keyring: Keyring
    #: The store writes of every call, in order, retried while the store is locked.
    writes: WriteQueue | None = None
    #: The channels our sessions hold now (recovery leaves them alone).
    held: set[str] = field(default_factory=set)
    #: FreeSWITCH's inbound ESL (``[freeswitch] esl_host``): bridged transfers and recovery.
    esl: EslClient | None = None
    #: Answered outbound calls waiting for their socket (fs_app.outbound_call); None: this
    #: node places no outbound calls (no inbound ESL).
    outbound: OutboundHandoffs | None = None
