"""A post-call event as a Slack incoming-webhook message (pure).

Slack shows ``text`` in notifications and ``blocks`` in the channel: a header line (what
happened), the caller, the assistant, the outcome, the summary, and a link to the call's page
when ``[admin] public_url`` is set. The message carries no transcript: a channel is not the place
for one, and the call page has it for those allowed to read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TITLES = {
    "call.started": "Incoming call",
    "call.ended": "Call ended",
    "message.taken": "New message",
    "recording.ready": "Recording ready",
    "security.alert": "Security alert",
}


def _escape(text: str) -> str:
    """Slack's mrkdwn escaping: &, < and > (a caller's name must not become a link or mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _duration(ms: object) -> str:
    if not isinstance(ms, int):
        return ""
    seconds = round(ms / 1000)
    return f" after {seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else \
        f" after {seconds} s"


def slack_message(event: Mapping[str, Any]) -> dict[str, Any]:
    """The Slack message for an event envelope (:mod:`callwright.webhooks.events`)."""
    kind = str(event.get("type", ""))
    data = event.get("data") or {}
    if kind == "security.alert":
        return _security_message(data)
    call = data.get("call") or {}
    caller_name = str(call.get("caller_name") or "").strip()
    number = str(call.get("caller_number") or "").strip() or "unknown number"
    caller = f"{caller_name} ({number})" if caller_name else number
    assistant = str((call.get("assistant") or {}).get("name") or "—")
    title = _TITLES.get(kind, kind)
    lines = [f"*Caller:* {_escape(caller)}", f"*Assistant:* {_escape(assistant)}"]
    if kind != "call.started":
        reason = f" ({call['end_reason']})" if call.get("end_reason") else ""
        outcome = f"{call.get('status', '')}{reason}{_duration(call.get('duration_ms'))}"
        lines.append(f"*Outcome:* {_escape(outcome)}")
    if kind == "call.ended" and data.get("summary"):
        lines.append(f"*Summary:* {_escape(str(data['summary']))}")
    if kind == "message.taken":
        if data.get("message_withheld"):
            lines.append("*Message:* (withheld: the caller's processing is restricted)")
        else:
            lines.append(f"*Message:* {_escape(str(data.get('message', '')))}")
    url = call.get("url")
    if isinstance(url, str) and url:
        lines.append(f"<{url}|Open the call>")
    text = f"{title}: {caller} → {assistant}"
    return {
        "text": _escape(text),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        ],
    }


def _security_message(data: Mapping[str, Any]) -> dict[str, Any]:
    """A ``security.alert``: what happened, the account and the address it came from."""
    user = data.get("user") or {}
    what = str(data.get("description") or data.get("kind") or "")
    account = str(user.get("email") or "unknown account")
    role = f" ({user['role']})" if user.get("role") else ""
    lines = [f"*What:* {_escape(what)}", f"*Account:* {_escape(account + role)}",
             f"*From:* {_escape(str(data.get('ip') or 'unknown address'))}"]
    if data.get("detail"):
        lines.append(f"*Detail:* {_escape(str(data['detail']))}")
    return {
        "text": _escape(f"Security alert: {what} ({account})"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Security alert"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        ],
    }
