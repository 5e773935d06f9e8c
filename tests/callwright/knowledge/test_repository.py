"""The knowledge repository on a real SQLite file: documents, Q&A pairs, tenancy, deletion."""

from __future__ import annotations

import pytest

from callwright.errors import NotFound
from callwright.knowledge.repository import KnowledgeDocInfo
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.orgs import OrgRepository
from tests.callwright.knowledge.factories import KbFactory

HOURS = "We are open from 9 to 17, Monday to Friday. On Saturdays we open at 10."


async def chunk_rows(db: Database, doc_id: int) -> list[tuple[str, int]]:
    rows = await db.fetch_all(
        "SELECT text, assistant_id FROM knowledge_chunks WHERE doc_id = ? ORDER BY rowid",
        (doc_id,),
    )
    return [(str(r["text"]), int(r["assistant_id"])) for r in rows]


async def test_a_document_is_stored_and_indexed_in_passages(make_kb: KbFactory) -> None:
    kb = await make_kb()
    body = "\n\n".join(f"Paragraph {n}. " + "Some words about the shop. " * 20 for n in range(5))
    doc_id = await kb.repo.add_document(kb.org.id, kb.assistant.id, " Shop guide ", body)
    doc = await kb.repo.get(kb.org.id, doc_id)
    assert (doc.kind, doc.title, doc.body) == ("document", "Shop guide", body.strip())
    assert (doc.org_id, doc.assistant_id) == (kb.org.id, kb.assistant.id)
    rows = await chunk_rows(kb.db, doc_id)
    assert len(rows) >= 3
    for text, assistant_id in rows:
        assert assistant_id == kb.assistant.id
        assert text.startswith("Shop guide\n")
    assert await kb.repo.passages(kb.org.id, doc_id) == [text for text, _ in rows]


async def test_a_qa_pair_is_one_passage_and_keeps_its_answer(make_kb: KbFactory) -> None:
    kb = await make_kb()
    qa_id = await kb.repo.add_qa(kb.org.id, kb.assistant.id, "Do you deliver?", "Yes, daily.")
    doc = await kb.repo.get(kb.org.id, qa_id)
    assert (doc.kind, doc.title, doc.body) == ("qa", "Do you deliver?", "Yes, daily.")
    assert await chunk_rows(kb.db, qa_id) == [("Do you deliver?\nYes, daily.", kb.assistant.id)]


async def test_list_shows_one_assistants_documents_without_bodies(make_kb: KbFactory) -> None:
    kb = await make_kb()
    other_assistant = await kb.another_assistant()
    other_org = await make_kb(kb.db)
    hours = await kb.repo.add_document(kb.org.id, kb.assistant.id, "opening hours", HOURS)
    faq = await kb.repo.add_qa(kb.org.id, kb.assistant.id, "Do you deliver?", "Yes.")
    about = await kb.repo.add_document(kb.org.id, kb.assistant.id, "About us", "Since 1990.")
    await kb.repo.add_document(kb.org.id, other_assistant.id, "Other", "Not listed.")
    await other_org.repo.add_document(other_org.org.id, other_org.assistant.id, "X", "Not.")
    listed = await kb.repo.list(kb.org.id, kb.assistant.id)
    assert [(d.id, d.kind, d.title) for d in listed] == [
        (about, "document", "About us"),
        (hours, "document", "opening hours"),
        (faq, "qa", "Do you deliver?"),
    ]
    assert listed[1] == KnowledgeDocInfo(
        id=hours, org_id=kb.org.id, assistant_id=kb.assistant.id, kind="document",
        title="opening hours", chars=len(HOURS), created_at=listed[1].created_at,
    )
    assert not hasattr(listed[1], "body")
    # another org cannot list this assistant's knowledge, even knowing its id
    assert await other_org.repo.list(other_org.org.id, kb.assistant.id) == []


