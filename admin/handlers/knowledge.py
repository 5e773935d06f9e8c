"""Knowledge documents of an assistant: upload (text file or pasted), list, delete."""

from __future__ import annotations

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import text, user_errors
from admin.html import Html, h, join
from admin.keys import SERVICES
from admin.knowledge import MAX_DOC_CHARS, KnowledgeStore
from admin.routing import Ctx, Route
from admin.views import button_form, done, field, form, page, respond, table, text_input, textarea
from callwright.accounts.roles import Permission

_TEXT_TYPES = ("text/plain", "text/markdown", "text/csv", "application/octet-stream", "")


def _store(ctx: Ctx) -> KnowledgeStore:
    return KnowledgeStore(ctx.request.app[SERVICES].db)


async def list_docs(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    a = await ctx.services.assistants.get(ctx.org_id, assistant_id)
    docs = await _store(ctx).documents(ctx.org_id, assistant_id)
    if ctx.api:
        return respond(ctx, {"documents": [d.__dict__ for d in docs]}, web.Response)
    can_write = ctx.principal.can(Permission.ASSISTANTS_WRITE)
    rows = [
        h(
            "<tr><td>{t}</td><td>{k}</td><td>{c}</td><td>{at}</td><td>{x}</td></tr>",
            t=d.title,
            k=d.kind,
            c=d.chars,
            at=d.created_at[:10],
            x=button_form(
                ctx,
                f"/assistants/{assistant_id}/knowledge/{d.id}/delete",
                "Delete",
                danger=True,
                confirm=f"Delete {d.title}?",
            )
            if can_write
            else "",
        )
        for d in docs
    ]
    upload = Html("")
    if can_write:
        upload = h(
            "<h2>Add a document</h2>{f}",
            f=form(
                ctx,
                f"/assistants/{assistant_id}/knowledge",
                join(
                    [
                        field(
                            "Title",
                            text_input("title", maxlength=300),
                            hint="Defaults to the file name.",
                        ),
                        field(
                            "Text file (UTF-8)",
                            text_input("file", type="file", accept=".txt,.md,.csv,text/plain"),
                        ),
                        field("…or paste the text", textarea("body", "", rows=8)),
                        Html('<button type="submit">Upload</button>'),
                    ]
                ),
                cls="stack",
                multipart=True,
            ),
        )
    body = h(
        '<p><a href="/assistants/{id}">← {n}</a></p>{t}{u}',
        id=assistant_id,
        n=a.name,
        t=table(["Title", "Kind", "Characters", "Added", ""], rows, "No documents yet."),
        u=upload,
    )
    return page(ctx, f"Knowledge: {a.name}", body)


async def add_doc(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    await ctx.services.assistants.get(ctx.org_id, assistant_id)
    data = await ctx.input()
    title = text(data, "title", max_len=300).strip()
    body = text(data, "body", max_len=MAX_DOC_CHARS) if isinstance(data.get("body"), str) else ""
    upload = data.get("file")
    if isinstance(upload, web.FileField) and upload.filename:
        if upload.content_type not in _TEXT_TYPES and not upload.content_type.startswith("text/"):
            raise UserError("Upload a plain text file (.txt, .md or .csv).", field="file")
        raw = upload.file.read(MAX_DOC_CHARS * 4 + 1)
        try:
            body = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UserError("The file is not UTF-8 text.", field="file") from exc
        title = title or upload.filename
    kind = text(data, "kind", max_len=20) or "document"
    with user_errors("body"):
        doc_id = await _store(ctx).add(ctx.org_id, assistant_id, title, body, kind)
    await ctx.record("knowledge.add", f"assistant:{assistant_id}", doc_id=doc_id, title=title)
    return done(
        ctx, {"id": doc_id}, f"/assistants/{assistant_id}/knowledge", notice="added", status=201
    )


async def delete_doc(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    doc_id = ctx.match_int("doc_id")
    if not await _store(ctx).delete(ctx.org_id, assistant_id, doc_id):
        raise Missing("This document")
    await ctx.record("knowledge.delete", f"assistant:{assistant_id}", doc_id=doc_id)
    return done(ctx, {"ok": True}, f"/assistants/{assistant_id}/knowledge", notice="deleted")


_BASE = "/assistants/{assistant_id}/knowledge"
ROUTES = [
    Route("GET", _BASE, list_docs, Permission.ASSISTANTS_READ, "An assistant's knowledge docs"),
    Route(
        "POST",
        _BASE,
        add_doc,
        Permission.ASSISTANTS_WRITE,
        "Add a knowledge document (JSON title/body, or a multipart text file)",
        body={
            "type": "object",
            "required": ["title", "body"],
            "properties": {
                "title": {"type": "string"},
                "body": {"type": "string"},
                "kind": {"enum": ["document", "qa"]},
            },
        },
    ),
    Route(
        "POST",
        _BASE + "/{doc_id}/delete",
        delete_doc,
        Permission.ASSISTANTS_WRITE,
        "Delete a knowledge document",
    ),
]
