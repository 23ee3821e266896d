"""Generation against a real loopback OpenAI-compatible server: good, malformed, refusing, 429, 5xx, slow answers;
feedback retries; journal; output annotation JSON readable by the T2I datasets."""
import base64
import json
import os

import pytest

from captioning_fake_server import (FakeChatServer, Reply, all_text, completion, descriptions, error,
                                    image_digest)
from captioning_fixtures import good_descriptions, index_of, make_dataset
from reid_plugins.captioning.annotations import load_annotations
from reid_plugins.utils.mllm_client import MLLMClient
from reid_plugins.captioning.config import get_captioning_cfg
from reid_plugins.captioning.generate import (DescriptionGenerator, generate_descriptions, merge_into_annotations,
                                              summarize)
from reid_plugins.utils.journal import Journal
from reid_plugins.captioning.runner import FatalServerError
from reid_plugins.captioning.style_bank import StyleBank

KEY_ENV = "CAPTIONING_TEST_KEY"
SECRET = "sk-test-do-not-write-me-0123456789"


@pytest.fixture
def data(tmp_path):
    ann, digests = make_dataset(str(tmp_path), n=6)
    return ann, digests, str(tmp_path)


def _run(tmp_path, data, respond, *, timeout=5.0, max_retries=2, opts=(), bank=None, workers=2, journal_name="j"):
    ann, digests, root = data
    cfg = get_captioning_cfg(opts=list(opts))
    entries = load_annotations(ann)
    with FakeChatServer(respond, item_of=lambda b: digests.get(image_digest(b))) as server:
        client = MLLMClient("test-model", base_url=server.url, api_key_env=KEY_ENV, timeout=timeout,
                           max_retries=max_retries)
        with Journal(str(tmp_path / f"{journal_name}.jsonl")) as journal:
            run = generate_descriptions(entries, root, DescriptionGenerator(client, cfg, bank), journal,
                                        workers=workers, progress=False)
            done = dict(journal.done)
        client.close()
    return server, run, done, client, entries


