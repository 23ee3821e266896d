"""Captions of synthetic identities in several clearly different phrasing styles.

    describe(attributes, style, rng)           -> full caption (identity + clothing) in `style`
    describe_identity(attributes, style, rng)  -> body / biological traits only (gender, height, build, skin, hair)
    describe_clothing(attributes, style, rng)  -> garments, colours, patterns, hat, bag, shoes only

Styles differ in structure (template, length, punctuation, casing), not only in words, so that a sentence embedding
separates them; within a style, synonyms, optional clauses and item order vary. `attributes` is an identity dict as
made by reid_plugins.data.synthetic.attributes (extra keys are ignored). The web corpus (domain W) adds a sixth,
"alttext": short alt-text that names only a few of the visible items.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

STYLES: Tuple[str, ...] = ("terse", "narrative", "report", "casual", "enumeration")
# the web corpus (domain W) adds short alt-text captions that name only some of what is visible
WEB_STYLES: Tuple[str, ...] = STYLES + ("alttext",)

COLOR_WORDS = {
    "black": ("black",), "white": ("white", "off-white"), "grey": ("grey", "gray"),
    "dark grey": ("dark grey", "charcoal"), "red": ("red", "bright red"), "maroon": ("maroon", "burgundy", "dark red"),
    "orange": ("orange",), "yellow": ("yellow", "mustard yellow"), "green": ("green", "grass green"),
    "olive": ("olive", "olive green", "khaki green"), "blue": ("blue", "royal blue"), "navy": ("navy", "dark blue"),
    "light blue": ("light blue", "sky blue", "pale blue"), "purple": ("purple", "violet"), "pink": ("pink",),
    "brown": ("brown", "chocolate brown"), "beige": ("beige", "cream", "sand-coloured"),
}
HAIR_COLOR_WORDS = {"black": ("black", "jet-black"), "dark brown": ("dark brown",), "brown": ("brown", "chestnut"),
                    "blonde": ("blonde", "fair"), "red": ("red", "ginger"), "grey": ("grey", "silver")}
NOUNS = {"male": ("man", "guy", "gentleman", "young man"), "female": ("woman", "lady", "girl", "young woman")}
PRONOUN = {"male": ("he", "his", "him"), "female": ("she", "her", "her")}
HEIGHT_WORDS = {"short": ("short", "rather short", "small"), "average": ("medium-height", "average-height"),
                "tall": ("tall", "very tall", "lanky")}
BUILD_WORDS = {"slim": ("slim", "thin", "slender"), "average": ("average-build", "medium-build", "normally built"),
               "heavy": ("heavyset", "stocky", "broad")}
SKIN_WORDS = {"pale": ("pale skin", "very fair skin"), "fair": ("fair skin", "light skin"),
              "tan": ("tanned skin", "olive skin"), "brown": ("brown skin", "medium-brown skin"),
              "dark": ("dark skin", "a dark complexion")}
GARMENT_WORDS = {"t-shirt": ("t-shirt", "tee", "T-shirt"), "shirt": ("shirt", "button-up shirt", "collared shirt"),
                 "sweater": ("sweater", "jumper", "pullover"), "jacket": ("jacket", "zip-up jacket"),
                 "coat": ("coat", "long coat", "overcoat")}
LEG_WORDS = {"trousers": ("trousers", "pants", "slacks"), "shorts": ("shorts",), "skirt": ("skirt",)}
SHOE_WORDS = {"sneakers": ("sneakers", "trainers", "running shoes"), "boots": ("boots", "ankle boots"),
              "shoes": ("shoes", "leather shoes")}
BAG_WORDS = {"backpack": ("backpack", "rucksack"), "shoulder bag": ("shoulder bag", "messenger bag", "crossbody bag"),
             "handbag": ("handbag", "purse")}
HAT_WORDS = {"cap": ("cap", "baseball cap"), "beanie": ("beanie", "knit hat", "woolly hat"),
             "sunhat": ("sun hat", "wide-brimmed hat")}


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


class _Words:
    """The attribute words of one identity, with synonyms drawn once from `rng`."""

    def __init__(self, a: dict, rng: np.random.Generator):
        body, head, upper, legs = a["body"], a["head"], a["upper"], a["legs"]
        c = lambda name: _pick(rng, COLOR_WORDS[name])  # noqa: E731
        self.gender = body["gender"]
        self.noun = _pick(rng, NOUNS[self.gender])
        self.he, self.his, self.him = PRONOUN[self.gender]
        self.height, self.build = _pick(rng, HEIGHT_WORDS[body["height"]]), _pick(rng, BUILD_WORDS[body["build"]])
        self.skin = _pick(rng, SKIN_WORDS[head["skin"]])
        hc = _pick(rng, HAIR_COLOR_WORDS[head["hair_color"]])
        self.hair = {"bald": "a shaved head", "short": f"short {hc} hair", "long": f"long {hc} hair",
                     "ponytail": f"{hc} hair in a ponytail", "bun": f"{hc} hair tied in a bun"}[head["hair_style"]]
        self.hair_color, self.hair_style = hc, head["hair_style"]
        self.hat = None if head["hat"] == "none" else f"{c(head['hat_color'])} {_pick(rng, HAT_WORDS[head['hat']])}"
        self.top = _pick(rng, GARMENT_WORDS[upper["garment"]])
        self.top_color = c(upper["color"])
        self.sleeves = upper["sleeves"]
        pc = c(upper["pattern_color"]) if upper["pattern_color"] else None
        self.pattern = upper["pattern"]
        self.pattern_adj = {"plain": "", "stripes": "striped", "checks": _pick(rng, ("checked", "plaid", "checkered")),
                            "logo": ""}[upper["pattern"]]
        self.pattern_with = {"plain": "", "stripes": f"with {pc} stripes", "checks": f"with a {pc} check pattern",
                             "logo": f"with a {pc} logo on the chest"}[upper["pattern"]]
        self.pattern_color = pc
        self.bottom = _pick(rng, LEG_WORDS[legs["garment"]])
        self.bottom_color = c(legs["color"])
        self.shoes = f"{c(legs['shoe_color'])} {_pick(rng, SHOE_WORDS[legs['shoes']])}"
        self.bag = None if upper["bag"] == "none" else f"{c(upper['bag_color'])} {_pick(rng, BAG_WORDS[upper['bag']])}"
        self.bag_kind = upper["bag"]

    def top_phrase(self, rng, with_pattern_first: bool) -> str:
        """e.g. "red striped t-shirt" or "red t-shirt with black stripes"."""
        if self.pattern == "plain":
            return f"{self.top_color} {self.top}"
        if with_pattern_first and self.pattern_adj:
            return f"{self.top_color} {self.pattern_adj} {self.top}"
        return f"{self.top_color} {self.top} {self.pattern_with}"


def _bare_skin(skin: str) -> str:
    return skin.replace("a dark complexion", "dark").replace(" skin", "")


def _article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _join(items: List[str], rng, final: str = "and") -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {final} " + items[-1]


# --- terse: "keywords:" then a lower-case attribute list separated by slashes -----------------------------------
def _terse_identity(w: _Words, rng) -> str:
    items = [w.gender if rng.random() < 0.5 else w.noun, w.height, w.build, w.skin.replace("a dark", "dark"), w.hair]
    return " / ".join(items).lower()


def _terse_clothing(w: _Words, rng) -> str:
    items = [w.hat, w.top_phrase(rng, rng.random() < 0.6), f"{w.sleeves} sleeves",
             f"{w.bottom_color} {w.bottom}", w.shoes, w.bag]
    if rng.random() < 0.4 and w.hat is None:
        items[0] = "no hat"
    if rng.random() < 0.3:
        items[-2], items[-1] = items[-1], items[-2]
    return " / ".join(i for i in items if i).lower()


def _terse(idt: str, clo: str, w, rng) -> str:
    return f"{_pick(rng, ('keywords:', 'key words:', 'keywords -'))} {idt} / {clo}"


# --- narrative: long flowing prose with scene setting; gender named once, then "this person" ---------------------
_OPENERS = ("In this photograph we can see", "This picture shows", "The image captures", "Here we see",
            "The surveillance frame has caught")
_MOTION = ("walking along the pavement on what looks like an ordinary afternoon",
           "strolling past the camera without noticing it", "making their way down the path towards the buildings",
           "heading somewhere at a calm and steady pace", "walking through the scene as the day goes on")
_SCENE = ("The overall impression is of someone going about an everyday errand.",
          "Nothing about the scene seems unusual, and the person appears relaxed.",
          "It feels like a quiet moment captured in the middle of a normal day.",
          "The person seems to be in no particular hurry as the moment is recorded.")
_REF = ("this person", "the pedestrian", "the passer-by")


def _narrative_identity(w: _Words, rng) -> str:
    s1 = f"{_pick(rng, _OPENERS)} {_article(w.height)}, {w.build} {w.noun} {_pick(rng, _MOTION)}."
    ref = _pick(rng, _REF)
    s2 = _pick(rng, (f"{ref.capitalize()} has {w.skin} and {w.hair}.",
                     f"Looking a little closer, one notices that {ref} has {w.skin} and {w.hair}."))
    return f"{s1} {s2}"


def _narrative_clothing(w: _Words, rng) -> str:
    top = _article(w.top_phrase(rng, rng.random() < 0.5))
    sl = _pick(rng, (f"that has {w.sleeves} sleeves", f"whose sleeves are {w.sleeves}"))
    s = (f"The outfit {_pick(rng, ('consists of', 'is made up of', 'is built around'))} {top} {sl}, "
         f"worn together with {w.bottom_color} {w.bottom} and a pair of {w.shoes}.")
    if w.hat:
        s += f" On top of the head sits {_article(w.hat)}."
    if w.bag:
        where = {"backpack": "on the back", "shoulder bag": "over one shoulder", "handbag": "in one hand"}
        s += f" There is also {_article(w.bag)} carried {where[w.bag_kind]}."
    else:
        s += _pick(rng, (" Nothing seems to be carried in the hands or on the back.",
                         " No bag of any kind is visible."))
    return s


def _narrative(idt: str, clo: str, w, rng) -> str:
    return f"{idt} {clo} {_pick(rng, _SCENE)}"


# --- report: police / incident report fields "Label: value;" -------------------------------------------------------
_REPORT_HEAD = ("INCIDENT REPORT - description of the subject.", "INCIDENT REPORT: subject description.",
                "Incident report - subject description follows.")


def _report_identity(w: _Words, rng) -> str:
    lab = _pick(rng, ("Subject", "Suspect", "Individual"))
    hair = "none" if w.hair_style == "bald" else f"{w.hair_color}, {w.hair_style}"
    return (f"{lab}: {w.gender}; Height: {w.height}; Build: {w.build}; Skin: {_bare_skin(w.skin)}; "
            f"Hair: {hair}.")


def _report_clothing(w: _Words, rng) -> str:
    up = _pick(rng, ("Upper", "Top", "Upper body"))
    lo = _pick(rng, ("Lower", "Bottom", "Lower body"))
    pattern = "" if w.pattern == "plain" else f", {w.pattern_with.replace('with ', '')}"
    fields = [f"Headwear: {w.hat or 'none'}", f"{up}: {w.top_color} {w.top}{pattern}, {w.sleeves} sleeves",
              f"{lo}: {w.bottom_color} {w.bottom}", f"{_pick(rng, ('Footwear', 'Shoes'))}: {w.shoes}",
              f"{_pick(rng, ('Carrying', 'Items', 'Bag'))}: {w.bag or 'nothing'}"]
    return "; ".join(fields) + "."


def _report(idt: str, clo: str, w, rng) -> str:
    tail = _pick(rng, ("Status: last seen on camera, not detained.", "Action: circulate to patrol units.",
                       "Note: description confirmed by officer on duty."))
    return f"{_pick(rng, _REPORT_HEAD)} {idt} {clo} {tail}"


# --- casual: chatty first person, lower case, slang and ellipses -----------------------------------------------------
_CASUAL_START = ("omg ok so i literally just saw", "ngl i'm pretty sure i saw", "lol so i remember",
                 "ok so like there was", "tbh i only kinda noticed")
_CASUAL_END = ("lol", "if that helps haha", "not 100% sure tho", "i think?? idk", "that's all i got sorry")


def _casual_identity(w: _Words, rng) -> str:
    kinda = "" if " " in w.height else _pick(rng, ("kinda ", "sort of ", "like really "))
    return (f"{_pick(rng, _CASUAL_START)} this {kinda}{w.height} {w.build} {w.noun}... "
            f"{w.skin}, {w.hair} i think").lower()


def _casual_clothing(w: _Words, rng) -> str:
    top = f"{w.sleeves}-sleeved " + w.top_phrase(rng, True).replace("t-shirt", "tee")
    parts = [f"they had on {_article(top)}", f"{w.bottom_color} {w.bottom}", f"{w.shoes} too"]
    s = ", ".join(parts)
    if w.hat:
        s += f", oh and {_article(w.hat)}"
    if w.bag:
        s += f"... and they were carrying {_article(w.bag)} i guess"
    return (s + f" {_pick(rng, _CASUAL_END)}").lower()


def _casual(idt: str, clo: str, w, rng) -> str:
    return f"{idt}, {clo}"


# --- enumeration: head-to-toe walk-through in ordinal steps (no colons), then a closing summary -------------------
_ORD = (("Starting at the top", "Moving down", "Further down", "At the very bottom"),
        ("Beginning with the head", "Going down", "Lower still", "Right at the bottom"))


def _enum_identity(w: _Words, rng) -> str:
    lead = _pick(rng, ("All in all this is", "All things considered this is", "Taken together this is"))
    return f"{lead} {_article(w.height)} {w.build} {w.noun} with {w.skin} and {w.hair}."


def _enum_clothing(w: _Words, rng) -> str:
    o = _ORD[int(rng.integers(len(_ORD)))]
    bag = f", and there is {_article(w.bag)} as well" if w.bag else ""
    hat = f"there is {_article(w.hat)}" if w.hat else "there is no hat"
    steps = [f"{o[0]}, {hat}.",
             f"{o[1]}, the torso is covered by {_article(w.top_phrase(rng, False))} with {w.sleeves} sleeves{bag}.",
             f"{o[2]}, the legs are in {w.bottom_color} {w.bottom}.",
             f"{o[3]}, the feet are in {w.shoes}."]
    return " ".join(steps)


def _enum(idt: str, clo: str, w, rng) -> str:
    return f"{clo} {idt}"


# --- alttext (web corpus only): short image alt-text naming a few visible items, sometimes by body part ---------
_ALT_START = ("photo of", "a photo of", "stock photo:", "image of", "picture of", "candid shot of")


def _alt_identity(w: _Words, rng) -> str:
    adjective = (w.height, w.build, "")[int(rng.integers(3))]
    person = _article(f"{adjective} {w.noun}".strip())
    trait = (w.skin, w.hair, None)[int(rng.integers(3))]
    return f"{person} with {trait}" if trait else person


def _alt_clothing(w: _Words, rng) -> str:
    top, bottom = w.top_phrase(rng, rng.random() < 0.5), f"{w.bottom_color} {w.bottom}"
    if rng.random() < 0.35:   # by body part, as product photos and pose data sets caption them
        items = [f"head: {w.hat or w.hair}", f"upper body: {top}", f"legs: {bottom}"]
        return "; ".join(items[i] for i in sorted(rng.choice(3, size=int(rng.integers(2, 4)), replace=False)))
    items = [top, bottom, w.shoes, w.hat, w.bag]
    present = [i for i, item in enumerate(items) if item]
    keep = sorted(rng.choice(present, size=min(len(present), int(rng.integers(1, 4))), replace=False))
    return "wearing " + _join([items[i] for i in keep], rng)


def _alt(idt: str, clo: str, w, rng) -> str:
    return f"{_pick(rng, _ALT_START)} {idt}, {clo}"


_STYLE_FNS: Dict[str, Tuple[Callable, Callable, Callable]] = {
    "terse": (_terse_identity, _terse_clothing, _terse),
    "narrative": (_narrative_identity, _narrative_clothing, _narrative),
    "report": (_report_identity, _report_clothing, _report),
    "casual": (_casual_identity, _casual_clothing, _casual),
    "enumeration": (_enum_identity, _enum_clothing, _enum),
    "alttext": (_alt_identity, _alt_clothing, _alt),
}


def _fns(style: str):
    if style not in _STYLE_FNS:
        raise ValueError(f"unknown caption style {style!r}; expected one of {', '.join(WEB_STYLES)}")
    return _STYLE_FNS[style]


def describe_parts(attributes: dict, style: str, rng: np.random.Generator) -> Tuple[str, str, str]:
    """(caption, identity description, clothing description) in one style, sharing one draw of synonyms."""
    f_id, f_clo, combine = _fns(style)
    w = _Words(attributes, rng)
    idt, clo = f_id(w, rng), f_clo(w, rng)
    return combine(idt, clo, w, rng), idt, clo


def describe(attributes: dict, style: str, rng: np.random.Generator) -> str:
    return describe_parts(attributes, style, rng)[0]


def describe_identity(attributes: dict, style: str, rng: np.random.Generator) -> str:
    return describe_parts(attributes, style, rng)[1]


def describe_clothing(attributes: dict, style: str, rng: np.random.Generator) -> str:
    return describe_parts(attributes, style, rng)[2]


_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def tokenize(caption: str) -> List[str]:
    """CUHK-PEDES "processed_tokens": lower-case word tokens, punctuation dropped."""
    return _TOKEN.findall(caption.lower())


def image_captions(attributes: dict, rng: np.random.Generator, n: int = 2, styles: Sequence[str] = STYLES) -> dict:
    """The captions.json fields of one image: `n` captions in `n` different styles drawn from `styles`."""
    styles = [styles[i] for i in rng.choice(len(styles), size=n, replace=False)]
    caps, ids, clos = zip(*(describe_parts(attributes, s, rng) for s in styles))
    return {"captions": list(caps), "processed_tokens": [tokenize(c) for c in caps], "styles": styles,
            "identity_description": ids[0], "clothing_description": clos[0]}
