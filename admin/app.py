"""Building the admin application.

``build_admin_app(db, settings, master_key, recordings_dir)`` returns an ``aiohttp.web.Application``
ready for ``web.AppRunner`` (or ``web.run_app``): HTML pages at ``/``, the JSON API at ``/api/v1``
(described by ``/api/v1/openapi.json``), static files at ``/static``. ``settings`` is the whole
:class:`callwright.config.Settings` (its ``admin`` section is used, and ``llm.base_url`` tells
whether the server has an LLM), the ``[admin]`` section itself, or anything with
``session_hours`` and ``secure_cookies`` (an :class:`~admin.services.AdminOptions` also carries
``llm_base_url``; elsewhere the server counts as having no LLM). The database must be open
and migrated; the app does not close it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from admin import headers, model_downloads
from admin.errors import error_middleware
from admin.handlers import (
    account,
    assistants,
    audit,
    auth,
    call_detail,
    call_restrictions,
    call_stats,
    calls,
    campaigns,
    credentials,
    dashboard,
    docs,
    flow,
    invitations,
    knowledge,
    legal_holds,
    models,
    numbers,
    org,
    org_consent,
    outbound,
    pbx,
    prompts,
    recordings,
    requests,
    restrictions,
    retention,
    setup,
    team,
    try_it,
    webhooks,
)
from admin.keys import SERVICES
from admin.model_downloads import MODEL_DOWNLOADS, ModelDownloads
from admin.routing import Route, register
from admin.services import AdminOptions, build_services
from admin.speech_choices import CHOICES, Choices
from admin.try_calls import TRY_CALLS, TryCalls
from callwright.accounts.passwords import Passwords
from callwright.accounts.ratelimit import LoginRateLimiter
from callwright.accounts.totp import TotpVerifier
from callwright.config import DEFAULT_LLM_KEY_ENV, Settings
from callwright.privacy.secrets import MasterKey
from callwright.store.db import Database

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
PURGE_EVERY_S = 3600.0


class AdminSettingsLike(Protocol):
    @property
    def session_hours(self) -> int | float: ...

    @property
    def secure_cookies(self) -> bool: ...


def all_routes() -> list[Route]:
    """Every guarded page and API route (tests walk this list for access checks)."""
    return [
        *auth.ROUTES,
        *dashboard.ROUTES,
        *calls.ROUTES,
        *call_detail.ROUTES,
        *call_restrictions.ROUTES,
        *call_stats.ROUTES,
        *outbound.ROUTES,
        *campaigns.ROUTES,
        *pbx.ROUTES,
        *prompts.ROUTES,
        *recordings.ROUTES,
        *assistants.ROUTES,
        *try_it.ROUTES,
        *flow.ROUTES,
        *knowledge.ROUTES,
        *numbers.ROUTES,
        *credentials.ROUTES,
        *webhooks.ROUTES,
        *retention.ROUTES,
        *legal_holds.ROUTES,
        *requests.ROUTES,
        *restrictions.ROUTES,
        *team.ROUTES,
        *invitations.ROUTES,
        *audit.ROUTES,
        *org.ROUTES,
        *org_consent.ROUTES,
        *account.ROUTES,
        *setup.ROUTES,
        *models.ROUTES,
        *docs.ROUTES,
    ]


def build_admin_app(
    db: Database,
    settings: AdminSettingsLike | Any,
    master_key: MasterKey,
    recordings_dir: Path,
    *,
    passwords: Passwords | None = None,
    limiter: LoginRateLimiter | None = None,
    totp: TotpVerifier | None = None,
    try_calls: TryCalls | None = None,
) -> web.Application:
    section = getattr(settings, "admin", settings)  # the whole Settings, or its [admin]
    options = AdminOptions(
        session_hours=float(section.session_hours),
        secure_cookies=bool(section.secure_cookies),
        llm_base_url=_llm_base_url(settings, section),
    )
    services = build_services(
        db,
        options,
        master_key,
        Path(recordings_dir),
        passwords=passwords,
        limiter=limiter,
        totp=totp,
    )
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_UPLOAD_BYTES)
    app[SERVICES] = services
    if isinstance(settings, Settings):  # the setup wizard checks the server's own settings
        app[setup.SETUP_SETTINGS] = settings
    speech = getattr(settings, "speech", None)
    app[MODEL_DOWNLOADS] = ModelDownloads(getattr(speech, "models_mirror", None))
    app.cleanup_ctx.append(model_downloads.cleanup)
    app[CHOICES] = Choices(options.llm_base_url, os.environ.get(DEFAULT_LLM_KEY_ENV))
    if try_calls is not None:  # test calls from the browser (started by the caller)
        app[TRY_CALLS] = try_calls
    headers.setup(app, https=options.secure_cookies)
    auth.setup(app)
    invitations.setup(app)
    register(app, all_routes())
    docs.setup(app, all_routes())
    app.router.add_static("/static", STATIC_DIR, append_version=False)
    app.cleanup_ctx.append(_purge_sessions)
    return app


def _llm_base_url(settings: Any, section: Any) -> str:
    """The server's ``[llm] base_url``: from the whole Settings, or from AdminOptions."""
    llm = getattr(settings, "llm", None)
    if llm is not None:
        return str(getattr(llm, "base_url", "") or "")
    return str(getattr(section, "llm_base_url", "") or "")


async def _purge_sessions(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]

    async def loop() -> None:
        while True:
            try:
                removed = await services.sessions.purge_expired()
                if removed:
                    log.info("admin: removed %d expired sessions", removed)
            except Exception:  # keep purging later; the admin itself is unaffected
                log.exception("admin: purging expired sessions failed")
            try:  # exports of data-subject requests whose link was used or expired
                await services.requests.purge_exports()
            except Exception:  # as above
                log.exception("admin: purging expired exports failed")
            await asyncio.sleep(PURGE_EVERY_S)

    task = asyncio.create_task(loop(), name="admin-session-purge")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
