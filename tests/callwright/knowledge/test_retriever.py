"""Knowledge search on real SQLite FTS5: ranking, safe queries, FAQ answers, isolation."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwright.dialog.prompt import Passage
from callwright.knowledge.retriever import KnowledgeRetriever, build_match_query
from tests.callwright.knowledge.factories import Kb, KbFactory

DOCS = {
    "Opening hours": "We are open from 9 am to 5 pm, Monday to Friday. On Saturdays we open "
    "at 10 am. We are closed on Sundays and public holidays.",
    "Parking": "Free parking is available behind the building for up to two hours. The "
    "garage entrance is on Elm Street.",
    "Returns and refunds": "You can return any item within 30 days with the receipt. Refunds "
    "are paid to the original card within five working days.",
    "Delivery": "We deliver within the city every day except Sunday. Delivery is free for "
    "orders over 50 dollars.",
    "About us": "The shop was founded in 1990 by two brothers and has sold bicycles, parts and "
    "repairs ever since.",
}
KO_DOCS = {
    "영업시간": "영업시간은 평일 오전 9시부터 오후 6시까지입니다. "
    "토요일은 오후 1시까지 영업합니다.",
    "주차 안내": "건물 뒤편 주차장에서 2시간 무료 주차가 가능합니다.",
    "환불 규정": "구매 후 30일 이내에 영수증을 지참하시면 환불해 드립니다.",
}


async def stocked(make_kb: KbFactory) -> Kb:
    kb = await make_kb()
    for title, body in {**DOCS, **KO_DOCS}.items():
        await kb.repo.add_document(kb.org.id, kb.assistant.id, title, body)
    await kb.repo.add_qa(
        kb.org.id, kb.assistant.id, "Do you repair electric bikes?",
        "Yes, we repair all electric bikes; book a slot by phone.",
    )
    await kb.repo.add_qa(
        kb.org.id, kb.assistant.id, "Can I pay with a credit card?", "Yes, all major cards."
    )
    return kb


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("When do you open on Saturday?", "Opening hours"),
        ("Is there parking near the shop?", "Parking"),
        ("I want a refund for my order", "Returns and refunds"),
        ("Do you deliver on Sundays?", "Delivery"),
        ("who founded the shop", "About us"),
        ("영업시간이 어떻게 되나요?", "영업시간"),
        ("주차는 무료인가요", "주차 안내"),
        ("환불 받을 수 있나요?", "환불 규정"),
    ],
)
async def test_the_relevant_passage_ranks_first(
    make_kb: KbFactory, query: str, title: str
) -> None:
    kb = await stocked(make_kb)
    found = await KnowledgeRetriever(kb.db, kb.assistant.id).search(query)
    assert found, query
    assert found[0].source == title
    assert found[0].text == {**DOCS, **KO_DOCS}[title]  # the passage, without its title line


async def test_results_are_limited_and_qa_pairs_are_passages_too(make_kb: KbFactory) -> None:
    kb = await stocked(make_kb)
    retriever = KnowledgeRetriever(kb.db, kb.assistant.id, limit=2)
    found = await retriever.search("open shop bikes repair sunday delivery parking")
    assert len(found) == 2
    qa = await retriever.search("repair my electric bike")
    assert qa[0] == Passage(
        "Do you repair electric bikes?\nYes, we repair all electric bikes; book a slot by phone."
    )


@pytest.mark.parametrize(
    "query",
    [
        'AND OR NEAR * " ( ) : ^',
        '" OR 1=1 --',
        "text:parking",
        "NEAR(parking refund, 2)",
        "parking* AND NOT refund",
        '"parking',
        "^parking",
        "{text}: parking",
        "park\x00ing",
    ],
)
async def test_fts_syntax_in_a_query_is_harmless(make_kb: KbFactory, query: str) -> None:
    kb = await stocked(make_kb)
    found = await KnowledgeRetriever(kb.db, kb.assistant.id).search(query)
    if "parking" in query:
        assert found and found[0].source == "Parking"


async def test_queries_without_search_words_find_nothing(make_kb: KbFactory) -> None:
    kb = await stocked(make_kb)
    retriever = KnowledgeRetriever(kb.db, kb.assistant.id)
    for query in ["", "   ", "what is the", "AND OR NOT", "*** ((( )))", "음 저 그냥 좀"]:
        assert await retriever.search(query) == []
    assert await retriever.best_faq_answer("what is the") is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_makes_a_valid_match_query(text: str) -> None:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize = 'unicode61')")
        conn.execute("INSERT INTO t (text) VALUES ('opening hours parking 영업시간은 9시')")
        query = build_match_query(text)
        if query:
            conn.execute("SELECT count(*) FROM t WHERE t MATCH ?", (query,)).fetchone()
    finally:
        conn.close()


async def test_assistants_and_orgs_never_see_each_others_knowledge(make_kb: KbFactory) -> None:
    kb = await make_kb()
    sibling = await kb.another_assistant()
    other = await make_kb(kb.db)
    await kb.repo.add_document(kb.org.id, kb.assistant.id, "Parking", DOCS["Parking"])
    await kb.repo.add_document(kb.org.id, sibling.id, "Secret", "The vault code is kept here.")
    await other.repo.add_document(
        other.org.id, other.assistant.id, "Rival parking", "Parking costs 5 dollars per vault."
    )
    await other.repo.add_qa(other.org.id, other.assistant.id, "Parking?", "Rival parking.")
    mine = KnowledgeRetriever(kb.db, kb.assistant.id, org_id=kb.org.id)
    assert [p.source for p in await mine.search("parking vault code dollars")] == ["Parking"]
    assert await mine.best_faq_answer("parking") is None
    assert [p.source for p in await KnowledgeRetriever(kb.db, sibling.id).search("parking vault")] \
        == ["Secret"]
    theirs = KnowledgeRetriever(kb.db, other.assistant.id)
    assert {p.source for p in await theirs.search("parking vault")} == {"Rival parking", None}
    # the right assistant id with the wrong org finds nothing
    assert await KnowledgeRetriever(kb.db, kb.assistant.id, org_id=other.org.id).search(
        "parking"
    ) == []


async def test_deleted_documents_are_no_longer_found(make_kb: KbFactory) -> None:
    kb = await make_kb()
    doc_id = await kb.repo.add_document(kb.org.id, kb.assistant.id, "Parking", DOCS["Parking"])
    retriever = KnowledgeRetriever(kb.db, kb.assistant.id)
    assert await retriever.search("parking")
    await kb.repo.delete(kb.org.id, doc_id)
    assert await retriever.search("parking") == []


async def test_best_faq_answer_answers_from_qa_pairs_only(make_kb: KbFactory) -> None:
    kb = await stocked(make_kb)
    retriever = KnowledgeRetriever(kb.db, kb.assistant.id)
    found = await retriever.best_faq_answer("Can I pay by credit card?")
    assert found is not None
    answer, score = found
    assert answer == "Yes, all major cards."
    assert score == 1.0  # "pay", "credit", "card": all in the pair
    partly = await retriever.best_faq_answer("do you repair scooters", min_score=0.4)
    assert partly is not None and partly[0].startswith("Yes, we repair")
    assert partly[1] == pytest.approx(0.5)  # "repair" found, "scooter" not
    assert await retriever.best_faq_answer("do you repair scooters", min_score=0.6) is None
    # a question only a document answers is no FAQ answer
    assert await retriever.best_faq_answer("free parking behind the building") is None


async def test_a_qa_pair_in_korean(make_kb: KbFactory) -> None:
    kb = await make_kb()
    await kb.repo.add_qa(
        kb.org.id, kb.assistant.id, "배달이 되나요?", "네, 시내는 매일 배달합니다."
    )
    await kb.repo.add_qa(kb.org.id, kb.assistant.id, "주차장이 있나요?", "건물 뒤에 있습니다.")
    found = await KnowledgeRetriever(kb.db, kb.assistant.id).best_faq_answer("배달 가능해요?")
    assert found is not None and found[0] == "네, 시내는 매일 배달합니다."
