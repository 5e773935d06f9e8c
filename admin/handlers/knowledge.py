"""An assistant's knowledge: documents (a text file or pasted text) and question-and-answer pairs.

Everything is stored by :class:`callwright.knowledge.repository.KnowledgeRepository`, the same
store the call path's :class:`~callwright.knowledge.retriever.KnowledgeRetriever` searches, so
what is added here is what the assistant finds during a call.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import IO

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import text, user_errors
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, done, field, form, page, respond, table, text_input, textarea
from callwright.accounts.roles import Permission
from callwright.errors import NotFound
from callwright.knowledge.repository import (
    MAX_ANSWER_CHARS,
    MAX_BODY_CHARS,
    MAX_TITLE_CHARS,
    KnowledgeDoc,
    KnowledgeDocInfo,
)

_TEXT_TYPES = ("text/plain", "text/markdown", "text/csv", "application/octet-stream", "")
PREVIEW_PASSAGES = 50


def _read_text_file(handle: IO[bytes]) -> str:
    """The upload as text (blocking: run it in a thread). UserError when it is not UTF-8."""
    raw = handle.read(MAX_BODY_CHARS * 4 + 1)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError("The file is not UTF-8 text.", field="file") from exc


async def _doc_of(ctx: Ctx, assistant_id: int, doc_id: int) -> KnowledgeDoc:
    """The org's document ``doc_id`` if it belongs to ``assistant_id`` (else 404)."""
    try:
        doc = await ctx.services.knowledge.get(ctx.org_id, doc_id)
    except NotFound:
        raise Missing("This document") from None
    if doc.assistant_id != assistant_id:
        raise Missing("This document")
    return doc


def _rows(ctx: Ctx, assistant_id: int, docs: list[KnowledgeDocInfo], qa: bool) -> list[Html]:
    can_write = ctx.principal.can(Permission.ASSISTANTS_WRITE)
    base = f"/assistants/{assistant_id}/knowledge"
    return [
        h(
            '<tr><td><a href="{base}/{id}">{t}</a></td>{c}<td>{at}</td><td>{x}</td></tr>',
            base=base,
            id=d.id,
            t=d.title,
            c=Html("") if qa else h("<td>{n}</td>", n=d.chars),
            at=d.created_at[:10],
            x=button_form(
                ctx, f"{base}/{d.id}/delete", "Delete", danger=True, confirm=f"Delete {d.title}?"
            )
            if can_write
            else "",
        )
        for d in docs
        if (d.kind == "qa") == qa
    ]


