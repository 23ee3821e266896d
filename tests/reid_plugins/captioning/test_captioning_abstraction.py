"""Style abstraction: the offline lexical form (known answers) and the LLM rewrite against a loopback server
(distinct captions sent once, failures fall back to the lexical form, a second call re-sends nothing)."""
from captioning_fake_server import FakeChatServer, all_text, completion
from reid_plugins.captioning.abstraction import lexical_abstract, llm_abstract
from reid_plugins.utils.mllm_client import MLLMClient
from reid_plugins.utils.journal import Journal


def test_lexical_abstraction_keeps_structure_and_drops_content():
    assert lexical_abstract("A man with short black hair wears a white T-shirt, grey shorts and black boots.") == \
        "A [person] with [attribute] [color] [head] wears a [color] [upper], [color] [lower] and [color] [shoes]."
    assert lexical_abstract("Subject: female; Height: tall; Carrying: red backpack.") == \
        "Subject: [person]; Height: [attribute]; Carrying: [color] [accessories]."
    assert lexical_abstract("She is 25 and sits on top of a wall.") == \
        "[pronoun] is [number] and sits on top of a wall."
    # Two captions that differ only in content collapse to the same style text.
    assert lexical_abstract("A woman in a blue coat and jeans.") == \
        lexical_abstract("A man in a red jacket and shorts.")


def test_llm_abstraction_is_journaled_and_falls_back(tmp_path):
    caps = ["A man in a red coat.", "A woman in a blue skirt.", "A man in a red coat.", "Keywords: male, tall."]

    def item_of(body):
        return all_text(body).rsplit("Description: ", 1)[1]

    def respond(body, n):
        cap = item_of(body)
        if cap.startswith("A woman"):
            return completion("I'm sorry, I can't help with that.")
        return completion({"A man in a red coat.": "A [person] in a [color] [garment].",
                           "Keywords: male, tall.": "Keywords: [gender], [height]."}[cap])

    with FakeChatServer(respond, item_of=item_of) as server:
        client = MLLMClient("m", base_url=server.url)
        with Journal(str(tmp_path / "abs.jsonl")) as j:
            out = llm_abstract(caps, client, j, progress=False)
        assert out == ["A [person] in a [color] [garment].", "A [person] in a [color] [lower].",
                       "A [person] in a [color] [garment].", "Keywords: [gender], [height]."]
        assert sorted(server.per_item.values()) == [1, 1, 1]  # the repeated caption was sent once
        assert "keeps its sentence structure" in all_text(server.requests[0])
        with Journal(str(tmp_path / "abs.jsonl")) as j:
            assert llm_abstract(caps, client, j, progress=False) == out
        assert len(server.requests) == 3  # resumed: nothing re-sent (the rejected caption is finished, marked)
        client.close()
