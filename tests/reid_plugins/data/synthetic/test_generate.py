import hashlib
import json
import os

import pytest

from reid_plugins.data.datasets import MarketLayoutDataset
from reid_plugins.data.synthetic import (BENCHMARK_DOMAINS, STYLES, SyntheticConfigError, ensure_generated,
                                         synth_dir)
from reid_plugins.data.synthetic.presets import PRESETS

def _tree_hashes(base):
    out = {}
    for dirpath, _, files in os.walk(base):
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, base)] = hashlib.sha256(fh.read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synth"))
    manifest = ensure_generated(root, preset="tiny", seed=0, workers=2, progress=False)
    return root, manifest


class _Domain(MarketLayoutDataset):
    """Reads a generated domain with the project's Market-layout parser (names validated, sorted)."""

    def __init__(self, root, domain):
        self.dataset_dir = f"synthped/{domain}"
        self.dataset_name = domain
        super().__init__(root=root)


def test_manifest_and_counts_match_the_preset(tiny_root):
    root, manifest = tiny_root
    assert manifest["complete"] is True and manifest["preset"] == "tiny" and manifest["seed"] == 0
    assert sorted(manifest["domains"]) == sorted(BENCHMARK_DOMAINS)
    with open(os.path.join(synth_dir(root), "manifest.json")) as f:
        assert json.load(f) == manifest
    for d in BENCHMARK_DOMAINS:
        size = PRESETS["tiny"][d]
        ds = _Domain(root, d)
        train_ids = {pid for _, pid, _ in ds.train}
        query_ids, gallery_ids = {pid for _, pid, _ in ds.query}, {pid for _, pid, _ in ds.gallery}
        assert len(train_ids) == size.train_ids == manifest["domains"][d]["train"]["ids"]
        assert len(query_ids) == len(gallery_ids) == size.test_ids
        assert query_ids == gallery_ids and not ({int(p.rsplit("_", 1)[1]) for p in train_ids} & query_ids)
        assert len(ds.train) == manifest["domains"][d]["train"]["images"]
        assert len(ds.query) == manifest["domains"][d]["query"]["images"]
        assert len(ds.gallery) == manifest["domains"][d]["gallery"]["images"]
        cams = {c for _, _, c in ds.query + ds.gallery}
        with open(os.path.join(root, "synthped", d, "domain.json")) as f:
            info = json.load(f)
        assert max(cams) < info["num_cameras"] and len(info["cameras"]) == info["num_cameras"]
        assert info["generator"]["preset"] == "tiny"
    assert os.path.isfile(os.path.join(synth_dir(root), "preview.png"))


def test_annotation_files_follow_the_architecture_contract(tiny_root):
    root, _ = tiny_root
    n_null = 0
    for d in BENCHMARK_DOMAINS:
        ddir = os.path.join(root, "synthped", d)
        images = sorted(os.path.join(s, f) for s in ("bounding_box_train", "bounding_box_test", "query")
                        for f in os.listdir(os.path.join(ddir, s)))
        with open(os.path.join(ddir, "parts.json")) as f:
            parts = json.load(f)
        with open(os.path.join(ddir, "captions.json")) as f:
            captions = json.load(f)
        with open(os.path.join(ddir, "attributes.json")) as f:
            attributes = json.load(f)
        assert sorted(parts) == sorted(os.path.basename(p) for p in images)
        for boxes in parts.values():
            assert set(boxes) == {"head", "upper", "legs", "person"}
            for box in boxes.values():
                n_null += box is None
                if box is not None:
                    assert len(box) == 4 and all(isinstance(v, int) for v in box)
                    assert 0 <= box[0] < box[2] <= 128 and 0 <= box[1] < box[3] <= 256
        assert [c["file_path"] for c in captions] == images
        for c in captions:
            outfit_key = {"outfit"} if d == "domain_E" else set()   # only where people change clothes
            assert set(c) == {"split", "file_path", "id", "captions", "processed_tokens", "styles",
                              "identity_description", "clothing_description"} | outfit_key
            assert c["split"] == ("train" if c["file_path"].startswith("bounding_box_train") else "test")
            assert isinstance(c["id"], int) and c["id"] == int(os.path.basename(c["file_path"])[:4])
            assert len(c["captions"]) == len(c["styles"]) == len(c["processed_tokens"]) >= 1
            assert set(c["styles"]) <= set(STYLES)
            assert all(isinstance(t, list) and all(isinstance(w, str) for w in t) for t in c["processed_tokens"])
            assert c["identity_description"] and c["clothing_description"]
            assert attributes[str(c["id"])]["split"] == c["split"]
        assert set(attributes) == {str(c["id"]) for c in captions}
        for a in attributes.values():
            assert {"body", "head", "upper", "legs", "family"} <= set(a)
    assert n_null > 0      # occluders / cut-offs produce null boxes in this seed


def test_second_call_does_nothing(tiny_root):
    root, manifest = tiny_root
    base = synth_dir(root)
    before = {p: os.stat(os.path.join(base, p)).st_mtime_ns for p in _tree_hashes(base)}
    assert ensure_generated(root, preset="tiny", seed=0, progress=False) == manifest
    after = {p: os.stat(os.path.join(base, p)).st_mtime_ns for p in _tree_hashes(base)}
    assert before == after


def test_other_preset_or_seed_is_refused_without_force(tiny_root):
    root, _ = tiny_root
    with pytest.raises(SyntheticConfigError, match=r"preset='tiny' seed=0.*--force"):
        ensure_generated(root, preset="default", seed=0, progress=False)
    with pytest.raises(SyntheticConfigError, match="seed=1"):
        ensure_generated(root, preset="tiny", seed=1, progress=False)


def test_same_seed_gives_identical_bytes_whatever_the_workers_and_resumes(tiny_root, tmp_path):
    root, _ = tiny_root
    reference = _tree_hashes(synth_dir(root))
    other = str(tmp_path / "again")
    ensure_generated(other, preset="tiny", seed=0, workers=1, progress=False)
    assert _tree_hashes(synth_dir(other)) == reference
    # interrupted run: manifest and one domain's annotations gone, a few images gone -> regenerated identically
    base = synth_dir(other)
    os.remove(os.path.join(base, "manifest.json"))
    os.remove(os.path.join(base, "domain_C", "domain.json"))
    query = os.path.join(base, "domain_C", "query")
    os.remove(os.path.join(query, sorted(os.listdir(query))[0]))
    a_mtime = os.stat(os.path.join(base, "domain_A", "parts.json")).st_mtime_ns
    ensure_generated(other, preset="tiny", seed=0, workers=1, progress=False)
    assert _tree_hashes(base) == reference
    assert os.stat(os.path.join(base, "domain_A", "parts.json")).st_mtime_ns == a_mtime   # finished domain kept


def test_force_regenerates_with_the_new_configuration(tmp_path):
    root = str(tmp_path)
    ensure_generated(root, preset="tiny", seed=0, workers=1, progress=False, preview=False, domains=["domain_D"])
    with pytest.raises(SyntheticConfigError):
        ensure_generated(root, preset="tiny", seed=3, workers=1, progress=False, preview=False,
                         domains=["domain_D"])
    m = ensure_generated(root, preset="tiny", seed=3, workers=1, progress=False, preview=False, force=True,
                         domains=["domain_D"], overrides={"train_ids": 2})
    assert m["seed"] == 3 and list(m["domains"]) == ["domain_D"]
    assert m["domains"]["domain_D"]["train"]["ids"] == 2
    assert len(_Domain(root, "domain_D").train) == m["domains"]["domain_D"]["train"]["images"]


def test_corrupt_manifest_is_reported_with_its_path(tmp_path):
    base = tmp_path / "synthped"
    base.mkdir()
    (base / "manifest.json").write_text("{not json")
    with pytest.raises(SyntheticConfigError, match="manifest.json.*not valid JSON"):
        ensure_generated(str(tmp_path), preset="tiny", progress=False)


def test_cli_help_and_refusal_exit_code(tiny_root, capsys):
    from reid_plugins.data.synthetic.__main__ import main

    root, _ = tiny_root
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--root", "--preset", "--seed", "--workers", "--force", "--domains", "--train-ids", "--preview"):
        assert flag in out
    assert main(["--root", root, "--preset", "default", "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["--root", root, "--preset", "tiny", "--quiet"]) == 0          # cached: prints the counts
    assert "domain_D: train 6 ids" in capsys.readouterr().out


def test_force_on_some_domains_keeps_the_others(tmp_path):
    root = str(tmp_path)
    kw = dict(preset="tiny", seed=0, workers=1, progress=False, preview=False)
    ensure_generated(root, domains=["domain_B", "domain_D"], **kw)
    base = synth_dir(root)
    b_mtime = os.stat(os.path.join(base, "domain_B", "parts.json")).st_mtime_ns
    d_mtime = os.stat(os.path.join(base, "domain_D", "parts.json")).st_mtime_ns
    m = ensure_generated(root, domains=["domain_D"], force=True, **kw)
    assert list(m["domains"]) == ["domain_B", "domain_D"]
    assert os.stat(os.path.join(base, "domain_B", "parts.json")).st_mtime_ns == b_mtime
    assert os.stat(os.path.join(base, "domain_D", "parts.json")).st_mtime_ns != d_mtime


def test_interrupted_run_of_another_configuration_leaves_nothing_behind(tmp_path):
    root = str(tmp_path)
    kw = dict(workers=1, progress=False, preview=False, domains=["domain_D"])
    ensure_generated(root, preset="tiny", seed=5, **kw)
    ddir = os.path.join(synth_dir(root), "domain_D")
    os.remove(os.path.join(synth_dir(root), "manifest.json"))      # as if seed 5 had been interrupted ...
    os.remove(os.path.join(ddir, "domain.json"))
    open(os.path.join(ddir, "query", "0001_c1s1_000001_00.jpg.tmp99"), "w").close()
    m = ensure_generated(root, preset="tiny", seed=0, **kw)         # ... and seed 0 is asked for next
    names = [n for s in ("bounding_box_train", "bounding_box_test", "query") for n in os.listdir(os.path.join(ddir, s))]
    assert len(names) == sum(c["images"] for c in m["domains"]["domain_D"].values())
    assert not [n for n in names if ".tmp" in n]
    assert [n for n in os.listdir(ddir) if n.startswith(".chunks")] == []


def test_clothes_changing_domain_describes_and_renders_the_outfit_each_camera_sees(tiny_root):
    from reid_plugins.data.synthetic.attributes import wear
    from reid_plugins.data.synthetic.captions import COLOR_WORDS

    root, _ = tiny_root
    for d in BENCHMARK_DOMAINS:
        with open(os.path.join(root, "synthped", d, "captions.json")) as f:
            entries = json.load(f)
        if d != "domain_E":
            assert not any("outfit" in e for e in entries)
            continue
        with open(os.path.join(root, "synthped", d, "attributes.json")) as f:
            attributes = json.load(f)
        outfits_seen = set()
        for e in entries:
            ident = attributes[str(e["id"])]
            camid = e["file_path"].split("_c")[1].split("s1")[0]
            assert e["outfit"] == ident["outfit_by_camera"][camid]
            outfits_seen.add((e["id"], e["outfit"]))
            top = wear(ident, e["outfit"])["upper"]["color"]
            clothing = e["clothing_description"].lower()
            assert any(w.lower() in clothing for w in COLOR_WORDS[top]), (top, clothing)
        assert any(o for _, o in outfits_seen)            # someone changed clothes
        with open(os.path.join(root, "synthped", d, "meta.json")) as f:
            assert len(json.load(f)) == len(entries)
