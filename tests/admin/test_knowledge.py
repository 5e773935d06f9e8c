"""Knowledge in the admin: documents and Q&A pairs go into the store the call path searches."""

from __future__ import annotations

from aiohttp import FormData

from callwright.dialog.prompt import Passage
from callwright.knowledge.retriever import KnowledgeRetriever
from tests.admin.conftest import AdminFactory


async def test_knowledge_upload_list_search_delete(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    form = FormData()
    form.add_field("_csrf", await editor.csrf())
    form.add_field("title", "")
    form.add_field(
        "file",
        b"Parking is free behind the building.\n\nWe close at six.",
        filename="faq.txt",
        content_type="text/plain",
    )
    uploaded = await editor.client.post(
        f"/assistants/{org.assistant_id}/knowledge", data=form, allow_redirects=False
    )
    assert uploaded.status == 303, await uploaded.text()
    docs = await (await editor.api("GET", f"/assistants/{org.assistant_id}/knowledge")).json()
    titles = {d["title"]: d["id"] for d in docs["documents"]}
    assert set(titles) == {"Hours", "faq.txt"}
    assert {d["kind"] for d in docs["documents"]} == {"document"}
    retriever = KnowledgeRetriever(admin.db, org.assistant_id, org_id=org.id)
    assert await retriever.search("where is the parking") == [
        Passage("Parking is free behind the building.\n\nWe close at six.", "faq.txt")
    ]
    shown = await editor.client.get(f"/assistants/{org.assistant_id}/knowledge/{titles['faq.txt']}")
    assert shown.status == 200 and "Indexed passages (1)" in await shown.text()
    binary = FormData()
    binary.add_field("_csrf", await editor.csrf())
    binary.add_field("file", b"\xff\xfe\x00bin", filename="x.pdf", content_type="application/pdf")
    refused = await editor.client.post(f"/assistants/{org.assistant_id}/knowledge", data=binary)
    assert refused.status == 400
    not_utf8 = FormData()
    not_utf8.add_field("_csrf", await editor.csrf())
    not_utf8.add_field("file", b"caf\xe9 menu", filename="menu.txt", content_type="text/plain")
    refused = await editor.client.post(f"/assistants/{org.assistant_id}/knowledge", data=not_utf8)
    assert refused.status == 400 and "not UTF-8" in await refused.text()
    deleted = await editor.post_form(
        f"/assistants/{org.assistant_id}/knowledge/{titles['faq.txt']}/delete"
    )
    assert deleted.status == 303
    assert await retriever.search("where is the parking") == []


async def test_a_document_added_through_the_api_is_found_by_the_call_paths_retriever(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    editor = await admin.login(org.users["editor"])
    body = (
        "Refund policy\n\nWe refund unused tickets up to 48 hours before the show.\n\n"
        "Lost property is kept at the box office for thirty days."
    )
    added = await editor.api(
        "POST",
        f"/assistants/{org.assistant_id}/knowledge",
        {"title": "Box office rules", "body": body},
    )
    assert added.status == 201, await added.text()
    doc_id = (await added.json())["id"]
    retriever = KnowledgeRetriever(admin.db, org.assistant_id, org_id=org.id)
    found = await retriever.search("can I get a refund for my tickets?")
    assert found and found[0].source == "Box office rules"
    assert "refund unused tickets" in found[0].text
    # Only this assistant of this org finds it.
    assert await KnowledgeRetriever(admin.db, other.assistant_id).search("refund tickets") == []
    foreign = await editor.api(
        "POST", f"/assistants/{other.assistant_id}/knowledge", {"title": "T", "body": "x"}
    )
    assert foreign.status == 404
    empty = await editor.api(
        "POST", f"/assistants/{org.assistant_id}/knowledge", {"title": "T", "body": "   "}
    )
    assert empty.status == 400 and (await empty.json())["error"]["field"] == "body"
    detail = await (
        await editor.api("GET", f"/assistants/{org.assistant_id}/knowledge/{doc_id}")
    ).json()
    assert detail["body"] == body and detail["passages"][0].startswith("Box office rules\n")
    wrong_assistant = await editor.api(
        "POST", f"/assistants/{other.assistant_id}/knowledge/{doc_id}/delete"
    )
    assert wrong_assistant.status == 404
    assert len(await retriever.search("refund tickets")) == 1


async def test_questions_and_answers_from_the_form_answer_callers(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    page = await (await editor.client.get(f"/assistants/{org.assistant_id}/knowledge")).text()
    assert f'action="/assistants/{org.assistant_id}/knowledge/qa"' in page
    added = await editor.post_form(
        f"/assistants/{org.assistant_id}/knowledge/qa",
        {"question": "Do you deliver?", "answer": "Yes, anywhere in the city, for free."},
    )
    assert added.status == 303
    page = await (await editor.client.get(f"/assistants/{org.assistant_id}/knowledge")).text()
    questions = page.split("<h2>Questions and answers</h2>")[1]
    assert "Do you deliver?" in questions and "Hours" not in questions
    retriever = KnowledgeRetriever(admin.db, org.assistant_id, org_id=org.id)
    answer = await retriever.best_faq_answer("do you deliver to my house")
    assert answer is not None and answer[0] == "Yes, anywhere in the city, for free."
    missing = await editor.api(
        "POST", f"/assistants/{org.assistant_id}/knowledge/qa", {"question": "Why?", "answer": ""}
    )
    assert missing.status == 400 and "answer" in (await missing.json())["error"]["message"]
    listed = await (await editor.api("GET", f"/assistants/{org.assistant_id}/knowledge")).json()
    kinds = {d["title"]: d["kind"] for d in listed["documents"]}
    assert kinds == {"Hours": "document", "Do you deliver?": "qa"}
    viewer = await admin.login(org.users["viewer"])
    assert (await viewer.client.get(f"/assistants/{org.assistant_id}/knowledge")).status == 403
    refused = await viewer.api(
        "POST", f"/assistants/{org.assistant_id}/knowledge/qa", {"question": "Q?", "answer": "A"}
    )
    assert refused.status == 403