async def test_other_orgs_cannot_read_add_or_delete(make_kb: KbFactory) -> None:
    kb = await make_kb()
    intruder = await make_kb(kb.db)
    doc_id = await kb.repo.add_document(kb.org.id, kb.assistant.id, "Hours", HOURS)
    with pytest.raises(NotFound):
        await intruder.repo.get(intruder.org.id, doc_id)
    with pytest.raises(NotFound):
        await intruder.repo.passages(intruder.org.id, doc_id)
    assert await intruder.repo.delete(intruder.org.id, doc_id) is False
    with pytest.raises(NotFound):  # adding to an assistant of another org
        await intruder.repo.add_document(intruder.org.id, kb.assistant.id, "Spam", "Buy now.")
    with pytest.raises(NotFound):
        await intruder.repo.add_qa(intruder.org.id, kb.assistant.id, "Q?", "A.")
    assert await kb.db.fetch_value("SELECT count(*) FROM knowledge_docs") == 1
    assert await kb.db.fetch_value("SELECT count(*) FROM knowledge_chunks") == 1
    assert (await kb.repo.get(kb.org.id, doc_id)).body == HOURS


async def test_delete_removes_the_document_and_its_passages(make_kb: KbFactory) -> None:
    kb = await make_kb()
    keep = await kb.repo.add_qa(kb.org.id, kb.assistant.id, "Parking?", "Free parking.")
    doc_id = await kb.repo.add_document(kb.org.id, kb.assistant.id, "Hours", HOURS * 20)
    assert len(await chunk_rows(kb.db, doc_id)) > 1
    assert await kb.repo.delete(kb.org.id, doc_id) is True
    assert await kb.repo.delete(kb.org.id, doc_id) is False
    assert await chunk_rows(kb.db, doc_id) == []
    with pytest.raises(NotFound):
        await kb.repo.get(kb.org.id, doc_id)
    assert len(await chunk_rows(kb.db, keep)) == 1


async def test_passages_go_when_the_assistant_or_org_is_deleted(make_kb: KbFactory) -> None:
    kb = await make_kb()
    doc_id = await kb.repo.add_document(kb.org.id, kb.assistant.id, "Hours", HOURS)
    await AssistantRepository(kb.db).delete(kb.org.id, kb.assistant.id)
    assert await chunk_rows(kb.db, doc_id) == []
    other = await make_kb(kb.db)
    await other.repo.add_qa(other.org.id, other.assistant.id, "Parking?", "Free.")
    await kb.db.execute("DELETE FROM orgs WHERE id = ?", (other.org.id,))
    assert await kb.db.fetch_value("SELECT count(*) FROM knowledge_chunks") == 0
    assert await OrgRepository(kb.db).get(kb.org.id) is not None


@pytest.mark.parametrize(
    ("title", "body"), [("", "text"), ("  ", "text"), ("Title", ""), ("Title", " \n "),
                        ("T" * 301, "text")],
)
async def test_empty_or_oversized_fields_are_refused(
    make_kb: KbFactory, title: str, body: str
) -> None:
    kb = await make_kb()
    with pytest.raises(ValueError):
        await kb.repo.add_document(kb.org.id, kb.assistant.id, title, body)
    with pytest.raises(ValueError):
        await kb.repo.add_qa(kb.org.id, kb.assistant.id, title, body)
    assert await kb.repo.list(kb.org.id, kb.assistant.id) == []


async def test_a_large_document_is_chunked_off_the_event_loop(make_kb: KbFactory) -> None:
    kb = await make_kb()
    paragraph = "The warranty covers parts and labour for two years after purchase. " * 8
    body = "\n\n".join(f"Section {n}. {paragraph}" for n in range(1500))  # about 850 KB
    doc_id = await kb.repo.add_document(kb.org.id, kb.assistant.id, "Warranty", body)
    count = await kb.db.fetch_value(
        "SELECT count(*) FROM knowledge_chunks WHERE doc_id = ?", (doc_id,)
    )
    assert count >= 1000  # the loop watchdog fails this test if the loop was blocked