def _add_forms(ctx: Ctx, assistant_id: int) -> Html:
    base = f"/assistants/{assistant_id}/knowledge"
    document = form(
        ctx,
        base,
        join(
            [
                field(
                    "Title",
                    text_input("title", maxlength=MAX_TITLE_CHARS),
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
    )
    pair = form(
        ctx,
        base + "/qa",
        join(
            [
                field(
                    "Question",
                    text_input("question", required=True, maxlength=MAX_TITLE_CHARS),
                    hint="As a caller would ask it.",
                ),
                field(
                    "Answer",
                    textarea("answer", "", rows=3, required=True, maxlength=MAX_ANSWER_CHARS),
                    hint="Spoken as it is when a flow's knowledge node finds this question.",
                ),
                Html('<button type="submit">Add question</button>'),
            ]
        ),
        cls="stack",
    )
    return h("<h2>Add a document</h2>{d}<h2>Add a question and answer</h2>{q}", d=document, q=pair)


async def list_docs(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    a = await ctx.services.assistants.get(ctx.org_id, assistant_id)
    docs = await ctx.services.knowledge.list(ctx.org_id, assistant_id)
    if ctx.api:
        return respond(ctx, {"documents": [dataclasses.asdict(d) for d in docs]}, web.Response)
    body = h(
        '<p><a href="/assistants/{id}">← {n}</a></p><h2>Documents</h2>{d}'
        "<h2>Questions and answers</h2>{q}{add}",
        id=assistant_id,
        n=a.name,
        d=table(
            ["Title", "Characters", "Added", ""],
            _rows(ctx, assistant_id, docs, qa=False),
            "No documents yet.",
        ),
        q=table(
            ["Question", "Added", ""],
            _rows(ctx, assistant_id, docs, qa=True),
            "No questions yet.",
        ),
        add=_add_forms(ctx, assistant_id) if ctx.principal.can(Permission.ASSISTANTS_WRITE) else "",
    )
    return page(ctx, f"Knowledge: {a.name}", body)


async def show_doc(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    doc = await _doc_of(ctx, assistant_id, ctx.match_int("doc_id"))
    passages = await ctx.services.knowledge.passages(ctx.org_id, doc.id)
    if ctx.api:
        return respond(ctx, {**dataclasses.asdict(doc), "passages": passages}, web.Response)
    shown = passages[:PREVIEW_PASSAGES]
    more = len(passages) - len(shown)
    body = h(
        '<p><a href="/assistants/{id}/knowledge">← Knowledge</a></p>'
        "<h2>{what}</h2><pre class=\"doc\">{text}</pre>"
        '<h2>Indexed passages ({n})</h2><ol class="passages">{items}</ol>{more}',
        id=assistant_id,
        what="Answer" if doc.kind == "qa" else "Text",
        text=doc.body,
        n=len(passages),
        items=join(h('<li><pre class="doc">{p}</pre></li>', p=p) for p in shown),
        more=h('<p class="hint">…and {m} more.</p>', m=more) if more else "",
    )
    return page(ctx, doc.title, body)


async def add_doc(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    await ctx.services.assistants.get(ctx.org_id, assistant_id)
    data = await ctx.input()
    title = text(data, "title", max_len=MAX_TITLE_CHARS).strip()
    body = text(data, "body", max_len=MAX_BODY_CHARS) if isinstance(data.get("body"), str) else ""
    upload = data.get("file")
    if isinstance(upload, web.FileField) and upload.filename:
        if upload.content_type not in _TEXT_TYPES and not upload.content_type.startswith("text/"):
            raise UserError("Upload a plain text file (.txt, .md or .csv).", field="file")
        body = await asyncio.to_thread(_read_text_file, upload.file)
        title = title or upload.filename
    kind = text(data, "kind", max_len=20) or "document"
    repo = ctx.services.knowledge
    with user_errors("body"):
        if kind == "qa":  # the API's older way to add a pair: title = question, body = answer
            doc_id = await repo.add_qa(ctx.org_id, assistant_id, title, body)
        elif kind == "document":
            doc_id = await repo.add_document(ctx.org_id, assistant_id, title, body)
        else:
            raise UserError("kind: document or qa", field="kind")
    await ctx.record(
        "knowledge.add", f"assistant:{assistant_id}", doc_id=doc_id, kind=kind, title=title
    )
    return done(
        ctx, {"id": doc_id}, f"/assistants/{assistant_id}/knowledge", notice="added", status=201
    )


async def add_qa(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    await ctx.services.assistants.get(ctx.org_id, assistant_id)
    data = await ctx.input()
    question = text(data, "question", max_len=MAX_TITLE_CHARS)
    answer = text(data, "answer", max_len=MAX_ANSWER_CHARS)
    with user_errors("question" if not question.strip() else "answer"):
        doc_id = await ctx.services.knowledge.add_qa(ctx.org_id, assistant_id, question, answer)
    await ctx.record(
        "knowledge.add", f"assistant:{assistant_id}", doc_id=doc_id, kind="qa", title=question
    )
    return done(
        ctx, {"id": doc_id}, f"/assistants/{assistant_id}/knowledge", notice="added", status=201
    )


async def delete_doc(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    doc = await _doc_of(ctx, assistant_id, ctx.match_int("doc_id"))
    if not await ctx.services.knowledge.delete(ctx.org_id, doc.id):
        raise Missing("This document")
    await ctx.record("knowledge.delete", f"assistant:{assistant_id}", doc_id=doc.id)
    return done(ctx, {"ok": True}, f"/assistants/{assistant_id}/knowledge", notice="deleted")


_BASE = "/assistants/{assistant_id}/knowledge"
ROUTES = [
    Route(
        "GET",
        _BASE,
        list_docs,
        Permission.ASSISTANTS_READ,
        "An assistant's knowledge documents and Q&A pairs",
    ),
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
                "title": {"type": "string", "maxLength": MAX_TITLE_CHARS},
                "body": {"type": "string"},
                "kind": {"enum": ["document", "qa"]},
            },
        },
    ),
    Route(
        "POST",
        _BASE + "/qa",
        add_qa,
        Permission.ASSISTANTS_WRITE,
        "Add a question-and-answer pair",
        body={
            "type": "object",
            "required": ["question", "answer"],
            "properties": {
                "question": {"type": "string", "maxLength": MAX_TITLE_CHARS},
                "answer": {"type": "string", "maxLength": MAX_ANSWER_CHARS},
            },
        },
    ),
    Route(
        "GET",
        _BASE + "/{doc_id}",
        show_doc,
        Permission.ASSISTANTS_READ,
        "A knowledge document or Q&A pair with its indexed passages",
    ),
    Route(
        "POST",
        _BASE + "/{doc_id}/delete",
        delete_doc,
        Permission.ASSISTANTS_WRITE,
        "Delete a knowledge document or Q&A pair",
    ),
]
