"""``callwright doctor [--json] [--timeout S]``: the checklist a telecom admin runs first.

It loads the configuration, then checks ARI (reachable, credentials, the app, the modules the
media transport needs, the media path itself, Asterisk's clock), FreeSWITCH when ``[freeswitch]
esl_host`` is set (Event Socket and password, modules, our listen addresses), the admin's
certificate, the store, the speech models, the disk and the local clock. One line a check
(ok, warn, FAIL, skip), a fix under each warning and failure; exit status 1 when anything failed.
Every network step has a timeout (``--timeout``, 5 s by default), so it never hangs on a PBX
that does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from callwright.doctor.clock import local_clock_verdict
from callwright.doctor.local import (
    ADMIN_TLS_ID,
    ADMIN_TLS_TITLE,
    ARI_TLS_ID,
    ARI_TLS_TITLE,
    DISK_ID,
    DISK_TITLE,
    admin_tls,
    ari_tls,
    disk_check,
    load_settings,
)
from callwright.doctor.report import Report, fail, render_text, skip, to_json
from callwright.doctor.speech import SPEECH_ID, check_need, speech_needs
from callwright.doctor.store import STORE_ID, STORE_TITLE, inspect_store
from callwright.errors import ConfigError
from callwright.process import setup_logging
from callwright.speech.model_store import load_manifest

DEFAULT_TIMEOUT_S = 5.0
#: How long the media probe waits for Asterisk's first audio frame (at most --timeout).
AUDIO_TIMEOUT_S = 3.0


async def run_doctor(
    path: Path | None,
    env: Mapping[str, str] = os.environ,
    *,
    step_timeout_s: float = DEFAULT_TIMEOUT_S,
    audio_timeout_s: float = AUDIO_TIMEOUT_S,
) -> Report:
    """Every check, in checklist order."""
    from ari_app.doctor import ari_checks, skipped_ari_checks  # the ARI adapter
    from fs_app.doctor import freeswitch_checks  # the FreeSWITCH adapter

    wall_start, monotonic_start = time.time(), time.monotonic()
    report = Report()
    settings, config_line = load_settings(path, env)
    report.add(config_line)
    if settings is None:
        because = "the configuration did not load"
        report.add([skip(ARI_TLS_ID, ARI_TLS_TITLE, because),
                    skip(ADMIN_TLS_ID, ADMIN_TLS_TITLE, because),
                    skip(STORE_ID, STORE_TITLE, because),
                    skip(SPEECH_ID, "speech models", because),
                    skip(DISK_ID, DISK_TITLE, because)])
    else:
        report.config_source = (f"config {settings.config_file}" if settings.config_file
                                else "no config file")
        context, tls_line = ari_tls(settings)
        report.add(tls_line)
        if context is None:
            report.add(skipped_ari_checks(settings, "the ARI TLS settings are wrong"))
        elif not settings.pbxes and settings.freeswitch.esl_host:
            # FreeSWITCH only (no [ari] url, no [[pbx]]): no Asterisk to reach, no failure.
            report.add(skipped_ari_checks(settings, "ari.url is not set (FreeSWITCH only)"))
        else:
            connector = aiohttp.TCPConnector(ssl=context)
            async with aiohttp.ClientSession(connector=connector) as session:
                report.add(await ari_checks(settings, session, step_timeout_s=step_timeout_s,
                                            audio_timeout_s=min(audio_timeout_s,
                                                                step_timeout_s)))
        report.add(await freeswitch_checks(settings, step_timeout_s=step_timeout_s))
        report.add(admin_tls(settings))
        findings = await inspect_store(settings.store)
        report.add(findings.check)
        try:
            manifest = await asyncio.to_thread(load_manifest)
        except ConfigError as exc:
            report.add(fail(SPEECH_ID, "speech models", str(exc),
                            "reinstall Callwright: voice_models/manifest.json is damaged"))
        else:
            for need in speech_needs(settings.speech, findings.assistants):
                report.add(await asyncio.to_thread(check_need, need, settings.speech, manifest))
        report.add(await asyncio.to_thread(disk_check, settings))
    report.add(local_clock_verdict(time.time(), time.time() - wall_start,
                                   time.monotonic() - monotonic_start))
    return report


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("a number of seconds from 0 to 600")
    return value


def cmd_doctor(args: argparse.Namespace) -> int:
    setup_logging("error")  # the checklist says what went wrong; log lines would only repeat it
    path = Path(args.config) if getattr(args, "config", None) else None
    report = asyncio.run(run_doctor(path, step_timeout_s=args.timeout))
    if args.json:
        print(json.dumps(to_json(report), indent=2))
    else:
        print(render_text(report), end="")
    return report.exit_code


def add_doctor_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "doctor", help="check the configuration, Asterisk (ARI, app, modules, media path, "
        "clock), FreeSWITCH ([freeswitch] esl_host: ESL, modules, listen addresses), the store, "
        "the speech models and the disk; a fix for each failure")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--timeout", type=_positive, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help=f"for each network step (default {DEFAULT_TIMEOUT_S:g})")
    p.set_defaults(func=cmd_doctor)

