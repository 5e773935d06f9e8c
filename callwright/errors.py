"""The error tree. Every error Callwright raises on purpose derives from :class:`CallwrightError`.

    CallwrightError
    ├── ConfigError          a setting is missing or has a wrong value (names the key)
    ├── StoreError           the database could not do what was asked
    │   └── NotFound         a row that was looked up does not exist
    ├── ProtocolError        a peer sent bytes or JSON we cannot parse (RTP, AudioSocket, ARI event)
    ├── AriError             the ARI REST API answered with an error status
    ├── AriUnavailable       Asterisk could not be reached (connection refused, 503 while booting)
    ├── MediaError           a media transport failed (socket closed, format refused)
    ├── SpeechError          an STT or TTS engine failed (model missing, process died)
    ├── DialogError          the dialog engine could not produce a reply
    │   ├── FlowError        a dialog flow definition is invalid (names the node and field)
    │   └── LlmError         the LLM call failed, timed out or returned nothing
    └── ModelFetchError      a voice model could not be downloaded or failed verification

Code that catches errors to keep a call alive catches ``CallwrightError`` (or a subclass) and, at
the outermost boundary of a call, ``Exception`` with a log line; never a bare ``except:``.
"""

from __future__ import annotations


class CallwrightError(Exception):
    """Base of every error Callwright raises on purpose."""


class ConfigError(CallwrightError):
    """A configuration value is missing or invalid.

    ``key`` is the dotted name of the setting (``ari.url``), ``expected`` says what was expected.
    """

    def __init__(self, key: str, expected: str, got: object = None) -> None:
        self.key = key
        self.expected = expected
        self.got = got
        shown = "" if got is None else f" (got {got!r})"
        super().__init__(f"config {key}: expected {expected}{shown}")


class StoreError(CallwrightError):
    """The store could not complete an operation."""


class NotFound(StoreError):
    """A looked-up row does not exist."""


class ProtocolError(CallwrightError):
    """Bytes or a message from a peer could not be parsed."""


class AriError(CallwrightError):
    """ARI answered with an error status."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        super().__init__(f"ARI {method} {path} -> {status}: {message}")


class AriUnavailable(CallwrightError):
    """Asterisk's ARI could not be reached. ``status`` is the HTTP status when its HTTP server
    did answer (503 while Asterisk boots or stops, a text/html 404 while ARI is not loaded)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MediaError(CallwrightError):
    """A media transport failed or was asked for something it cannot do."""


class SpeechError(CallwrightError):
    """A speech engine (STT or TTS) failed."""


class DialogError(CallwrightError):
    """The dialog engine could not produce a reply."""


class FlowError(DialogError):
    """A dialog flow definition is invalid. ``node`` and ``field`` locate the problem."""

    def __init__(self, message: str, node: str | None = None, field: str | None = None) -> None:
        self.node = node
        self.field = field
        where = ""
        if node is not None:
            where = f"node {node!r}"
            if field is not None:
                where += f", field {field!r}"
            where += ": "
        super().__init__(f"{where}{message}")


class LlmError(DialogError):
    """The LLM request failed, timed out, or returned an empty answer."""


class ModelFetchError(CallwrightError):
    """A voice model could not be fetched, or its checksum did not match."""
