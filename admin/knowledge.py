"""Knowledge documents of an assistant (tables ``knowledge_docs`` and FTS5 ``knowledge_chunks``).

A document is stored whole and split into passages of about ``CHUNK_CHARS`` characters at
paragraph, then sentence, boundaries; each passage is a row of ``knowledge_chunks`` that the dialog
engine's knowledge search reads. Every query keeps to one org.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callwright.errors import NotFound
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database

CHUNK_CHARS = 800
MAX_DOC_CHARS = 1_000_000
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")


@dataclass(frozen=True)
class KnowledgeDoc:
    id: int
    assistant_id: int
    title: str
    kind: str
    chars: int
    created_at: str


def chunk_text(body: str, size: int = CHUNK_CHARS) -> list[str]:
    """Passages of at most about ``size`` characters, cut at paragraphs, then sentences."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", body):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if len(paragraph) <= size:
            pieces.append(paragraph)
            continue
        current = ""
        for sentence in _SENTENCE_END.split(paragraph):
            while len(sentence) > size:  # one enormous sentence: hard cut
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(sentence[:size])
                sentence = sentence[size:]
            if current and len(current) + 1 + len(sentence) > size:
                pieces.append(current)
                current = sentence
            else:
                current = f"{current} {sentence}".strip()
        if current:
            pieces.append(current)
    chunks: list[str] = []
    for piece in pieces:  # merge short neighbours
        if chunks and len(chunks[-1]) + 1 + len(piece) <= size // 2:
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    return chunks


class KnowledgeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, org_id: int, assistant_id: int, title: str, body: str, kind: str = "document"
    ) -> int:
        title = title.strip()
        if not title or len(title) > 300:
            raise ValueError("a document needs a title of at most 300 characters")
        if not body.strip():
            raise ValueError("the document is empty")
        if len(body) > MAX_DOC_CHARS:
            raise ValueError(f"a document has at most {MAX_DOC_CHARS} characters")
        if kind not in ("document", "qa"):
            raise ValueError("kind is document or qa")
        chunks = chunk_text(body)
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT 1 FROM assistants WHERE id = ? AND org_id = ?", (assistant_id, org_id)
            ) as cur:
                if await cur.fetchone() is None:
                    raise NotFound(f"assistant {assistant_id} not found")
            cursor = await conn.execute(
                "INSERT INTO knowledge_docs (org_id, assistant_id, title, kind, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (org_id, assistant_id, title, kind, body, utc_now_iso()),
            )
            doc_id = int(cursor.lastrowid or 0)
            await cursor.close()
            await conn.executemany(
                "INSERT INTO knowledge_chunks (text, doc_id, assistant_id) VALUES (?, ?, ?)",
                [(chunk, doc_id, assistant_id) for chunk in chunks],
            )
        return doc_id

    async def documents(self, org_id: int, assistant_id: int) -> list[KnowledgeDoc]:
        rows = await self._db.fetch_all(
            "SELECT id, assistant_id, title, kind, length(body) AS chars, created_at"
            " FROM knowledge_docs WHERE org_id = ? AND assistant_id = ? ORDER BY title, id",
            (org_id, assistant_id),
        )
        return [
            KnowledgeDoc(
                r["id"], r["assistant_id"], r["title"], r["kind"], r["chars"], r["created_at"]
            )
            for r in rows
        ]

    async def delete(self, org_id: int, assistant_id: int, doc_id: int) -> bool:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM knowledge_docs WHERE id = ? AND org_id = ? AND assistant_id = ?",
                (doc_id, org_id, assistant_id),
            )
            deleted = cursor.rowcount
            await cursor.close()
            if deleted:
                await conn.execute("DELETE FROM knowledge_chunks WHERE doc_id = ?", (doc_id,))
        return deleted > 0

    async def search(self, org_id: int, assistant_id: int, words: str, limit: int = 5) -> list[str]:
        """Passages matching all ``words`` (used by tests and the admin's preview)."""
        terms = " ".join('"' + w.replace('"', '""') + '"' for w in re.findall(r"\w+", words))
        if not terms:
            return []
        rows = await self._db.fetch_all(
            "SELECT k.text FROM knowledge_chunks k JOIN knowledge_docs d ON d.id = k.doc_id"
            " WHERE knowledge_chunks MATCH ? AND k.assistant_id = ? AND d.org_id = ?"
            " ORDER BY rank LIMIT ?",
            (terms, assistant_id, org_id, limit),
        )
        return [str(r["text"]) for r in rows]
