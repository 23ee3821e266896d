"""The dual prompt, feedback turns and answer parsing."""
import pytest

from reid_plugins.captioning.prompts import (MalformedAnswer, build_messages, describe_prompt, feedback_message,
                                             parse_answer)
from reid_plugins.captioning.validation import Problem


@pytest.mark.parametrize("text", [
    '{"identity_description": "A tall man.", "clothing_description": "A red coat."}',
    '```json\n{"identity_description": "A tall man.", "clothing_description": "A red coat."}\n```',
    'Here you go:\n{"Identity": "A tall man.", "clothing": "A red coat."}\nHope this helps!',
    "Identity description: A tall man.\nClothing description: A red coat.",
    '**identity_description**: "A tall man."\n**clothing_description**: "A red coat."',
])
def test_parse_answer_accepts_json_and_labelled_forms(text):
    assert parse_answer(text) == ("A tall man.", "A red coat.")


@pytest.mark.parametrize("text,match", [
    ('{"identity_description": "A tall man."}', "clothing_description"),
    ('{"identity_description": 3, "clothing_description": "A red coat."}', "identity_description"),
    ("A tall man in a red coat.", "not the JSON object"),
    ("", "not the JSON object"),
])
def test_parse_answer_rejects_other_forms(text, match):
    with pytest.raises(MalformedAnswer, match=match):
        parse_answer(text)


def test_prompt_has_both_descriptions_attributes_and_exemplars():
    p = describe_prompt(["gender", "body type"], ["colour", "material"], 25, ["Ex one [color].", "Ex two."])
    assert "(gender, body type)" in p and "(colour, material)" in p and "about 25 words" in p
    assert "- Ex one [color].\n- Ex two.\n" in p
    assert p.rstrip().endswith('{"identity_description": "...", "clothing_description": "..."}')
    assert "style" not in describe_prompt(["gender"], ["colour"], 25)  # no exemplars, no style instruction
    msgs = build_messages(p, "data:image/png;base64,AAAA")
    assert msgs[0]["role"] == "system"
    assert msgs[1]["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    fb = feedback_message([Problem("x", "too_short", "the identity description has 2 words; write at least 5")])
    assert fb["role"] == "user" and "has 2 words; write at least 5" in fb["content"]
