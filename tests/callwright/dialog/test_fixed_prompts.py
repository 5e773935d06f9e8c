from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.dialog.fixed_prompts import fixed_prompts


def test_every_text_of_the_demo_flow_once() -> None:
    texts = fixed_prompts(DEMO_FLOW)
    greet = DEMO_FLOW["nodes"]["greet"]
    assert texts[0] == greet["prompt"]
    assert greet["reprompt"] in texts
    assert DEMO_FLOW["nodes"]["booked"]["text"] in texts
    assert len(texts) == len(set(texts))


def test_garbage_definitions_give_nothing() -> None:
    assert fixed_prompts({}) == []
    assert fixed_prompts({"nodes": {"a": "not a node", "b": {"text": "  "}}}) == []
