"""Known answers of the syntax, refusal, decoupling and attribute-coverage checks and of the part lexicon."""
import pytest

from reid_plugins.captioning.lexicon import parts_mentioned
from reid_plugins.captioning.validation import (CLOTHING, IDENTITY, check_coverage, check_syntax, is_refusal,
                                                validate_descriptions, word_count)

GOOD_ID = "A young woman of average height with a slim build and an upright posture."
GOOD_CLO = "She has long black hair and wears a red jacket, blue jeans and white sneakers, carrying a grey backpack."


def codes(problems):
    return [p.code for p in problems]


@pytest.mark.parametrize("text,expected", [
    (GOOD_ID, []),
    ("", ["empty"]),
    ("   ", ["empty"]),
    ("A tall man.", ["too_short"]),
    ("a young woman with a slim build walking fast", ["not_sentence"]),
    ("A young woman with a slim build walking fast", ["not_sentence"]),
    ("- A young woman\n- slim build and average height.", ["list_form"]),
    ("1. A young woman with a slim build and average height.", ["list_form"]),
    ("A [gender] of [age] with a slim build and average height.", ["template_slot"]),
    ("I'm sorry, but I can't help with identifying people.", ["refusal"]),
    ("I can\u2019t describe the person in this image, sorry.", ["refusal"]),
    ("As an AI model I cannot determine gender from images.", ["refusal"]),
    (" ".join(["word"] * 81).capitalize() + ".", ["too_long"]),
    ('"A young woman with a slim build and average height."', []),  # quoted sentence is still a sentence
])
def test_syntax_known_answers(text, expected):
    assert codes(check_syntax(IDENTITY, text, min_words=5, max_words=80)) == expected


def test_refusal_detector_does_not_flag_descriptions():
    assert not is_refusal("I can see a man who is able to walk quickly; he wears a cap.")
    assert not is_refusal("The woman is carrying a bag she cannot close.")
    assert is_refusal("I am unable to identify people.")
    assert word_count("A t-shirt, the man's hat.") == 5


@pytest.mark.parametrize("text,parts", [
    ("A man with short black hair wears a white T-shirt, grey shorts and black boots.",
     {"head", "upper", "lower", "shoes"}),
    ("She carries a red handbag and wears sunglasses.", {"accessories"}),
    ("The woman wears a long blue dress.", {"upper", "lower"}),
    ("He is sitting on top of a wall.", set()),
    ("A person in a grey tank top and leggings with high heels.", {"upper", "lower", "shoes"}),
    ("A man in a baseball cap and sneakers.", {"head", "shoes"}),
    # Negated mentions do not count.
    ("A man in a coat, no bag of any kind is visible, not wearing a hat.", {"upper"}),
    ("Headwear: none; Upper: red jacket; Carrying: nothing; Bag: none.", {"upper"}),
    ("He carries no bag, but a black umbrella.", {"accessories"}),
    ("She has no hat and wears a red coat.", {"upper"}),
    ("no hat / brown plaid t-shirt / grey rucksack", {"upper", "accessories"}),
])
def test_parts_mentioned(text, parts):
    assert parts_mentioned(text) == frozenset(parts)


def test_lexicon_knows_the_synthetic_benchmark_vocabulary():
    from reid_plugins.data.synthetic import captions as synth

    expected = {"head": synth.HAT_WORDS, "upper": synth.GARMENT_WORDS, "lower": synth.LEG_WORDS,
                "shoes": synth.SHOE_WORDS, "accessories": synth.BAG_WORDS}
    for part, words in expected.items():
        for phrase in (w for synonyms in words.values() for w in synonyms):
            assert parts_mentioned(f"a red {phrase}") == {part}, phrase
    assert parts_mentioned("long dark brown hair") == {"head"} and parts_mentioned("a shaved head") == {"head"}


def test_coverage_names_every_missing_part_once():
    source = ["A man with black hair in a red coat, jeans and brown shoes, carrying a backpack.",
              "The man has a beard and a red coat."]
    problems = check_coverage(source, ["A tall man.", "He wears a red coat and blue jeans."])
    assert codes(problems) == ["missing_part", "missing_part", "missing_part"]
    assert ["the head" in problems[0].message, "the shoes" in problems[1].message,
            "the accessories" in problems[2].message] == [True, True, True]
    # Parts the source does not mention are not required.
    assert check_coverage(["A woman in a white blouse."], ["A woman.", "She wears a white blouse."]) == []


def test_validate_descriptions_combines_checks():
    source = ["A woman with long black hair wears a red jacket, blue jeans and white sneakers and has a backpack."]
    assert validate_descriptions(GOOD_ID, GOOD_CLO, source, min_words=5, max_words=80) == []
    leaky = "A young woman in a red jacket with a slim build."
    problems = validate_descriptions(leaky, GOOD_CLO, source, min_words=5, max_words=80)
    assert codes(problems) == ["clothing_in_identity"] and "jacket" in problems[0].message
    assert validate_descriptions(leaky, GOOD_CLO, source, min_words=5, max_words=80,
                                 identity_no_clothing=False) == []
    partial = "She wears a red jacket and blue jeans."
    problems = validate_descriptions(GOOD_ID, partial, source, min_words=5, max_words=80)
    assert [(p.field, p.code) for p in problems] == [(CLOTHING, "missing_part")] * 3
    assert validate_descriptions(GOOD_ID, partial, source, min_words=5, max_words=80, require_coverage=False) == []
    # A refusal is reported alone: content checks on it would only add noise to the feedback.
    refusal = validate_descriptions("I'm sorry, I can't do that.", "", source, min_words=5, max_words=80)
    assert codes(refusal) == ["refusal", "empty"]
