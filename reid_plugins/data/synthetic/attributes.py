"""Identity attributes: the vocabulary, domain-dependent priors, and "families" of near-identical identities.

An identity is a nested dict of JSON-serialisable part attributes:

    {"body":  {"gender", "height", "build"},
     "head":  {"skin", "hair_color", "hair_style", "hat", "hat_color"},
     "upper": {"garment", "color", "pattern", "pattern_color", "sleeves", "bag", "bag_color"},
     "legs":  {"garment", "color", "shoes", "shoe_color"}}

Identities are drawn in families: a base identity plus members that each differ from the base in exactly ONE
attribute of ONE part, so that many pairs in a split can only be told apart by a part-level cue.

In a domain whose people change clothes (DomainStyle.outfit_change_prob > 0) a person is their body and head (hat
included); "upper" and "legs" are an outfit, and a person may wear another outfit in another camera. There, twins
differ in a head attribute and identities are unique by body + head alone, so that no two people could be told
apart only by what they wear.
"""
from __future__ import annotations

import copy
import json
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

# name -> sRGB. Clothing colours; several share a hue so that colour alone is an ambiguous cue.
COLORS: Dict[str, tuple] = {
    "black": (28, 28, 30), "white": (232, 232, 228), "grey": (128, 128, 130), "dark grey": (72, 72, 76),
    "red": (196, 36, 40), "maroon": (110, 24, 36), "orange": (230, 120, 30), "yellow": (232, 204, 50),
    "green": (54, 150, 64), "olive": (104, 110, 48), "blue": (40, 84, 190), "navy": (28, 36, 84),
    "light blue": (130, 176, 224), "purple": (112, 56, 150), "pink": (232, 140, 170), "brown": (112, 72, 40),
    "beige": (204, 184, 146),
}
SKIN_TONES: Dict[str, tuple] = {
    "pale": (240, 208, 186), "fair": (224, 180, 148), "tan": (196, 146, 106), "brown": (150, 100, 66),
    "dark": (96, 62, 42),
}
HAIR_COLORS: Dict[str, tuple] = {
    "black": (20, 18, 18), "dark brown": (60, 38, 24), "brown": (110, 70, 36), "blonde": (214, 180, 110),
    "red": (160, 64, 30), "grey": (170, 168, 164),
}

BRIGHT = ("red", "orange", "yellow", "green", "blue", "light blue", "pink", "white", "purple")
DARK = ("black", "dark grey", "navy", "maroon", "brown", "olive", "grey")

VOCAB: Dict[str, Dict[str, Sequence[str]]] = {
    "body": {"gender": ("male", "female"), "height": ("short", "average", "tall"),
             "build": ("slim", "average", "heavy")},
    "head": {"skin": tuple(SKIN_TONES), "hair_color": tuple(HAIR_COLORS),
             "hair_style": ("bald", "short", "long", "ponytail", "bun"),
             "hat": ("none", "cap", "beanie", "sunhat"), "hat_color": tuple(COLORS)},
    "upper": {"garment": ("t-shirt", "shirt", "sweater", "jacket", "coat"), "color": tuple(COLORS),
              "pattern": ("plain", "stripes", "checks", "logo"), "pattern_color": tuple(COLORS),
              "sleeves": ("short", "long"), "bag": ("none", "backpack", "shoulder bag", "handbag"),
              "bag_color": tuple(COLORS)},
    "legs": {"garment": ("trousers", "shorts", "skirt"), "color": tuple(COLORS),
             "shoes": ("sneakers", "boots", "shoes"), "shoe_color": tuple(COLORS)},
}
PART_GROUPS = tuple(VOCAB)  # ("body", "head", "upper", "legs")
PERSON_GROUPS = ("body", "head")   # what stays when a person changes clothes
OUTFIT_GROUPS = ("upper", "legs")  # what changes

# Attributes a family member may change (one of them). Only cues a 128x64 crop actually shows: body height / build,
# skin tone or shoe colour alone would make twins indistinguishable (label noise rather than a part-level cue).
MUTABLE: Dict[str, float] = {
    "head.hair_color": 0.8, "head.hair_style": 0.8, "head.hat": 1.0,
    "upper.color": 1.5, "upper.pattern": 1.5, "upper.garment": 0.8, "upper.sleeves": 0.8, "upper.bag": 1.2,
    "legs.color": 1.5, "legs.garment": 1.0,
}
# ... where people change clothes, a twin must differ in something that does not come off with the outfit
MUTABLE_PERSON: Dict[str, float] = {k: w for k, w in MUTABLE.items() if k.split(".")[0] in PERSON_GROUPS}


def _choice(rng: np.random.Generator, options: Sequence[str], weights: Optional[Mapping[str, float]] = None) -> str:
    if weights:
        cum = np.cumsum([float(weights.get(o, 1.0)) for o in options])
        return options[min(len(options) - 1, int(np.searchsorted(cum, rng.random() * cum[-1], side="right")))]
    return options[int(rng.integers(len(options)))]


def _sample_attr(rng, key: str, priors: Mapping[str, Mapping[str, float]]) -> str:
    group, name = key.split(".")
    return _choice(rng, VOCAB[group][name], priors.get(key))


