"""The setup wizard (``/setup``, owners): connect the PBX (tested live), choose the media
transport and copy the configuration filled in, make the first assistant from a template and give
it a number, and see the doctor's checks of this server as a checklist.

The wizard writes no configuration file: it shows what to paste (Asterisk's files and the
``[ari]``/``[media]`` sections of ``callwright.toml``), since those belong to whoever runs the
servers. The assistant and its number are made in the store, as their own pages would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import IO, Any
from urllib.parse import urlsplit

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import flag, text, user_errors
from admin.html import Html, h, join, options
from admin.pbx_call_progress import STATES, CallProgress, progress_of
from admin.routing import Ctx, Route
from admin.setup_checks import (
    TEST_CALL_ID,
    BadPbxSettings,
    ami_check,
    caller_half,
    check_ari_url,
    originate_test_call,
    pbx_channel_state,
    pbx_checks,
    server_checks,
)
from admin.setup_snippets import CONTEXT, TRANSPORTS, PbxChoice, snippets
from admin.setup_templates import templates
from admin.views import field, form, page, respond, text_input
from callwright.accounts.roles import Permission
from callwright.config import AriSettings, Settings
from callwright.doctor.report import Check
from callwright.errors import CallwrightError, ConfigError
from callwright.store.numbers import InvalidNumber

#: The server's settings the wizard checks against (absent: defaults, i.e. no PBX configured).
SETUP_SETTINGS = web.AppKey("setup_settings", Settings)
MAX_DOCUMENT_BYTES = 1_000_000


def _settings(ctx: Ctx) -> Settings:
    return ctx.request.app.get(SETUP_SETTINGS) or Settings()


def checklist(checks: list[Check], ident: str = "") -> Html:
    items = join(
        h('<li class="check-{s}" data-check="{id}"><strong>{status}</strong> {title}: {detail}'
          "{fix}</li>",
          s=c.status.name.lower(), id=c.id, status=c.status.value, title=c.title,
          detail=c.detail, fix=h('<br><small class="hint">Fix: {f}</small>', f=c.fix)
          if c.fix else "")
        for c in checks
    )
    return h('<ol class="checklist"{id}>{i}</ol>', id=h(' id="{i}"', i=ident) if ident else "",
             i=items)


def _pbx_form(ctx: Ctx, values: dict[str, Any]) -> Html:
    return form(ctx, "/setup/pbx", join([
        field("ARI URL", text_input("ari_url", values.get("ari_url", ""), required=True,
                                    placeholder="http://pbx.example:8088", maxlength=300),
              hint="Asterisk's HTTP server, without /ari."),
        field("ARI user", text_input("ari_username", values.get("ari_username", "callwright"),
                                     required=True, maxlength=100)),
        field("ARI password", text_input("ari_password", "", type="password", required=True,
                                         maxlength=200, autocomplete="off")),
        field("Stasis app name", text_input("ari_app", values.get("ari_app", "callwright"),
                                            required=True, maxlength=100)),
        field("Media transport", h("<select name=\"transport\">{o}</select>", o=options(
            list(TRANSPORTS.items()), values.get("transport", "rtp")))),
        field("Extension to route to Callwright", text_input(
            "number", values.get("number", "100"), maxlength=40)),
        h('<fieldset id="setup-ami"><legend>AMI (optional: outbound calls, live PBX status)'
          '</legend><label class="check"><input type="checkbox" name="ami"{c}> Use the AMI: '
          "test its login now and show its settings</label>{fields}</fieldset>",
          c=Html(" checked") if values.get("ami") else "", fields=join([
              field("AMI host", text_input("ami_host", values.get("ami_host", ""),
                                           maxlength=200), hint="Empty: the ARI URL's host."),
              field("AMI port", text_input("ami_port", values.get("ami_port", "5038"),
                                           inputmode="numeric", maxlength=5)),
              field("AMI user", text_input("ami_username", values.get("ami_username", ""),
                                           maxlength=100), hint="Empty: the ARI user."),
              field("AMI secret", text_input("ami_secret", "", type="password", maxlength=200,
                                             autocomplete="off"),
                    hint="Empty: the ARI password."),
          ])),
        Html('<button type="submit">Test the connection and show the settings</button>'),
    ]), cls="stack")


def _assistant_form(ctx: Ctx) -> Html:
    choices = [(t.key, t.label) for t in templates().values()]
    return form(ctx, "/setup/assistant", join([
        field("Template", h('<select name="template">{o}</select>', o=options(choices, None))),
        field("Name", text_input("name", "", maxlength=200, placeholder="Front desk"),
              hint="Empty: the template's name."),
        field("Transfer target (receptionist)", text_input("front_desk", "PJSIP/100",
                                                           maxlength=200),
              hint="Where the receptionist sends callers: an endpoint or context,extension."),
        field("Document (FAQ)", Html('<input type="file" name="document" accept=".txt,.md,'
                                     'text/plain,text/markdown">'),
              hint="Plain text or Markdown the FAQ line answers from."),
        field("Number", text_input("number", "", maxlength=40, placeholder="+1 555 0100"),
              hint="The number (or extension) callers dial; empty: assign one later."),
        Html('<button type="submit">Create the assistant</button>'),
    ]), cls="stack", multipart=True)


async def _wizard(ctx: Ctx, *, pbx: Html | None = None,
                  values: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    assistants = await ctx.services.assistants.list(ctx.org_id)
    numbers = await ctx.services.numbers.list(ctx.org_id)
    first_run = not assistants
    intro = h(
        '<p class="flash ok">Welcome: four steps and a phone call reaches your first '
        "assistant.</p>" if first_run else
        '<p class="hint">You have {a} assistant(s) and {n} number(s).</p>',
        a=len(assistants), n=len(numbers))
    body = h(
        "{intro}"
        '<section id="setup-pbx"><h2>1. Connect the PBX</h2>{form}{pbx}</section>'
        '<section id="setup-assistant"><h2>2. Your first assistant</h2>{assistant}</section>'
        '<section id="setup-try"><h2>3. Try it</h2><p>Once created, the assistant\'s page has '
        'a <em>Try it</em> panel: talk to it from this browser, no phone needed. Then call '
        "its number through the PBX.</p>{call}</section>"
        '<section id="setup-checks"><h2>4. Checks</h2>'
        '<div id="setup-checklist" data-src="/api/v1/setup/checks" aria-live="polite">'
        '<p class="hint">Checking…</p></div>'
        '<noscript><p><a href="/setup/checks">Run the checks</a></p></noscript></section>'
        '<script src="/static/setup.js" defer></script>',
        intro=intro, form=_pbx_form(ctx, values or {}), pbx=pbx or "",
        assistant=_assistant_form(ctx), call=_pbx_call_form(ctx),
    )
    return page(ctx, "Set up Callwright", body, status=status)


def _pbx_call_form(ctx: Ctx) -> Html:
    ari = _settings(ctx).ari
    if not ari.enabled:
        return h('<p class="hint">A test call through the PBX needs the PBX in this server\'s '
                 "configuration ([ari] url, then restart the admin).</p>")
    return form(ctx, "/setup/pbx-call", join([
        field("Number to call through the PBX", text_input("number", "100", maxlength=40),
              hint=f"Dialled as Local/NUMBER@{CONTEXT} at {ari.url}; the call service "
                   "(callwright serve) must be running. The PBX's caller stays silent: the "
                   "assistant greets, asks again, then hangs up."),
        Html('<button type="submit">Place a test call through the PBX</button>'),
    ]), cls="stack")


async def show_setup(ctx: Ctx) -> web.StreamResponse:
    return await _wizard(ctx)


async def test_pbx(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    values: dict[str, Any] = {
        name: text(data, name, max_len=300).strip() for name in
        ("ari_url", "ari_username", "ari_password", "ari_app", "transport", "number",
         "ami_host", "ami_port", "ami_username", "ami_secret")
    }
    values["ami"] = flag(data.get("ami"))
    try:
        url = check_ari_url(values["ari_url"])
        if values["transport"] not in TRANSPORTS:
            raise BadPbxSettings(f"transport: choose one of {', '.join(TRANSPORTS)}")
        ari = AriSettings(url=url, username=values["ari_username"] or "callwright",
                          password=values["ari_password"], app=values["ari_app"] or "callwright")
    except (BadPbxSettings, ConfigError) as exc:
        raise UserError(str(exc), field="ari_url") from exc
    ami_port = values["ami_port"] or "5038"
    if not ami_port.isdigit() or not 1 <= int(ami_port) <= 65535:
        raise UserError("AMI port: a TCP port, 1-65535 (Asterisk's default is 5038)",
                        field="ami_port")
    ami_host = values["ami_host"] or urlsplit(url).hostname or ""
    if re.search(r"[\s/]", ami_host):
        raise UserError("AMI host: a host name or address, without a scheme or path",
                        field="ami_host")
    choice = PbxChoice(url, ari.username, ari.password, ari.app, values["transport"],
                       values["number"] or "100", bool(values["ami"]),
                       ami_username=values["ami_username"], ami_secret=values["ami_secret"],
                       ami_host=ami_host, ami_port=int(ami_port))
    checks = await pbx_checks(_settings(ctx), ari, values["transport"])
    if choice.ami:
        checks.append(await ami_check(ami_host, choice.ami_port,
                                      choice.ami_username or choice.username,
                                      choice.ami_secret or choice.password))
    await ctx.record("setup.pbx_test", url, ok=all(c.status.value == "ok" for c in checks))
    files = join(h('<figure class="snippet"><figcaption>{f}</figcaption><pre><code>{t}</code>'
                   "</pre></figure>", f=s.file, t=s.text) for s in snippets(choice))
    result = h(
        '<h3>The connection, tested now</h3>{checks}'
        "<h3>Paste these, then reload Asterisk (<code>core reload</code>) and restart "
        "Callwright</h3>{files}",
        checks=checklist(checks, "pbx-checks"), files=files,
    )
    return await _wizard(ctx, pbx=result, values=values)


def _read_document(handle: IO[bytes]) -> str:
    raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise UserError("The document is larger than 1 MB.", field="document")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError("The document is not UTF-8 text.", field="document") from exc


async def create_from_template(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    front_desk = text(data, "front_desk", max_len=200).strip() or "PJSIP/100"
    template = templates(front_desk).get(text(data, "template", max_len=40))
    if template is None:
        raise UserError("Choose one of the templates.", field="template")
    name = text(data, "name", max_len=200).strip() or template.name
    number = text(data, "number", max_len=40).strip()
    document = ""
    upload = data.get("document")
    if isinstance(upload, web.FileField) and upload.filename:
        document = await asyncio.to_thread(_read_document, upload.file)
    if template.needs_document and not document.strip():
        raise UserError("The FAQ line answers from a document: choose a text file.",
                        field="document")
    with user_errors():
        created = await ctx.services.assistants.create(
            ctx.org_id, name, "en", flow=template.flow, created_by=ctx.actor.label,
        )
    await ctx.record("assistant.create", f"assistant:{created.id}", template=template.key)
    if document.strip():
        with user_errors("document"):
            await ctx.services.knowledge.add_document(
                ctx.org_id, created.id, getattr(upload, "filename", "") or "Document", document)
    if number:
        try:
            with user_errors("number"):
                made = await ctx.services.numbers.create(ctx.org_id, number, None, "inbound", "",
                                                         created.id)
        except UserError as exc:
            if isinstance(exc.__cause__, InvalidNumber):
                raise UserError(f"The assistant was created, but the number was not: "
                                f"{exc.message}", field="number") from exc
            raise
        await ctx.record("number.create", f"number:{made.id}", number=made.number)
    raise web.HTTPSeeOther(f"/assistants/{created.id}?notice=created")


async def place_pbx_call(ctx: Ctx) -> web.StreamResponse:
    settings = _settings(ctx)
    if not settings.ari.enabled:
        raise UserError("This server has no PBX configured ([ari] url).", status=409)
    number = text(await ctx.input(), "number", max_len=40).strip()
    if not re.fullmatch(r"\+?[0-9A-Za-z*#]{1,40}", number):
        raise UserError("number: digits (an extension or a number), as dialled on the PBX",
                        field="number")
    try:
        channel_id = await originate_test_call(settings, number, CONTEXT)
    except CallwrightError as exc:
        raise UserError(f"The PBX did not place the call: {exc}") from exc
    await ctx.record("setup.pbx_call", f"channel:{channel_id}", number=number)
    result = h('<p class="flash ok" role="status" id="pbx-call-placed">Call placed through the '
               "PBX ({c}). It appears under <a href=\"/calls\">Calls</a> once the assistant "
               "answers.</p>{progress}", c=channel_id,
               progress=_progress_box(channel_id, CallProgress(
                   "ringing", "The PBX is ringing the assistant.")))
    return await _wizard(ctx, pbx=result)


def _progress_box(channel_id: str, progress: CallProgress) -> Html:
    """The call's progress: the steps reached, the turns so far, the outcome (setup.js polls
    ``data-src`` and redraws it until the call has ended)."""
    steps = [s for s in STATES[:3] if STATES.index(s) <= STATES.index(progress.state)
             and (s != "answered" or progress.answered or progress.state == "answered")] \
        if progress.state in STATES[:3] else [progress.state]
    return h(
        '<div id="pbx-call-progress" data-src="/api/v1/setup/pbx-call/{c}" data-state="{s}"'
        ' aria-live="polite"><ol class="progress">{steps}</ol><p class="hint">{d}</p>'
        '<ol class="transcript">{turns}</ol>{link}</div>',
        c=channel_id, s=progress.state, d=progress.detail,
        steps=join(h('<li data-step="{s}">{t}</li>', s=s, t=_step_label(s, progress))
                   for s in steps),
        turns=join(h('<li data-speaker="{s}">{t}</li>', s=s, t=t) for s, t in progress.turns),
        link=h('<p><a class="call-page" href="/calls/{u}">The call\'s page</a></p>',
               u=progress.call_uid)
        if progress.call_uid else "",
    )


def _step_label(step: str, progress: CallProgress) -> str:
    if step != "ended":
        return step.capitalize()
    return f"Ended: {progress.status}" + (f" ({progress.end_reason})"
                                          if progress.end_reason else "")


async def pbx_call_progress(ctx: Ctx) -> web.StreamResponse:
    channel_id = ctx.request.match_info["channel"]
    if not TEST_CALL_ID.fullmatch(channel_id) or not await ctx.services.audit_log.has_entry(
            ctx.org_id, "setup.pbx_call", f"channel:{channel_id}"):
        raise Missing("This test call")
    calls = ctx.services.calls
    uid = await calls.uid_for_channel(ctx.org_id, caller_half(channel_id))
    detail = await calls.call_detail(ctx.org_id, uid) if uid is not None else None
    if detail is not None:
        progress = progress_of(detail.call, detail.turns, None)
    else:
        try:
            progress = progress_of(None, [], await pbx_channel_state(_settings(ctx), channel_id))
        except CallwrightError as exc:
            progress = progress_of(None, [], None, pbx_error=str(exc))
    return respond(ctx, progress.to_json() | {"channel": channel_id}, lambda: page(
        ctx, "Test call through the PBX", h('<p><a href="/setup">← Setup</a></p>{b}',
                                             b=_progress_box(channel_id, progress))))


async def setup_checks(ctx: Ctx) -> web.StreamResponse:
    checks = await server_checks(_settings(ctx), await ctx.services.assistants.list(ctx.org_id))
    data = {"checks": [dataclasses.asdict(c) | {"status": c.status.value} for c in checks]}
    return respond(ctx, data, lambda: page(ctx, "Checks", h(
        '<p><a href="/setup">← Setup</a></p>{c}', c=checklist(checks))))


ROUTES = [
    Route("GET", "/setup", show_setup, Permission.ORG_SETTINGS, "The setup wizard", api=False),
    Route("POST", "/setup/pbx", test_pbx, Permission.ORG_SETTINGS,
          "Test a PBX connection live and show the settings to paste", api=False),
    Route("POST", "/setup/assistant", create_from_template, Permission.ORG_SETTINGS,
          "Create an assistant from a template, with a number", api=False),
    Route("POST", "/setup/pbx-call", place_pbx_call, Permission.ORG_SETTINGS,
          "Place a test call through the configured PBX", api=False),
    Route("GET", "/setup/checks", setup_checks, Permission.ORG_SETTINGS,
          "The doctor's checks of this server"),
    Route("GET", "/setup/pbx-call/{channel}", pbx_call_progress, Permission.ORG_SETTINGS,
          "How far the wizard's test call through the PBX has got: ringing, answered (with "
          "the turns so far), ended with its outcome"),
]
