"""Pedestrian-description vocabulary: which words name which body part, colours, person words.

Hand-written: no library maps re-ID caption words to body parts. Used by attribute-coverage validation (which parts
a caption mentions) and by the offline ("lexical") style abstraction (attribute words -> [slot] tokens).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Dict, FrozenSet, Tuple

PARTS: Tuple[str, ...] = ("head", "upper", "lower", "shoes", "accessories")

# Singular forms (plural -s / -es is matched automatically); a space or hyphen inside a term matches either.
PART_TERMS: Dict[str, Tuple[str, ...]] = {
    "head": ("hair", "haired", "ponytail", "pony tail", "bun", "braid", "bangs", "fringe", "bald", "hat", "cap",
             "beanie", "sunhat", "sun hat", "hood", "hooded", "helmet", "headscarf", "headband", "hairband", "bandana",
             "beret", "headwear", "shaved", "beard", "moustache", "mustache"),
    "upper": ("shirt", "t-shirt", "tshirt", "tee", "top", "blouse", "jacket", "coat", "overcoat", "sweater",
              "jumper", "hoodie", "sweatshirt", "cardigan", "vest", "blazer", "tank top", "polo", "parka",
              "windbreaker", "pullover", "tunic", "jersey", "dress", "gown", "uniform", "suit", "sleeve", "sleeved",
              "sleeveless", "collar", "upper garment", "outerwear"),
    "lower": ("pants", "trousers", "jeans", "shorts", "skirt", "miniskirt", "leggings", "tights", "capris",
              "slacks", "sweatpants", "joggers", "chinos", "culottes", "overalls", "dress", "gown", "bottoms",
              "lower garment"),
    "shoes": ("shoe", "sneaker", "trainer", "boot", "sandal", "heel", "high heel", "slipper", "loafer", "flats",
              "footwear", "flip flop", "flip-flop", "clog", "pump"),
    "accessories": ("bag", "backpack", "rucksack", "knapsack", "handbag", "purse", "satchel", "tote", "shoulder bag", "suitcase",
                    "luggage", "umbrella", "glasses", "sunglasses", "spectacles", "eyeglasses", "scarf", "watch",
                    "belt", "necklace", "earring", "bracelet", "glove", "mask", "phone", "cellphone", "headphone",
                    "earphone", "bottle", "briefcase", "wallet", "basket", "box", "folder", "accessory",
                    "accessories"),
}

COLOURS: Tuple[str, ...] = (
    "black", "white", "grey", "gray", "red", "blue", "green", "yellow", "orange", "purple", "violet", "pink",
    "brown", "beige", "khaki", "navy", "tan", "maroon", "burgundy", "cream", "gold", "golden", "silver", "cyan",
    "turquoise", "olive", "teal", "dark", "light", "pale", "bright", "multicolored", "multicoloured", "blond",
    "blonde", "auburn", "ginger", "fair", "colorful", "colourful",
)

# Other attribute values (length, hairstyle, pattern, material, fit, build, age): content, not style.
DESCRIPTORS: Tuple[str, ...] = (
    "long", "short", "curly", "straight", "wavy", "striped", "stripes", "plaid", "checked", "checks", "checkered",
    "chequered", "floral", "patterned", "printed", "print", "logo", "plain", "dotted", "spotted", "denim",
    "leather", "cotton", "wool", "woollen", "woolen", "knitted", "knit", "silk", "tight", "loose", "baggy", "slim",
    "thin", "skinny", "heavy", "heavyset", "stocky", "chubby", "fat", "tall", "average", "medium", "young", "old",
    "elderly", "middle-aged", "teenage", "adult",
)

PERSON_WORDS: Tuple[str, ...] = (
    "man", "men", "woman", "women", "male", "female", "boy", "girl", "lady", "ladies", "gentleman", "guy", "kid",
    "child", "teenager", "he", "she", "his", "her", "him", "hers",
)


# Phrases in which a term is not a garment ("on top of").
_NOT_AFTER = {"top": "on "}


def _term_pattern(term: str) -> str:
    # "t-shirt" also matches "t shirt"; every term also matches its -s / -es plural.
    body = r"[\s\-]?".join(re.escape(piece) for piece in re.split(r"[\s\-]", term))
    guard = f"(?<!{re.escape(_NOT_AFTER[term])})" if term in _NOT_AFTER else ""
    return guard + body + r"(?:e?s)?"


@lru_cache(maxsize=None)
def part_regex(part: str) -> re.Pattern:
    if part not in PART_TERMS:
        raise KeyError(f"unknown body part {part!r}: expected one of {PARTS}")
    # Longest terms first so "tank top" wins over "top" when the pattern is used to substitute.
    terms = sorted(PART_TERMS[part], key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(_term_pattern(t) for t in terms) + r")\b", re.IGNORECASE)


@lru_cache(maxsize=None)
def word_regex(words: Tuple[str, ...]) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b",
                      re.IGNORECASE)


# "no bag", "without a hat", "not wearing a hat": a negation at most two words before the term (so "no hat and a
# red coat" still mentions the coat); "Bag: none" right after it.
_NEGATION_BEFORE = re.compile(r"\b(?:no|without|not|nor|never)\s+(?:[^\s.,;:!?/|]+\s+){0,2}$", re.IGNORECASE)
_NEGATION_AFTER = re.compile(r"^\s*[:\-]\s*(?:none|nothing|no)\b", re.IGNORECASE)


def _affirmed(text: str, m: re.Match) -> bool:
    before = text[max(0, m.start() - 40):m.start()]
    return not (_NEGATION_BEFORE.search(before) or _NEGATION_AFTER.match(text[m.end():m.end() + 20]))


def parts_mentioned(text: str) -> FrozenSet[str]:
    """The body parts of PARTS that `text` says the person has, e.g. "a red coat and jeans, no bag" ->
    {"upper", "lower"} (a negated mention does not count)."""
    text = text or ""
    return frozenset(p for p in PARTS if any(_affirmed(text, m) for m in part_regex(p).finditer(text)))


def part_terms_found(text: str, part: str) -> Tuple[str, ...]:
    """The words of `text` that name `part` (as written), in order."""
    return tuple(m.group(0) for m in part_regex(part).finditer(text or ""))
