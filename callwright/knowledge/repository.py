"""An assistant's knowledge: documents and question-and-answer pairs, indexed for search.

Every method takes the ``org_id`` of the user acting and only ever sees that org's rows: a
document of another org is "not found", exactly like one that does not exist.

- A *document* (``kind == "document"``) is plain text or markdown. It is cut into passages
  (:func:`callwright.knowledge.chunking.chunk_text`) and each passage is indexed in the
  ``knowledge_chunks`` FTS5 table with the document's title as its first line, so a passage deep
  in "Refund policy" is still found by "refund".
- A *Q&A pair* (``kind == "qa"``) is stored with the question as its title and the answer as its
  body, and indexed as one passage holding both; :meth:`KnowledgeRetriever.best_faq_answer
  <callwright.knowledge.retriever.KnowledgeRetriever.best_faq_answer>` returns the answer alone.

A document and its passages are written in one transaction; cutting a large document runs in a
worker thread, never on the event loop. Documents are replaced by deleting and adding again.

    repo = KnowledgeRepository(db)
    doc_id = await repo.add_document(org_id, assistant_id, "Opening hours", "We open at 9 ...")
    qa_id = await repo.add_qa(org_id, assistant_id, "Do you deliver?", "Yes, within the city.")
    docs = await repo.list(org_id, assistant_id)          # [KnowledgeDocInfo, ...] (no bodies)
    doc = await repo.get(org_id, doc_id)                  # KnowledgeDoc, with body; NotFound
    await repo.delete(org_id, doc_id)                     # True if it existed
"""

from __future__ import annotations

import asyncio
import builtins
import sqlite3
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from callwright.errors import NotFound, StoreError
from callwright.knowledge.chunking import chunk_text
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_BODY_CHARS",
    "MAX_TITLE_CHARS",
    "KnowledgeDoc",
    "KnowledgeDocInfo",
    "KnowledgeRepository",
]

MAX_TITLE_CHARS = 300  # also the longest question
MAX_ANSWER_CHARS = 4000
MAX_BODY_CHARS = 2_000_000
Kind = Literal["document", "qa"]


@dataclass(frozen=True, slots=True)
class KnowledgeDocInfo:
    """A document as listed: everything but the body. For a Q&A pair the title is the question."""

    id: int
    org_id: int
    assistant_id: int
    kind: Kind
    title: str
    chars: int
    created_at: str


@dataclass(frozen=True, slots=True)
class KnowledgeDoc:
    """A whole document. For a Q&A pair ``title`` is the question and ``body`` the answer."""

    id: int
    org_id: int
    assistant_id: int
    kind: Kind
    title: str
    body: str
    created_at: str


def _kind(value: object) -> Kind:
    if value == "qa":
        return "qa"
    if value == "document":
        return "document"
    raise StoreError(f"knowledge_docs.kind holds {value!r}")


def _clean(text: str, what: str, limit: int) -> str:
    if not isinstance(text, str):
        raise ValueError(f"a {what} must be text")
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise ValueError(f"a {what} cannot be empty")
    if len(text) > limit:
        raise ValueError(f"a {what} is at most {limit} characters, got {len(text)}")
    return text


def _prepare_document(title: str, body: str) -> tuple[str, list[str]]:
    """The cleaned body and its indexed passages (each headed by the title)."""
    body = _clean(body, "document body", MAX_BODY_CHARS)
    return body, [f"{title}\n{p}" for p in chunk_text(body)]


class KnowledgeRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def add_document(self, org_id: int, assistant_id: int, title: str, body: str) -> int:
        """Store and index a document; its id. ValueError for an empty or oversized title or
        body; NotFound when the assistant is not one of the org's."""
        title = _clean(title, "title", MAX_TITLE_CHARS)
        # A body can be megabytes: chunking it (~0.2 s for 850 KB) and normalising it (~40 ms
        # for a megabyte of decomposed Hangul) both run off the event loop.
        body, passages = await asyncio.to_thread(_prepare_document, title, body)
        return await self._add(org_id, assistant_id, "document", title, body, passages)

    async def add_qa(self, org_id: int, assistant_id: int, question: str, answer: str) -> int:
        """Store and index a question-and-answer pair; its id. Errors as :meth:`add_document`."""
        question = _clean(question, "question", MAX_TITLE_CHARS)
        answer = _clean(answer, "answer", MAX_ANSWER_CHARS)
        return await self._add(org_id, assistant_id, "qa", question, answer,
                               [f"{question}\n{answer}"])

    async def _add(
        self, org_id: int, assistant_id: int, kind: Kind, title: str, body: str,
        passages: list[str],
    ) -> int:
        try:
            async with self._db.transaction() as conn:
                async with conn.execute(
                    "SELECT 1 FROM assistants WHERE id = ? AND org_id = ?", (assistant_id, org_id)
                ) as cur:
                    if await cur.fetchone() is None:
                        raise NotFound(f"assistant {assistant_id} not found")
                cursor = await conn.execute(
                    "INSERT INTO knowledge_docs (org_id, assistant_id, title, kind, body,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (org_id, assistant_id, title, kind, body, self._now()),
                )
                doc_id = cursor.lastrowid
                await cursor.close()
                if doc_id is None:
                    raise StoreError("the knowledge document got no id")
                await conn.executemany(
                    "INSERT INTO knowledge_chunks (text, doc_id, assistant_id) VALUES (?, ?, ?)",
                    [(p, doc_id, assistant_id) for p in passages],
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot store knowledge: {exc}") from exc
        return int(doc_id)

    async def list(self, org_id: int, assistant_id: int) -> list[KnowledgeDocInfo]:
        """The assistant's documents then Q&A pairs, each sorted by title."""
        rows = await self._db.fetch_all(
            "SELECT id, org_id, assistant_id, kind, title, length(body) AS chars, created_at"
            " FROM knowledge_docs WHERE org_id = ? AND assistant_id = ?"
            " ORDER BY kind, title COLLATE NOCASE, id",
            (org_id, assistant_id),
        )
        return [
            KnowledgeDocInfo(
                id=int(r["id"]), org_id=int(r["org_id"]), assistant_id=int(r["assistant_id"]),
                kind=_kind(r["kind"]), title=str(r["title"]), chars=int(r["chars"]),
                created_at=str(r["created_at"]),
            )
            for r in rows
        ]

    async def get(self, org_id: int, doc_id: int) -> KnowledgeDoc:
        """One document with its body. NotFound when it is not the org's."""
        r = await self._db.fetch_one(
            "SELECT id, org_id, assistant_id, kind, title, body, created_at FROM knowledge_docs"
            " WHERE org_id = ? AND id = ?",
            (org_id, doc_id),
        )
        if r is None:
            raise NotFound(f"knowledge document {doc_id} not found")
        return KnowledgeDoc(
            id=int(r["id"]), org_id=int(r["org_id"]), assistant_id=int(r["assistant_id"]),
            kind=_kind(r["kind"]), title=str(r["title"]), body=str(r["body"]),
            created_at=str(r["created_at"]),
        )

    async def passages(self, org_id: int, doc_id: int) -> builtins.list[str]:
        """The indexed passages of one document, in order (for an admin preview); a document's
        passages start with its title line."""
        await self.get(org_id, doc_id)
        rows = await self._db.fetch_all(
            "SELECT text FROM knowledge_chunks WHERE doc_id = ? ORDER BY rowid", (doc_id,)
        )
        return [str(r["text"]) for r in rows]

    async def delete(self, org_id: int, doc_id: int) -> bool:
        """Delete a document and its passages; False when the org has no such document."""
        try:
            async with self._db.transaction() as conn:
                cursor = await conn.execute(
                    "DELETE FROM knowledge_docs WHERE org_id = ? AND id = ?", (org_id, doc_id)
                )
                deleted = cursor.rowcount > 0
                await cursor.close()
                if deleted:  # the 0004 trigger does this too; stay correct without it
                    await conn.execute("DELETE FROM knowledge_chunks WHERE doc_id = ?", (doc_id,))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot delete knowledge: {exc}") from exc
        return deleted
