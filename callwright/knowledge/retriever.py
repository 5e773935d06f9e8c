"""Finding an assistant's knowledge passages for what the caller said.

:class:`KnowledgeRetriever` implements the dialog engine's ``Retriever`` protocol with SQLite FTS5.

The FTS query is never the caller's text: it is built from the words found in it (runs of letters
and digits), each one quoted, so ``AND``, ``NEAR``, ``*``, ``"``, ``:`` or ``^`` in what the caller
said (or in what the LLM asks for) are just words or are dropped. Stop-words of a small built-in
English and Korean list are dropped; Korean particles are taken off the end of a word
(``영업시간은`` → ``영업시간``) and English words lose a plural or ``-ing``/``-ed`` ending; the
remaining stems are searched as prefixes (``"open"*`` finds "opens", "opening"). The terms are
OR-ed together.

FTS5 ranks the candidates by bm25; the best of them are then ordered by *coverage*, the share of
the query's terms that a passage contains (bm25 breaks ties). bm25 alone is unreliable for the
small knowledge bases assistants have: with a handful of documents its term weights are all
almost zero. Coverage is also the score of :meth:`KnowledgeRetriever.best_faq_answer`, which lets
a flow's FAQ node answer from a Q&A pair without an LLM.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from callwright.dialog.prompt import Passage
from callwright.store.db import Database

__all__ = ["KnowledgeRetriever", "build_match_query", "query_terms"]

MAX_TERMS = 24
MAX_TERM_CHARS = 48

# fmt: off
STOP_WORDS = frozenset(
    # English
    "a an the and or but if then of to in on at for with by from about as into over is are was "
    "were be been being am do does did done have has had having i me my mine you your yours we "
    "our us he him his she her it its they them their this that these those there here what "
    "which who whom whose how when where why can could would should will shall may might must "
    "please tell know want like just so not no yes hi hello hey okay ok um uh er thanks thank "
    "some any get got need also too very much many more than let lets im".split()
    # Korean
    + "네 예 아 어 음 저 제 저는 제가 나 내가 우리 그 이 저기 여기 거기 좀 그리고 그런데 근데 "
    "그래서 그냥 혹시 그럼 뭐 무엇 어떤 어떻게 언제 어디 왜 수 것 거 게 있어요 있나요 있습니까 "
    "있는 없나요 해요 하나요 합니다 해주세요 주세요 알려주세요 알려줘 싶어요 싶은데요 안녕하세요 "
    "감사합니다 고맙습니다 요 좀요".split()
)
#: Korean particles and endings taken off the end of a word, longest first.
KO_SUFFIXES = tuple(sorted(
    "은 는 이 가 을 를 에 의 도 와 과 로 랑 요 에서 에게 한테 께서 까지 부터 으로 이랑 이나 "
    "에서는 에는 으로는 로는 이요 예요 이에요 입니다 입니까 인가요 나요 은요 는요 이죠 이지요 "
    "만 처럼 보다 마다 인데 인데요 합니다 합니까 하나요 한가요 해요 하다 하고 하는 한 할 해 "
    "하면 했어요 했나요 되나요 돼요 됩니다 되는 된 될 되면 하려고 하려면 하고요 할게요".split(),
    key=len, reverse=True,
))
#: Particles that may leave a one-syllable noun behind (돈이 → 돈); other endings need two (필요).
_KO_CASES = frozenset("은 는 이 가 을 를 에 의 도 로 와 과".split())
# fmt: on

_WORD = re.compile(r"\w+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_ASCII_WORD = re.compile(r"^[a-z]+$")


@dataclass(frozen=True, slots=True)
class _Term:
    stem: str
    prefix: bool

    def fts(self) -> str:
        # A term holds only word characters: quoting makes it a plain string to FTS5.
        return f'"{self.stem}"' + ("*" if self.prefix else "")

    def tsquery(self) -> str:
        """The term in PostgreSQL's ``to_tsquery`` syntax (a quoted lexeme, ``:*`` for a
        prefix), the same match as :meth:`fts`."""
        return f"'{self.stem}'" + (":*" if self.prefix else "")

    def found_in(self, words: Sequence[str]) -> bool:
        if self.prefix:
            return any(w.startswith(self.stem) for w in words)
        return self.stem in words


def _fold(text: str) -> str:
    """Lower case, NFC, without diacritics (as FTS5's unicode61 tokenizer compares words)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare)


def _words(text: str) -> list[str]:
    return _WORD.findall(_fold(text).replace("_", " "))


def _stem(word: str) -> _Term | None:
    if word in STOP_WORDS:
        return None
    if _HANGUL.search(word):
        for suffix in KO_SUFFIXES:
            keep = len(word) - len(suffix)
            if word.endswith(suffix) and (keep >= 2 or keep == 1 and suffix in _KO_CASES):
                word = word[:keep]
                break
        return None if word in STOP_WORDS else _Term(word, prefix=True)
    if _ASCII_WORD.match(word):
        if len(word) == 1:
            return None  # the "m" of "I'm", the "t" of "don't"
        word = _english_stem(word)
    return _Term(word, prefix=len(word) >= 3)


def _english_stem(word: str) -> str:
    if len(word) >= 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) >= 5 and word.endswith("ies"):
        word = word[:-3]  # policies -> polic, which finds policy
    elif len(word) >= 5 and word.endswith(("sses", "xes", "zes", "ches", "shes")):
        word = word[:-2]
    elif len(word) >= 4 and word.endswith("ed"):
        word = word[:-2]
    elif len(word) >= 4 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    else:
        return word
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]  # shipping -> shipp -> ship
    return word


