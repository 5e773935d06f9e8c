"""Where the admin may send a browser next: only to a path on this site.

The ``next`` of ``/login?next=…`` (and of the sign-in forms' hidden field) is chosen by whoever
made the link, so it is checked before any redirect uses it. A browser reading a ``Location``
forgives a lot: it drops tab, CR and LF anywhere, trims leading and trailing spaces and control
characters, and reads ``\\`` as ``/``; ``/\\t/evil.example`` therefore arrives as
``//evil.example``, another site. :func:`safe_next` keeps a target only if it is a plain path on
this site: it starts with one ``/`` (not two), has no scheme or host, and holds no control or
format character, no whitespace and no backslash anywhere. Anything else becomes ``/``.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, urlencode, urlsplit

HOME = "/"
MAX_NEXT_CHARS = 2048


def safe_next(value: str | None) -> str:
    """``value`` if it is a same-site path (``/calls?status=failed``), else ``/``."""
    if not value or len(value) > MAX_NEXT_CHARS:
        return HOME
    if not value.startswith("/") or value.startswith("//"):
        return HOME
    if any(_unsafe(char) for char in value):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return HOME
    return value


def _unsafe(char: str) -> bool:
    # Category C: control (tab, CR, LF, DEL, C1), format (zero-width, bidi), surrogate, private
    # use and unassigned characters.
    return char == "\\" or char.isspace() or unicodedata.category(char).startswith("C")


def with_next(path: str, next_url: str) -> str:
    """``path?next=…`` carrying a checked ``next_url`` (``path`` alone when it is ``/``)."""
    target = safe_next(next_url)
    return path if target == HOME else f"{path}?{urlencode({'next': target}, quote_via=quote)}"
