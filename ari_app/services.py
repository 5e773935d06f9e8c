"""What a CallSession needs from the rest of the process, wired once in the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ari_app.ari.rest import AriRestClient
from ari_app.media_leg import MediaLegFactory
from callwright.call.assistant_runtime import AssistantRuntime
from callwright.call.live import LiveCalls
from callwright.call.pipeline_settings import PipelineSettings
from callwright.config import Settings
from callwright.media.pacer import PacerClock
from callwright.privacy.keyring import Keyring
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.speech.registry import SpeechEngines
from callwright.store.assistants import Assistant
from callwright.store.calls import CallRepository
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from callwright.store.prompts import PromptRepository
from callwright.store.write_queue import WriteQueue

if TYPE_CHECKING:
    from ari_app.session import CallSession


@dataclass(slots=True)
class SessionServices:
    rest: AriRestClient
    settings: Settings
    calls: CallRepository
    numbers: NumberRepository
    dialogs: AssistantRuntime
    speech: SpeechEngines
    clock: PacerClock
    media_legs: MediaLegFactory
    recordings_dir: Path
    live: LiveCalls
    restrictions: CallerRestrictionRepository
    orgs: OrgRepository
    master_key: MasterKey
    #: The orgs' data keys: a recording is encrypted with its org's current one.
    keyring: Keyring
    expect_media_channel: Callable[[str, CallSession], None]
    forget_media_channel: Callable[[str], None]
    #: Counts a caller recovered after a restart or a reconnect, by what was done with it
    #: ("resume", "dialplan" or "hangup"; the service's metrics, CallMetrics.recovery).
    count_recovery: Callable[[str], None]
    #: The store writes of every call, in order, retried while the store is locked; ``calls``
    #: writes through it, and a call's journal submits its turns to it without waiting.
    writes: WriteQueue | None = None
    #: The assistants' recorded prompts, played instead of TTS for their text (None: none).
    prompts: PromptRepository | None = None
    #: Whether a queue has a free agent (AMI QueueStatus): None for no such queue; None here
    #: when there is no [ami].
    queue_check: Callable[[str], Awaitable[bool | None]] | None = None

    def pipeline_settings(self, assistant: Assistant | None) -> PipelineSettings:
        return self.dialogs.pipeline_settings(assistant)