def make_consistent(ident: dict, rng: np.random.Generator, priors: Mapping) -> dict:
    """Fix combinations a person would not wear; also blank the colours of absent items (None)."""
    head, upper = ident["head"], ident["upper"]
    if upper["garment"] in ("sweater", "jacket", "coat"):
        upper["sleeves"] = "long"
    if upper["pattern"] == "plain":
        upper["pattern_color"] = None
    elif upper["pattern_color"] in (None, upper["color"]):
        upper["pattern_color"] = _choice(rng, [c for c in COLORS if c != upper["color"]], priors.get("upper.color"))
    if upper["bag"] == "none":
        upper["bag_color"] = None
    elif upper["bag_color"] is None:
        upper["bag_color"] = _sample_attr(rng, "upper.bag_color", priors)
    if head["hat"] == "none":
        head["hat_color"] = None
    elif head["hat_color"] is None:
        head["hat_color"] = _sample_attr(rng, "head.hat_color", priors)
    return ident


def sample_identity(rng: np.random.Generator, priors: Mapping[str, Mapping[str, float]]) -> dict:
    """One identity drawn from the domain's attribute priors ({"group.attr": {value: weight}})."""
    ident = {g: {name: _sample_attr(rng, f"{g}.{name}", priors) for name in attrs} for g, attrs in VOCAB.items()}
    if ident["legs"]["color"] == ident["upper"]["color"] and rng.random() < 0.8:
        # same-colour outfits exist but hide the upper/legs boundary; keep them rare
        ident["legs"]["color"] = _choice(rng, [c for c in COLORS if c != ident["upper"]["color"]],
                                         priors.get("legs.color"))
    return make_consistent(ident, rng, priors)


def sample_outfit(rng: np.random.Generator, priors: Mapping, person: dict) -> dict:
    """A new outfit ({"upper", "legs"}) for `person`, drawn from the domain's priors like a new identity's clothes;
    never the outfit `person` wears now."""
    for _ in range(100):
        drawn = sample_identity(rng, priors)
        outfit = {g: drawn[g] for g in OUTFIT_GROUPS}
        if any(outfit[g] != person[g] for g in OUTFIT_GROUPS):
            return outfit
    raise RuntimeError("could not draw a different outfit (vocabulary too small?)")


def wear(ident: dict, outfit: int = 0) -> dict:
    """The attributes a camera sees: the person (body, head) in outfit number `outfit` of ident["outfits"] (0 is the
    identity's own upper / legs; identities without "outfits" only have that one)."""
    seen = {g: ident[g] for g in PART_GROUPS}
    if outfit:
        outfits = ident.get("outfits") or []
        if not 0 < outfit < len(outfits):
            raise IndexError(f"identity has outfits 0..{max(len(outfits) - 1, 0)}, asked for outfit {outfit}")
        seen.update(outfits[outfit])
    return seen


def mutate(ident: dict, rng: np.random.Generator, priors: Mapping,
           mutable: Mapping[str, float] = MUTABLE) -> tuple:
    """A copy of `ident` that differs in exactly one of the `mutable` attributes (plus the colour fields it
    implies). Returns (new identity, "group.attr")."""
    keys = list(mutable)
    for _ in range(100):
        key = _choice(rng, keys, mutable)
        if key.startswith("head.hair") and ident["head"]["hat"] != "none":
            continue   # hidden under the hat
        if key == "upper.sleeves" and ident["upper"]["garment"] in ("sweater", "jacket", "coat"):
            continue   # always long
        group, name = key.split(".")
        options = [v for v in VOCAB[group][name] if v != ident[group][name]]
        new = copy.deepcopy(ident)
        new[group][name] = _choice(rng, options, priors.get(key))
        new = make_consistent(new, rng, priors)
        if signature(new) != signature(ident):
            return new, key
    raise RuntimeError("could not mutate identity (vocabulary too small?)")


def signature(ident: dict, groups: Sequence[str] = PART_GROUPS) -> str:
    """Canonical string of an identity's attributes in `groups` (used to keep identities unique across domains)."""
    return json.dumps({g: ident[g] for g in groups}, sort_keys=True)


def sample_families(rng: np.random.Generator, n_ids: int, priors: Mapping, family_sizes: Sequence[float],
                    taken: set, changes_clothes: bool = False,
                    priors_sampler: Optional[Callable[[np.random.Generator], Mapping]] = None) -> List[dict]:
    """`n_ids` identities grouped in families. family_sizes[k] is the weight of a family with k+1 members.
    `taken` (signatures already used anywhere) is updated: no two identities share all attributes, or, when
    `changes_clothes`, all body and head attributes (and twins then differ in a head attribute).
    `priors_sampler(rng)`, when given, draws each family's own priors (the web corpus) instead of `priors`."""
    groups, mutable = (PERSON_GROUPS, MUTABLE_PERSON) if changes_clothes else (PART_GROUPS, MUTABLE)
    sig = lambda ident: signature(ident, groups)  # noqa: E731
    out: List[dict] = []
    size_w = {str(k + 1): float(w) for k, w in enumerate(family_sizes)}
    family = 0
    while len(out) < n_ids:
        size = min(int(_choice(rng, list(size_w), size_w)), n_ids - len(out))
        family_priors = priors_sampler(rng) if priors_sampler is not None else priors
        base = sample_identity(rng, family_priors)
        if sig(base) in taken:
            continue
        members = [(base, None)]
        tries = 0
        while len(members) < size and tries < 50:
            tries += 1
            new, key = mutate(base, rng, family_priors, mutable)
            if sig(new) in taken or any(sig(m) == sig(new) for m, _ in members):
                continue
            members.append((new, key))
        for ident, key in members:
            taken.add(sig(ident))
            out.append({**ident, "family": family, "differs_from_family_base": key})
        family += 1
    return out
