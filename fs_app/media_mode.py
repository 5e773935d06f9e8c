"""Which module carries a FreeSWITCH call's audio: ``[freeswitch] media``.

``audio_fork`` (the default): jambonz mod_audio_fork, audio both ways on one WebSocket
(:class:`~fs_app.call_media.CallMedia`). ``audio_stream``: amigniter mod_audio_stream community
edition, the caller in by WebSocket and the replies played as files
(:class:`~fs_app.stream_media.StreamMedia`, higher latency). Either module's CUSTOM events about
its socket reach the call's media here.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fs_app.call_media import CallMedia
from fs_app.esl.events import EslEvent
from fs_app.esl_socket import EslSocket
from fs_app.services import FsServices
from fs_app.stream_media import StreamMedia

log = logging.getLogger(__name__)

#: A call's media, whichever module carries it.
FsMedia = CallMedia | StreamMedia


def new_media(svc: FsServices, esl: EslSocket, *, uuid: str, call_uid: str,
              call_is_up: Callable[[], bool],
              note: Callable[[str, dict[str, Any]], Awaitable[Any]]) -> FsMedia:
    """The call's media through the module ``[freeswitch] media`` names (not started)."""
    fs = svc.settings.freeswitch
    if fs.media == "audio_stream":
        return StreamMedia(esl, svc.forks, uuid=uuid, call_uid=call_uid, rate=fs.sample_rate,
                           call_is_up=call_is_up, note=note,
                           directory=Path(fs.stream_files_dir or tempfile.gettempdir()))
    return CallMedia(esl, svc.forks, uuid=uuid, call_uid=call_uid, rate=fs.sample_rate,
                     call_is_up=call_is_up, note=note)


def on_module_event(media: FsMedia | None, uuid: str, event: EslEvent) -> None:
    """A CUSTOM event of the media modules about the call's socket."""
    if event.subclass == "mod_audio_stream::error":
        log.error("call %s: mod_audio_stream could not connect: %s", uuid, event.body)
        if isinstance(media, StreamMedia):
            media.stream_failed(event.body)
    elif event.subclass == "mod_audio_fork::connect_failed":
        log.error("call %s: mod_audio_fork could not connect: %s", uuid, event.body)