def test_good_server_generates_every_image_with_one_request_each(tmp_path, data, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    digests = data[1]

    def respond(body, n):
        return descriptions(*good_descriptions(index_of(digests[image_digest(body)])))

    server, run, done, client, entries = _run(tmp_path, data, respond, opts=["PROMPT.TEMPERATURE", "0.3",
                                                                              "PROMPT.MAX_TOKENS", "123",
                                                                              "PROMPT.JSON_MODE", "True"])
    assert run.finished == 6 and not run.failed
    assert sorted(server.per_item.values()) == [1] * 6 and client.requests_sent == 6
    assert all(r["status"] == "generated" and r["attempts"] == 1 for r in done.values())
    assert done["imgs/train/0003.png"]["clothing_description"] == good_descriptions(3)[1]
    body = server.requests[0]
    assert body["model"] == "test-model" and body["temperature"] == 0.3 and body["max_tokens"] == 123
    assert body["response_format"] == {"type": "json_object"}
    assert server.headers[0]["authorization"] == f"Bearer {SECRET}"  # the key comes from the named env var
    # The image travels as a base64 data URL of the file's bytes.
    url = body["messages"][1]["content"][1]["image_url"]["url"]
    rel = digests[image_digest(body)]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == open(os.path.join(data[2], rel), "rb").read()
    text = all_text(body)
    assert "identity_description" in text and "gender" in text and "Do not mention clothing" in text
    # The secret never reaches the journal.
    assert SECRET not in open(tmp_path / "j.jsonl").read()


def test_output_annotation_is_read_by_the_t2i_datasets(tmp_path, data, monkeypatch):
    from reid_plugins.data.t2i import load_annotations as t2i_load

    digests = data[1]
    refuse = "imgs/train/0002.png"

    def respond(body, n):
        rel = digests[image_digest(body)]
        if rel == refuse:
            return completion("I'm sorry, but I can't help with identifying people in images.")
        return descriptions(*good_descriptions(index_of(rel)))

    server, run, done, client, entries = _run(tmp_path, data, respond)
    assert server.per_item[refuse] == 3  # VALIDATION.MAX_ATTEMPTS
    assert done[refuse]["status"] == "rejected" and done[refuse]["problems"][0]["code"] == "refusal"
    out = merge_into_annotations(entries, done)
    path = tmp_path / "out.json"
    path.write_text(json.dumps(out))
    parsed = t2i_load(str(path), image_key="file_path", image_root=data[2], check_images=True)
    by_path = {e.rel_path: e for e in parsed}
    assert by_path["imgs/train/0001.png"].identity_description == good_descriptions(1)[0]
    assert by_path["imgs/train/0001.png"].clothing_description == good_descriptions(1)[1]
    assert by_path[refuse].identity_description is None  # rejected: marked, no unvalidated text for the trainer
    summary = summarize([e["file_path"] for e in entries], done, run, client.requests_sent, None)
    assert (summary["generated"], summary["rejected"], summary["retried"]) == (5, 1, 1)
    assert summary["rejected_items"][0]["file_path"] == refuse


def test_malformed_answer_and_missing_part_are_retried_with_feedback(tmp_path, data):
    digests = data[1]

    def respond(body, n):
        i = index_of(digests[image_digest(body)])
        if i == 0 and n == 1:
            return completion("Sure! The person is a woman in a jacket.")  # not the JSON object
        if i == 1 and n == 1:
            return completion('{"identity_description": "A young', finish_reason="length")  # cut off
        if i == 3 and n == 1:
            ident, _ = good_descriptions(3)
            return descriptions(ident, "She wears a red jacket with jeans.")  # no hair, shoes, backpack
        return descriptions(*good_descriptions(i))

    server, run, done, client, _ = _run(tmp_path, data, respond, workers=1)
    assert done["imgs/train/0000.png"]["attempts"] == 2 and done["imgs/train/0000.png"]["status"] == "generated"
    assert done["imgs/train/0003.png"]["attempts"] == 2
    retry1 = [b for b in server.requests if digests[image_digest(b)] == "imgs/train/0001.png"][1]
    assert "cut off; write shorter" in retry1["messages"][3]["content"]
    retry0 = [b for b in server.requests if digests[image_digest(b)] == "imgs/train/0000.png"][1]
    assert [m["role"] for m in retry0["messages"]] == ["system", "user", "assistant", "user"]
    assert "not the JSON object" in retry0["messages"][3]["content"]
    retry3 = [b for b in server.requests if digests[image_digest(b)] == "imgs/train/0003.png"][1]
    feedback = retry3["messages"][3]["content"]
    assert "the head" in feedback and "the shoes" in feedback and "the accessories" in feedback
    assert "upper-body" not in feedback  # the jacket was there


def test_429_5xx_slow_and_broken_http_answers_are_retried(tmp_path, data):
    digests = data[1]

    def respond(body, n):
        i = index_of(digests[image_digest(body)])
        if n == 1 and i == 0:
            return error(429, {"retry-after-ms": "10"})
        if n == 1 and i == 1:
            return error(500, {"retry-after-ms": "10"})
        if n == 1 and i == 2:
            return Reply(delay=3.0, body=b"{}")  # slower than the client's timeout
        if n == 1 and i == 3:
            return Reply(body=b"this is not json")  # a 200 that is not a chat completion
        return descriptions(*good_descriptions(i))

    server, run, done, client, _ = _run(tmp_path, data, respond, timeout=1.5, workers=2)
    assert run.finished == 6 and not run.failed
    counts = {digests_key: server.per_item[digests_key] for digests_key in server.per_item}
    assert [counts[f"imgs/train/{i:04d}.png"] for i in range(6)] == [2, 2, 2, 2, 1, 1]
    assert client.requests_sent == 10
    # 429 / 500 / timeout are retried inside the client (one attempt for the model); the broken 200 is a
    # second attempt of the generator, sent with the same messages (no feedback: the model did nothing wrong).
    assert [done[f"imgs/train/{i:04d}.png"]["attempts"] for i in range(6)] == [1, 1, 1, 2, 1, 1]
    broken = [b for b in server.requests if digests[image_digest(b)] == "imgs/train/0003.png"]
    assert broken[0]["messages"] == broken[1]["messages"]


def test_server_errors_after_retries_leave_items_unfinished_and_a_rerun_finishes_them(tmp_path, data):
    digests = data[1]

    def failing(body, n):
        i = index_of(digests[image_digest(body)])
        return error(503, {"retry-after-ms": "1"}) if i in (1, 4) else descriptions(*good_descriptions(i))

    server, run, done, _, _ = _run(tmp_path, data, failing, max_retries=1)
    assert sorted(run.failed) == ["imgs/train/0001.png", "imgs/train/0004.png"]
    assert "InternalServerError" in run.failed["imgs/train/0001.png"]
    assert server.per_item["imgs/train/0001.png"] == 2 and len(done) == 4

    def good(body, n):
        return descriptions(*good_descriptions(index_of(digests[image_digest(body)])))

    server, run, done, _, _ = _run(tmp_path, data, good)  # same journal: resume
    assert run.skipped == 4 and run.finished == 2 and len(done) == 6
    assert sorted(server.per_item) == ["imgs/train/0001.png", "imgs/train/0004.png"]  # nothing finished re-sent


@pytest.mark.parametrize("workers", [1, 2])
def test_wrong_key_stops_the_run(tmp_path, data, workers):
    sent = []

    def refuse(body, n):
        sent.append(n)
        return error(401)

    with pytest.raises(FatalServerError, match="401.*api-key-env"):
        _run(tmp_path, data, refuse, workers=workers)
    assert len(sent) == workers  # no retry on 401 and nothing sent after it: only the requests already running


def test_style_exemplars_of_the_assigned_cluster_are_in_the_prompt(tmp_path, data):
    digests = data[1]
    bank = StyleBank([{"id": 0, "size": 3, "exemplars": ["Style zero [color] [upper] one.",
                                                         "Style zero two.", "Style zero three."]},
                      {"id": 1, "size": 3, "exemplars": ["Other style A.", "Other style B.", "Other style C."]}])

    def respond(body, n):
        return descriptions(*good_descriptions(index_of(digests[image_digest(body)])))

    server, run, done, _, _ = _run(tmp_path, data, respond, bank=bank, opts=["PROMPT.NUM_EXEMPLARS", "2"])
    for body in server.requests:
        rel = digests[image_digest(body)]
        cluster, exemplars = bank.choose(rel, 2, seed=0)
        assert done[rel]["style_cluster"] == cluster
        text = all_text(body)
        assert all(f"- {e}" in text for e in exemplars)
        other = bank.clusters[1 - cluster]["exemplars"]
        assert not any(e in text for e in other)
    assert {r["style_cluster"] for r in done.values()} == {0, 1}  # 6 images spread over both styles
