import numpy as np
import pytest

from reid_plugins.data.synthetic.attributes import sample_identity
from reid_plugins.data.synthetic.captions import (STYLES, describe, describe_clothing, describe_identity,
                                                  describe_parts, image_captions, tokenize)

IDENT = {
    "body": {"gender": "female", "height": "tall", "build": "slim"},
    "head": {"skin": "fair", "hair_color": "black", "hair_style": "long", "hat": "none", "hat_color": None},
    "upper": {"garment": "t-shirt", "color": "red", "pattern": "stripes", "pattern_color": "white",
              "sleeves": "short", "bag": "backpack", "bag_color": "blue"},
    "legs": {"garment": "skirt", "color": "black", "shoes": "sneakers", "shoe_color": "white"},
}
# words that only the clothing side may use / only the identity side may use
CLOTHING_WORDS = ("skirt", "sneakers", "trainers", "backpack", "rucksack", "stripes", "striped", "t-shirt", "tee")
IDENTITY_WORDS = ("skin", "slim", "slender", "thin", "hair", "tall", "lanky")


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("Subject: female; Hair: black, long.") == ["subject", "female", "hair", "black", "long"]
    assert tokenize("a T-shirt... i think?? idk") == ["a", "t-shirt", "i", "think", "idk"]


@pytest.mark.parametrize("style", STYLES)
def test_every_style_mentions_every_attribute(style):
    rng = np.random.default_rng(0)
    caption = describe(IDENT, style, rng).lower()
    assert any(w in caption for w in ("woman", "female", "lady", "girl"))
    for alternatives in (("red", "bright red"), ("skirt",), ("backpack", "rucksack"), ("long",),
                         ("stripes", "striped"), ("short sleeves", "short")):
        assert any(a in caption for a in alternatives), (style, alternatives, caption)


@pytest.mark.parametrize("style", STYLES)
def test_identity_and_clothing_descriptions_are_decoupled(style):
    for seed in range(5):
        caption, idt, clo = describe_parts(IDENT, style, np.random.default_rng(seed))
        assert not any(w in idt.lower() for w in CLOTHING_WORDS), (style, idt)
        assert not any(w in clo.lower() for w in ("skin", "slim", "slender", "lanky")), (style, clo)
        assert idt in caption and clo in caption   # the caption is built from the two parts
        assert describe_identity(IDENT, style, np.random.default_rng(seed)) == idt
        assert describe_clothing(IDENT, style, np.random.default_rng(seed)) == clo


def test_styles_are_structurally_distinct():
    rng = np.random.default_rng(1)
    caps = {s: [describe(sample_identity(rng, {}), s, rng) for _ in range(30)] for s in STYLES}
    assert all(c.startswith(("keywords", "key words")) and " / " in c for c in caps["terse"])
    assert all(c.count(";") >= 4 and "INCIDENT REPORT" in c.upper() for c in caps["report"])
    assert all(c == c.lower() and "..." in c for c in caps["casual"])
    assert all(c.count(".") >= 4 and ":" not in c for c in caps["narrative"])
    assert all(":" not in c and ("the feet are in" in c) for c in caps["enumeration"])
    mean_len = {s: np.mean([len(c.split()) for c in v]) for s, v in caps.items()}
    assert mean_len["narrative"] > 1.5 * mean_len["terse"]
    # lexical variety inside a style: the same identity is not always phrased the same way
    ident = sample_identity(np.random.default_rng(5), {})
    for s in STYLES:
        assert len({describe(ident, s, np.random.default_rng(k)) for k in range(12)}) >= 3, s


def test_image_captions_fields_and_determinism():
    a = image_captions(IDENT, np.random.default_rng(7))
    b = image_captions(IDENT, np.random.default_rng(7))
    assert a == b
    assert set(a) == {"captions", "processed_tokens", "styles", "identity_description", "clothing_description"}
    assert len(a["captions"]) == len(a["styles"]) == len(a["processed_tokens"]) == 2
    assert len(set(a["styles"])) == 2 and set(a["styles"]) <= set(STYLES)
    assert a["processed_tokens"] == [tokenize(c) for c in a["captions"]]
    assert a["identity_description"] in a["captions"][0]


def test_unknown_style_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="expected one of terse"):
        describe(IDENT, "haiku", np.random.default_rng(0))
