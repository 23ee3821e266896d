import numpy as np
import pytest

from reid_plugins.data.synthetic.attributes import (MUTABLE, VOCAB, make_consistent, mutate, sample_families,
                                                    sample_identity, signature)
from reid_plugins.data.synthetic.domains import DOMAINS


def _flat(ident):
    return {f"{g}.{k}": v for g in VOCAB for k, v in ident[g].items()}


def _differences(a, b):
    fa, fb = _flat(a), _flat(b)
    return {k for k in fa if fa[k] != fb[k]}


def test_identity_values_come_from_the_vocabulary_and_are_consistent():
    rng = np.random.default_rng(0)
    for _ in range(200):
        ident = sample_identity(rng, DOMAINS["domain_B"].priors)
        for g, attrs in VOCAB.items():
            assert set(ident[g]) == set(attrs)
            for k, v in ident[g].items():
                assert v is None or v in attrs[k], (g, k, v)
        if ident["upper"]["garment"] in ("sweater", "jacket", "coat"):
            assert ident["upper"]["sleeves"] == "long"
        assert (ident["upper"]["pattern"] == "plain") == (ident["upper"]["pattern_color"] is None)
        assert (ident["upper"]["bag"] == "none") == (ident["upper"]["bag_color"] is None)
        assert (ident["head"]["hat"] == "none") == (ident["head"]["hat_color"] is None)
        if ident["upper"]["pattern_color"] is not None:
            assert ident["upper"]["pattern_color"] != ident["upper"]["color"]


def test_mutation_changes_one_visible_attribute_and_its_implied_colour_only():
    rng = np.random.default_rng(1)
    for _ in range(300):
        base = sample_identity(rng, {})
        new, key = mutate(base, rng, {})
        assert key in MUTABLE
        diff = _differences(base, new)
        assert key in diff
        # the only other fields allowed to change are the ones make_consistent derives from the mutated one
        implied = {"upper.pattern": {"upper.pattern_color"}, "upper.bag": {"upper.bag_color"},
                   "head.hat": {"head.hat_color"}, "upper.garment": {"upper.sleeves"},
                   "upper.color": {"upper.pattern_color"}}
        assert diff - {key} <= implied.get(key, set()), (key, diff)
        assert {k.split(".")[0] for k in diff} == {key.split(".")[0]}   # one part only


def test_families_share_all_but_one_attribute_and_all_identities_are_unique():
    rng = np.random.default_rng(2)
    taken = set()
    idents = sample_families(rng, 120, {}, (0.25, 0.35, 0.25, 0.15), taken)
    assert len(idents) == 120
    assert len({signature(i) for i in idents}) == 120 == len(taken)
    families = {}
    for i in idents:
        families.setdefault(i["family"], []).append(i)
    multi = [f for f in families.values() if len(f) > 1]
    assert len(multi) >= 20            # most identities have a near-twin
    for fam in multi:
        base = fam[0]
        assert base["differs_from_family_base"] is None
        for member in fam[1:]:
            assert member["differs_from_family_base"] in _differences(base, member)
    # a second draw that shares `taken` never repeats an identity
    more = sample_families(np.random.default_rng(2), 50, {}, (1.0,), taken)
    assert not ({signature(i) for i in more} & {signature(i) for i in idents})


def test_make_consistent_fills_missing_colours():
    rng = np.random.default_rng(3)
    ident = sample_identity(rng, {})
    ident["upper"].update(bag="backpack", bag_color=None, pattern="stripes", pattern_color=ident["upper"]["color"])
    ident["head"].update(hat="cap", hat_color=None)
    fixed = make_consistent(ident, rng, {})
    assert fixed["upper"]["bag_color"] is not None and fixed["head"]["hat_color"] is not None
    assert fixed["upper"]["pattern_color"] not in (None, fixed["upper"]["color"])


def test_where_people_change_clothes_they_are_unique_by_body_and_head_and_twins_differ_in_the_head():
    from reid_plugins.data.synthetic.attributes import PERSON_GROUPS

    taken = set()
    ids = sample_families(np.random.default_rng(3), 300, DOMAINS["domain_E"].priors, (0.3, 0.4, 0.3), taken,
                          changes_clothes=True)
    persons = [signature(i, PERSON_GROUPS) for i in ids]
    assert len(set(persons)) == len(ids) == len(taken)
    assert taken == set(persons)
    by_family = {}
    for ident in ids:
        by_family.setdefault(ident["family"], []).append(ident)
    twins = 0
    for members in by_family.values():
        base = members[0]
        for m in members[1:]:
            twins += 1
            changed = _differences(base, m)
            assert m["differs_from_family_base"].startswith("head.")
            assert changed and all(k.startswith("head.") for k in changed), changed
    assert twins > 50


def test_sample_outfit_draws_new_clothes_and_wear_dresses_the_person():
    from reid_plugins.data.synthetic.attributes import sample_outfit, wear

    rng = np.random.default_rng(0)
    priors = DOMAINS["domain_E"].priors
    person = sample_identity(rng, priors)
    outfits = [{"upper": person["upper"], "legs": person["legs"]}]
    for _ in range(30):
        new = sample_outfit(rng, priors, person)
        assert set(new) == {"upper", "legs"}
        assert new != outfits[0]
        assert (new["upper"]["pattern"] == "plain") == (new["upper"]["pattern_color"] is None)
        outfits.append(new)
    ident = {**person, "split": "train", "outfits": outfits}
    assert wear(ident) == {g: person[g] for g in VOCAB}
    seen = wear(ident, 5)
    assert seen["upper"] == outfits[5]["upper"] and seen["legs"] == outfits[5]["legs"]
    assert seen["head"] == person["head"] and seen["body"] == person["body"] and "split" not in seen
    for bad in (31, -1):
        with pytest.raises(IndexError, match=f"outfit {bad}"):
            wear(ident, bad)
