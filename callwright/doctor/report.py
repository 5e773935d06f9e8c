"""What ``callwright doctor`` found: one :class:`Check` a line, and the whole :class:`Report`.

A check is ``ok``, ``warn`` (works, but something will bite: said with a fix), ``FAIL`` (calls
will not work until fixed: said with a fix) or ``skip`` (not run, because a check it depends on
failed: the line says which). The doctor exits 1 when any check failed, else 0; warnings and
skips do not change the exit code.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist. ``id`` is stable (for ``--json`` readers); ``title`` says what
    was checked, ``detail`` what was seen, ``fix`` what to change (warn and FAIL only)."""

    id: str
    title: str
    status: Status
    detail: str
    fix: str = ""


def ok(id: str, title: str, detail: str) -> Check:
    return Check(id, title, Status.OK, detail)


def warn(id: str, title: str, detail: str, fix: str) -> Check:
    return Check(id, title, Status.WARN, detail, fix)


def fail(id: str, title: str, detail: str, fix: str) -> Check:
    return Check(id, title, Status.FAIL, detail, fix)


def skip(id: str, title: str, because: str) -> Check:
    return Check(id, title, Status.SKIP, f"not checked: {because}")


@dataclass(slots=True)
class Report:
    checks: list[Check] = field(default_factory=list)
    #: Where the settings came from ("" when they did not load).
    config_source: str = ""

    def add(self, checks: Check | Iterable[Check]) -> None:
        if isinstance(checks, Check):
            self.checks.append(checks)
        else:
            self.checks.extend(checks)

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status is status)

    @property
    def failed(self) -> bool:
        return self.count(Status.FAIL) > 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def summary(self) -> str:
        parts = [f"{self.count(Status.FAIL)} failed", f"{self.count(Status.WARN)} warning(s)",
                 f"{self.count(Status.OK)} ok"]
        skipped = self.count(Status.SKIP)
        if skipped:
            parts.append(f"{skipped} skipped")
        return ", ".join(parts)


_WIDTH = 4  # "FAIL"


def render_text(report: Report) -> str:
    """The checklist for a terminal: ``[ ok ] title: detail`` a line, each fix indented below
    its line, and a summary."""
    lines = ["callwright doctor" + (f" ({report.config_source})" if report.config_source else "")]
    for check in report.checks:
        lines.append(f"[{check.status.value:^{_WIDTH}}] {check.title}: {check.detail}")
        if check.fix and check.status in (Status.WARN, Status.FAIL):
            lines.append(f"{'':{_WIDTH + 3}}fix: {check.fix}")
    lines.append("")
    lines.append(report.summary() + (": calls will not work until the failures are fixed"
                                     if report.failed else ""))
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> dict[str, Any]:
    """The report for machines (``callwright doctor --json``)."""
    return {
        "ok": not report.failed,
        "config": report.config_source,
        "summary": {status.name.lower(): report.count(status) for status in Status},
        "checks": [
            {"id": c.id, "title": c.title, "status": c.status.name.lower(), "detail": c.detail,
             "fix": c.fix}
            for c in report.checks
        ],
    }