def query_terms(text: str) -> list[_Term]:
    """The distinct search terms of ``text`` (at most :data:`MAX_TERMS`), in order."""
    terms: list[_Term] = []
    seen: set[str] = set()
    for word in _words(text):
        term = _stem(word[:MAX_TERM_CHARS])
        if term is None or term.stem in seen:
            continue
        seen.add(term.stem)
        terms.append(term)
        if len(terms) == MAX_TERMS:
            break
    return terms


def build_match_query(text: str) -> str:
    """An FTS5 MATCH expression for ``text``: quoted terms joined by OR; "" when none remain."""
    return " OR ".join(t.fts() for t in query_terms(text))


def _coverage(terms: Sequence[_Term], text: str) -> float:
    words = _words(text)
    return sum(1 for t in terms if t.found_in(words)) / len(terms) if terms else 0.0


@dataclass(frozen=True, slots=True)
class _Hit:
    text: str
    title: str
    kind: str
    body: str
    coverage: float
    bm25: float


class KnowledgeRetriever:
    """Searches one assistant's knowledge (optionally also checked against its ``org_id``).

    ``limit``: passages returned by :meth:`search`. ``candidates``: how many bm25-ranked passages
    are re-ranked by coverage. ``min_coverage``: passages matching a smaller share of the query's
    terms are left out.
    """

    def __init__(
        self,
        db: Database,
        assistant_id: int,
        *,
        org_id: int | None = None,
        limit: int = 3,
        candidates: int = 24,
        min_coverage: float = 0.0,
    ) -> None:
        if limit < 1 or candidates < limit:
            raise ValueError("need 1 <= limit <= candidates")
        self._db = db
        self.assistant_id = assistant_id
        self.org_id = org_id
        self.limit = limit
        self.candidates = candidates
        self.min_coverage = min_coverage

    def __repr__(self) -> str:
        return f"KnowledgeRetriever(assistant_id={self.assistant_id}, org_id={self.org_id})"

    async def search(self, query: str) -> Sequence[Passage]:
        """The best passages for ``query`` (documents and Q&A pairs), best first."""
        hits = await self._hits(query, kind=None)
        passages: list[Passage] = []
        for hit in hits[: self.limit]:
            if hit.kind == "qa":
                passages.append(Passage(hit.text))
            else:
                text = hit.text.removeprefix(hit.title + "\n")
                passages.append(Passage(text, hit.title))
        return passages

    async def best_faq_answer(self, query: str, min_score: float = 0.5) -> tuple[str, float] | None:
        """The answer of the Q&A pair that best matches ``query`` and its score, or None when no
        pair reaches ``min_score``. The score is the share (0 to 1) of the query's search terms
        found in the pair's question and answer."""
        hits = await self._hits(query, kind="qa")
        if not hits or hits[0].coverage < min_score or hits[0].coverage == 0:
            return None
        return hits[0].body, hits[0].coverage

    async def _hits(self, query: str, kind: str | None) -> list[_Hit]:
        terms = query_terms(query)
        if not terms:
            return []
        columns = ("c.text AS text, d.title AS title, d.kind AS kind,"
                   " CASE WHEN d.kind = 'qa' THEN d.body ELSE '' END AS answer")
        joined = " JOIN knowledge_docs AS d ON d.id = c.doc_id AND d.assistant_id = c.assistant_id"
        if self._db.engine == "postgresql":
            # The passages' tsvector column (migration 0001); ts_rank grows with relevance where
            # bm25 shrinks, so its negation sorts the same way.
            sql = (
                f"SELECT {columns}, -ts_rank(c.search, q.query) AS rank"
                " FROM (SELECT to_tsquery('callwright_search', ?) AS query) AS q"
                f" JOIN knowledge_chunks AS c ON c.search @@ q.query{joined}"
                " WHERE c.assistant_id = ?"
            )
            match = " | ".join(t.tsquery() for t in terms)
        else:
            sql = (
                f"SELECT {columns}, bm25(knowledge_chunks) AS rank"
                f" FROM knowledge_chunks AS c{joined}"
                " WHERE knowledge_chunks MATCH ? AND c.assistant_id = ?"
            )
            match = " OR ".join(t.fts() for t in terms)
        params: list[object] = [match, self.assistant_id]
        if self.org_id is not None:
            sql += " AND d.org_id = ?"
            params.append(self.org_id)
        if kind is not None:
            sql += " AND d.kind = ?"
            params.append(kind)
        sql += " ORDER BY rank LIMIT ?"
        params.append(self.candidates)
        rows = await self._db.fetch_all(sql, params)
        hits = [
            _Hit(
                text=str(r["text"]), title=str(r["title"]), kind=str(r["kind"]),
                body=str(r["answer"]),
                coverage=_coverage(terms, str(r["text"])), bm25=float(r["rank"]),
            )
            for r in rows
        ]
        hits = [h for h in hits if h.coverage > 0 and h.coverage >= self.min_coverage]
        hits.sort(key=lambda h: (-h.coverage, h.bm25))
        return hits
