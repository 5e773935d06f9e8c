"""The verification example in docs/webhooks.md checks what the worker signs."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from callwright.dialog.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def test_the_documented_verification_accepts_a_signed_request_and_nothing_else() -> None:
    [example] = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    scope: dict[str, Any] = {}
    exec(compile(example, str(DOC), "exec"), scope)  # the docs' own code
    verify = scope["verify"]
    body = b'{"id":"evt_1","type":"call.ended"}'
    now = str(int(time.time()))
    headers = {TIMESTAMP_HEADER: now, SIGNATURE_HEADER: sign(b"whsec_k", now, body)}
    assert verify("whsec_k", headers, body)
    assert not verify("whsec_other", headers, body)
    assert not verify("whsec_k", headers, body + b" ")
    old = str(int(time.time()) - 3600)
    assert not verify("whsec_k", {TIMESTAMP_HEADER: old,
                                  SIGNATURE_HEADER: sign(b"whsec_k", old, body)}, body)
    assert not verify("whsec_k", {}, body)
