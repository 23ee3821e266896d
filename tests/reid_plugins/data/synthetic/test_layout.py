import re
from collections import defaultdict

import pytest

from reid_plugins.data.synthetic.domains import DOMAINS
from reid_plugins.data.synthetic.layout import file_name, plan_domain, split_counts
from reid_plugins.data.synthetic.presets import PRESETS, resolve_sizes

NAME = re.compile(r"^(bounding_box_train|bounding_box_test|query)/(\d{4})_c(\d+)s1_(\d{6})_00\.jpg$")


def test_file_name_is_market_style():
    assert file_name(7, 3, 451) == "0007_c3s1_000451_00.jpg"


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_plan_follows_the_preset_and_the_market_protocol(preset):
    sizes = resolve_sizes(preset)
    taken = set()
    seen_pids = []
    for i, (name, style) in enumerate(DOMAINS.items()):
        size = sizes[name]
        plan = plan_domain(style, i, size, seed=0, taken=taken)
        counts = split_counts(plan.tasks)
        assert counts["train"]["ids"] == size.train_ids
        assert counts["query"]["ids"] == counts["gallery"]["ids"] == size.test_ids
        assert len(plan.identities) == size.train_ids + size.test_ids
        assert sorted(plan.identities) == list(range(1, size.train_ids + size.test_ids + 1))
        assert [t.index for t in plan.tasks] == list(range(len(plan.tasks)))
        assert len({t.rel_path.split("/")[1] for t in plan.tasks}) == len(plan.tasks)   # basenames unique
        cams_of = defaultdict(lambda: defaultdict(int))
        for t in plan.tasks:
            m = NAME.match(t.rel_path)
            assert m, t.rel_path
            assert int(m.group(2)) == t.pid and int(m.group(3)) == t.camid
            assert 1 <= t.camid <= style.num_cameras
            assert plan.identities[t.pid]["split"] == ("train" if t.split == "train" else "test")
            cams_of[(t.split, t.pid)][t.camid] += 1
        for (split, pid), cams in cams_of.items():
            if split == "train":
                assert size.cams_per_id[0] <= len(cams) <= min(size.cams_per_id[1], style.num_cameras)
            if split == "query":
                assert all(n == 1 for n in cams.values())        # one query per (pid, camera)
                assert len(cams) <= size.max_query_cams
                gallery_cams = cams_of[("gallery", pid)]
                for c in cams:                                    # findable in another camera
                    assert set(gallery_cams) - {c}, (pid, c, dict(gallery_cams))
        # families never straddle the train/test split
        fam_split = {}
        for ident in plan.identities.values():
            assert fam_split.setdefault(ident["family"], ident["split"]) == ident["split"]
        seen_pids.append(len(plan.identities))
        if style.changes_clothes:   # every look of a clothes-changing person is taken too
            seen_pids.append(sum(len(i["outfits"]) for i in plan.identities.values()))
    assert len(taken) == sum(seen_pids)    # identities (and their looks) are unique across all domains


def test_plan_is_deterministic_and_seed_dependent():
    style, size = DOMAINS["domain_B"], PRESETS["tiny"]["domain_B"]
    a = plan_domain(style, 1, size, seed=0, taken=set())
    b = plan_domain(style, 1, size, seed=0, taken=set())
    c = plan_domain(style, 1, size, seed=1, taken=set())
    assert a.tasks == b.tasks and a.identities == b.identities
    assert a.tasks != c.tasks


def test_size_overrides_and_their_errors():
    sizes = resolve_sizes("tiny", {"train_ids": 3, "imgs_per_cam": [2, 2]})
    assert all(s.train_ids == 3 and s.imgs_per_cam == (2, 2) for s in sizes.values())
    with pytest.raises(ValueError, match="unknown synthetic preset 'huge'"):
        resolve_sizes("huge")
    with pytest.raises(ValueError, match="unknown size override"):
        resolve_sizes("tiny", {"trian_ids": 3})
    with pytest.raises(ValueError, match="cams_per_id"):
        resolve_sizes("tiny", {"cams_per_id": (1, 2)})
    with pytest.raises(ValueError, match="imgs_per_cam"):
        resolve_sizes("tiny", {"imgs_per_cam": (3, 2)})


def test_clothes_changing_domain_dresses_each_camera_and_the_others_stay_in_one_outfit():
    sizes, taken = resolve_sizes("default"), set()
    plans = {name: plan_domain(style, i, sizes[name], seed=0, taken=taken) for i, (name, style) in
             enumerate(DOMAINS.items())}
    for name, plan in plans.items():
        if name != "domain_E":
            assert all(t.outfit == 0 for t in plan.tasks)
            assert not any("outfits" in ident for ident in plan.identities.values())
    plan, p = plans["domain_E"], DOMAINS["domain_E"].outfit_change_prob
    assert p > 0
    cams_of = defaultdict(set)
    for t in plan.tasks:
        ident = plan.identities[t.pid]
        assert t.outfit == ident["outfit_by_camera"][str(t.camid)]
        cams_of[t.pid].add(t.camid)
    changed = other_cameras = 0
    for pid, ident in plan.identities.items():
        by_cam = ident["outfit_by_camera"]
        assert {int(c) for c in by_cam} == cams_of[pid]
        first = min(cams_of[pid])
        assert by_cam[str(first)] == 0 and ident["outfits"][0] == {"upper": ident["upper"], "legs": ident["legs"]}
        new = [o for c, o in by_cam.items() if int(c) != first]
        assert sorted(o for o in new if o) == list(range(1, len(ident["outfits"])))   # each new outfit: one camera
        changed += sum(1 for o in new if o)
        other_cameras += len(new)
    # binomial(other_cameras, p): 5 standard deviations
    sd = (other_cameras * p * (1 - p)) ** 0.5
    assert abs(changed - p * other_cameras) < 5 * sd, (changed, other_cameras)
    # the query of a clothes-changing test identity can be matched across an outfit change
    cross = {t.pid for t in plan.tasks if t.split == "query"
             for g in plan.tasks if g.split == "gallery" and g.pid == t.pid and g.outfit != t.outfit}
    assert len(cross) > 0.3 * sizes["domain_E"].test_ids
