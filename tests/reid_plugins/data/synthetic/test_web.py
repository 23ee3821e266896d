"""SynthPed-W, the web-like pretraining corpus (domain W): disjoint from the benchmark's identities, one look per
image drawn from the documented ranges, own clothing priors per family, web captions, generated only on demand."""
import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

from reid_plugins.data.synthetic import (BENCHMARK_DOMAINS, DOMAIN_NAMES, WEB_STYLES, ensure_generated, synth_dir)
from reid_plugins.data.synthetic.attributes import signature, wear
from reid_plugins.data.synthetic.domains import DOMAINS, make_cameras
from reid_plugins.data.synthetic.layout import plan_domain
from reid_plugins.data.synthetic.presets import resolve_sizes
from reid_plugins.data.synthetic.web import NOISE_LEVELS, sample_clothing_priors, sample_look


def _looks(plan):
    """Every full attribute set (body, head, upper, legs) a domain shows: an identity in each of its outfits."""
    return {signature(wear(i, k)) for i in plan.identities.values() for k in range(len(i.get("outfits") or [0]))}


def _plans(preset, seed, upto=None):
    sizes, taken = resolve_sizes(preset), set()
    names = DOMAIN_NAMES if upto is None else DOMAIN_NAMES[:DOMAIN_NAMES.index(upto) + 1]
    return {d: plan_domain(DOMAINS[d], i, sizes[d], seed, taken) for i, d in enumerate(names)}


def test_w_shares_no_full_attribute_set_with_the_benchmark():
    plans = _plans("default", 0)
    web = _looks(plans["domain_W"])
    assert len(web) == len(plans["domain_W"].identities) == 3300
    for d in BENCHMARK_DOMAINS:
        assert not web & _looks(plans[d]), d
    # the zoo is built from W of generator seed 0; benchmark re-draws (run_embedded.py --seed N) stay disjoint too
    for seed in (1, 2):
        other = _plans("default", seed, upto="domain_E")
        for d in BENCHMARK_DOMAINS:
            assert not web & _looks(other[d]), (seed, d)


def test_families_draw_their_own_clothing_priors():
    plans = _plans("default", 0)
    def share(plan, garment):
        return np.mean([i["upper"]["garment"] == garment for i in plan.identities.values()])
    web, summer, winter = plans["domain_W"], plans["domain_A"], plans["domain_B"]
    # W brackets the summer (A) and winter (B) domains: its coat share lies between theirs
    assert share(summer, "coat") < share(web, "coat") < share(winter, "coat")
    rng = np.random.default_rng(0)
    draws = [sample_clothing_priors(rng) for _ in range(200)]
    t_shirt = np.array([d["upper.garment"]["t-shirt"] / sum(d["upper.garment"].values()) for d in draws])
    assert t_shirt.min() < 0.1 and t_shirt.max() > 0.45      # families range from winter to summer
    assert all(w > 0 for d in draws for weights in d.values() for w in weights.values())


def test_every_image_draws_its_look_within_the_documented_ranges():
    style = DOMAINS["domain_W"]
    camera = make_cameras(style, np.random.default_rng(0))[0]
    rng = np.random.default_rng(1)
    looks = [sample_look(style, camera, rng) for _ in range(400)]
    for look, cam in looks:
        assert 0.85 <= look.contrast <= 1.15 and 0.78 <= look.saturation <= 1.10 and 0.88 <= look.gamma <= 1.08
        assert 0.72 <= look.person_height[0] <= 0.90 and look.person_height[1] - look.person_height[0] <= 0.1 + 1e-9
        assert 0 <= look.cutoff_prob <= 0.25 and 0 <= look.occlusion_prob <= 0.25
        assert 1.0 <= look.lowres[1] <= 1.9 and look.noise in NOISE_LEVELS
        assert 58 <= look.jpeg_quality[0] <= 88 and look.jpeg_quality[1] == look.jpeg_quality[0] + 10
        assert 0.82 <= cam["brightness"] <= 1.12 and sum(cam["view_probs"]) == pytest.approx(1)
        assert cam["camid"] == camera["camid"] and cam["scene"] == camera["scene"]   # the scene plate is kept
    gains = np.log([cam["gain"] for _, cam in looks])
    assert gains.std() == pytest.approx(0.09, rel=0.15)
    # the spread brackets domains A-D's colour casts (D's blue gain 0.82 and A's red gain 1.04 included)
    assert np.exp(gains[:, 2]).min() < 0.82 and np.exp(gains[:, 0]).max() > 1.04
    assert dataclasses.asdict(looks[0][0]) != dataclasses.asdict(looks[1][0])


@pytest.fixture(scope="module")
def web_tiny(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synth"))
    first = ensure_generated(root, preset="tiny", seed=0, progress=False, preview=False)
    full = ensure_generated(root, preset="tiny", seed=0, domains=["domain_W"], progress=False)
    return root, first, full


def test_w_is_generated_only_on_demand_with_the_domain_files(web_tiny):
    root, first, full = web_tiny
    assert sorted(first["domains"]) == sorted(BENCHMARK_DOMAINS)
    assert sorted(full["domains"]) == sorted(DOMAIN_NAMES)
    w = os.path.join(synth_dir(root), "domain_W")
    for name in ("attributes.json", "captions.json", "parts.json", "domain.json", "meta.json"):
        assert os.path.isfile(os.path.join(w, name)), name
    with open(os.path.join(w, "captions.json")) as f:
        captions = json.load(f)
    assert {s for c in captions for s in c["styles"]} <= set(WEB_STYLES)
    assert any("alttext" in c["styles"] for c in captions) and all(len(c["captions"]) == 2 for c in captions)
    with open(os.path.join(w, "meta.json")) as f:
        meta = json.load(f)
    assert len({m["jpeg_quality"] for m in meta.values()}) > 10      # one look per image, not per camera
    with open(os.path.join(w, "domain.json")) as f:
        assert json.load(f)["web"] is True
    assert os.path.isfile(os.path.join(synth_dir(root), "preview.png"))


def test_a_deleted_domain_is_generated_again(web_tiny, tmp_path):
    root, _, _ = web_tiny
    copy = str(tmp_path / "root")
    shutil.copytree(root, copy)
    w = os.path.join(synth_dir(copy), "domain_W")
    with open(os.path.join(w, "captions.json"), "rb") as f:
        before = f.read()
    shutil.rmtree(w)
    ensure_generated(copy, preset="tiny", seed=0, domains=["domain_W"], progress=False, preview=False)
    with open(os.path.join(w, "captions.json"), "rb") as f:
        assert f.read() == before
