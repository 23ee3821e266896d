import os

import pytest
from fastreid.data.datasets import DATASET_REGISTRY

from reid_plugins.data.t2i import (CUHKPEDES, ICFGPEDES, T2I_DATASETS, T2IAnnotationError, RSTPReid, SynthPedT2IA,
                                   build_t2i_dataset, split_of)

from t2i_fakes import load, make_cuhk_pedes, make_icfg_pedes, make_rstpreid, make_synthped_captions, save


def test_registered_names():
    for name in ("CUHKPEDES", "ICFGPEDES", "RSTPReid", "SynthPedT2IA", "SynthPedT2IB", "SynthPedT2IC",
                 "SynthPedT2ID", "SynthPedT2IE"):
        assert DATASET_REGISTRY.get(name).__name__ == name
        assert name in T2I_DATASETS    # the names the "not a text-to-image dataset" error lists


def test_split_rule():
    assert [split_of(s) for s in ("train", "test", "val", "dev", "")] == ["train", "test", "val", "val", "val"]


def test_cuhk_pedes(tmp_path):
    make_cuhk_pedes(str(tmp_path), n_train=4, n_val=2, n_test=3, per_id=2)
    ds = CUHKPEDES(root=str(tmp_path))
    # 4 train ids x 2 images x 2 captions = 16 samples; ids 1..4 relabelled 0..3
    assert len(ds.train) == 16 and ds.num_train_pids == 4
    assert sorted({s.pid for s in ds.train}) == [0, 1, 2, 3]
    assert sorted({s.image_id for s in ds.train}) == list(range(8))
    first = ds.train[0]
    assert first.img_path == os.path.join(str(tmp_path), "CUHK-PEDES", "imgs", "CUHK01/0001000.png")
    assert first.caption == "A person wearing a red shirt and orange trousers."
    assert first.identity_description is None and first.clothing_description is None
    # val ids 5, 6 and test ids 7, 8, 9 keep their raw values; queries = every caption
    assert ds.val.image_pids == [5, 5, 6, 6] and len(ds.val.captions) == 8
    assert ds.test.image_pids == [7, 7, 8, 8, 9, 9]
    assert ds.test.caption_pids == [7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9]
    assert ds.test.caption_image_index == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert ds.split("test") is ds.test


def test_icfg_pedes_has_no_val(tmp_path):
    make_icfg_pedes(str(tmp_path), n_train=3, n_test=2, per_id=2)
    ds = ICFGPEDES(root=str(tmp_path))
    assert len(ds.train) == 6 and ds.num_train_pids == 3  # one caption per image
    assert ds.test.image_pids == [3, 3, 4, 4] and len(ds.test.captions) == 4
    with pytest.raises(T2IAnnotationError, match="no 'val' entries"):
        ds.split("val")


def test_rstpreid_uses_img_path(tmp_path):
    make_rstpreid(str(tmp_path), n_train=3, n_val=1, n_test=2, per_id=2)
    ds = RSTPReid(root=str(tmp_path))
    assert len(ds.train) == 12 and ds.num_train_pids == 3
    assert ds.val.image_pids == [3, 3]
    assert ds.test.img_paths[0] == os.path.join(str(tmp_path), "RSTPReid", "imgs", "0004_c1_0000.jpg")


def test_synthetic_captions_carry_descriptions(tmp_path):
    make_synthped_captions(str(tmp_path), "A", n_train=3, n_test=2, per_id=2)
    ds = build_t2i_dataset("SynthPedT2IA", str(tmp_path))
    assert isinstance(ds, SynthPedT2IA)
    assert ds.train[0].clothing_description == "A red shirt and orange trousers."
    assert ds.train[0].identity_description == "A tall adult, person 1."
    assert ds.train[0].img_path == os.path.join(str(tmp_path), "synthped", "domain_A",
                                                "bounding_box_train/0001_c1s1_000000_00.jpg")
    assert ds.description_coverage() == {"images": 6, "identity_description": 6, "clothing_description": 6}
    assert ds.test.image_pids == [4, 4, 5, 5]


def test_annotation_override_adds_descriptions(tmp_path):
    """The captioning pipeline's output (same list + descriptions) replaces the released file."""
    path = make_cuhk_pedes(str(tmp_path), n_train=2, n_val=1, n_test=1)
    entries = load(path)
    for e in entries:
        e["identity_description"] = f"person {e['id']}"
        e["clothing_description"] = "a coat"
    save(str(tmp_path / "described.json"), entries)
    ds = CUHKPEDES(root=str(tmp_path), annotation_file=str(tmp_path / "described.json"))
    assert {s.identity_description for s in ds.train} == {"person 1", "person 2"}
    assert ds.description_coverage()["clothing_description"] == 4


@pytest.mark.parametrize("mutate, message", [
    (lambda e: e[2].pop("captions"), "entry 2: missing key 'captions'"),
    (lambda e: e[1].update(id="7"), "entry 1: key 'id' must be an integer person id"),
    (lambda e: e[3].update(captions=[]), "entry 3: key 'captions' is an empty list"),
    (lambda e: e[0].update(captions=["ok", 5]), r"entry 0: key 'captions'\[1\] must be a non-empty string"),
    (lambda e: e[4].update(file_path="../../etc/passwd"), "entry 4: key 'file_path'"),
    (lambda e: e[1].update(clothing_description=""), "entry 1: key 'clothing_description' must be a non-empty"),
    (lambda e: e[5].update(file_path=e[0]["file_path"]), "entry 5: key 'file_path'=.* repeats entry 0"),
    (lambda e: e[6].update(id=1), "entry 6: person id 1 is in split 'val'"),
    (lambda e: e.__setitem__(2, "oops"), "entry 2: expected an object"),
])
def test_malformed_annotation_names_file_entry_and_key(tmp_path, mutate, message):
    path = make_cuhk_pedes(str(tmp_path), n_train=3, n_val=1, n_test=1)
    entries = load(path)
    mutate(entries)
    save(path, entries)
    with pytest.raises(T2IAnnotationError, match=message) as err:
        CUHKPEDES(root=str(tmp_path))
    assert "reid_raw.json" in str(err.value)


def test_rstpreid_missing_img_path_key(tmp_path):
    path = make_rstpreid(str(tmp_path))
    entries = load(path)
    entries[3]["file_path"] = entries[3].pop("img_path")  # the CUHK key in an RSTPReid file
    save(path, entries)
    with pytest.raises(T2IAnnotationError, match=r"data_captions.json: entry 3: missing key 'img_path'"):
        RSTPReid(root=str(tmp_path))


def test_missing_image_and_bad_json_and_missing_folder(tmp_path):
    path = make_icfg_pedes(str(tmp_path))
    first = load(path)[1]["file_path"]
    os.remove(os.path.join(str(tmp_path), "ICFG-PEDES", "imgs", first))
    with pytest.raises(T2IAnnotationError, match=r"1 of 10 images are missing .* entry 1"):
        ICFGPEDES(root=str(tmp_path))
    assert len(ICFGPEDES(root=str(tmp_path), check_images=False).train) == 6
    with open(path, "w") as f:
        f.write("[{\"split\": ")
    with pytest.raises(T2IAnnotationError, match="ICFG-PEDES.json' is not valid JSON: it is cut short"):
        ICFGPEDES(root=str(tmp_path))
    with pytest.raises(T2IAnnotationError, match=r"dataset folder .*CUHK-PEDES.* does not exist.*reid_raw.json"):
        CUHKPEDES(root=str(tmp_path))


def test_build_t2i_dataset_rejects_image_datasets(tmp_path):
    with pytest.raises(ValueError, match="not a text-to-image dataset"):
        build_t2i_dataset("Market1501", str(tmp_path))


def test_clothes_changing_domain_matches_a_person_across_outfits(tmp_path, monkeypatch):
    """SynthPedT2IE generates itself; a caption's positives include images of the same person in other outfits."""
    import json

    monkeypatch.setenv("REID_SYNTH_PRESET", "tiny")
    ds = build_t2i_dataset("SynthPedT2IE", str(tmp_path))
    with open(os.path.join(str(tmp_path), "synthped", "domain_E", "captions.json")) as f:
        outfit_of = {e["file_path"]: e["outfit"] for e in json.load(f)}
    test = ds.test
    image_outfit = [outfit_of[os.path.relpath(p, os.path.join(str(tmp_path), "synthped", "domain_E"))]
                    for p in test.img_paths]
    cross = sum(1 for q, pid in enumerate(test.caption_pids)
                for g, gpid in enumerate(test.image_pids)
                if gpid == pid and image_outfit[g] != image_outfit[test.caption_image_index[q]])
    assert cross > 0
    assert set(test.caption_pids) == set(test.image_pids)


def test_validation_held_out_of_training_identities_when_there_is_no_val_split(tmp_path):
    make_cuhk_pedes(str(tmp_path), n_train=5, n_val=0, n_test=1, per_id=2)  # train ids 1..5
    ds = CUHKPEDES(root=str(tmp_path))
    assert ds.hold_out_validation(0.4) == [1, 3]     # 2 of 5, evenly spaced in sorted-id order
    assert sorted(set(ds.val.image_pids)) == [1, 3] and len(ds.val.img_paths) == 4 and len(ds.val.captions) == 8
    assert ds.num_train_pids == 3 and sorted({s.pid for s in ds.train}) == [0, 1, 2]   # ids 2, 4, 5 relabelled
    assert ds.train_pid_map == {2: 0, 4: 1, 5: 2}
    assert ds.hold_out_validation(0.4) == []          # now it has a val split: nothing more is taken
    assert CUHKPEDES(root=str(tmp_path)).hold_out_validation(0.0) == [] and ds.num_train_pids == 3
    with pytest.raises(ValueError, match="leaves none to train on"):
        CUHKPEDES(root=str(tmp_path)).hold_out_validation(0.99)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        CUHKPEDES(root=str(tmp_path)).hold_out_validation(1.0)
    # a dataset with its own val split keeps it and all its training identities
    make_cuhk_pedes(str(tmp_path / "own"), n_train=4, n_val=1, n_test=1)
    own = CUHKPEDES(root=str(tmp_path / "own"))
    assert own.hold_out_validation(0.5) == [] and own.num_train_pids == 4


def test_train_identity_split_is_an_evaluation_split_of_training_identities(tmp_path):
    make_cuhk_pedes(str(tmp_path), n_train=4, n_val=1, n_test=1, per_id=2)
    ds = CUHKPEDES(root=str(tmp_path))
    probe = ds.train_identity_split(2)
    assert sorted(set(probe.image_pids)) == [1, 3] and len(probe.img_paths) == 4
    assert len(probe.captions) == len(probe.caption_pids) == 2 * len(probe.img_paths)
    assert all(probe.image_pids[i] == p for i, p in zip(probe.caption_image_index, probe.caption_pids))
    assert len(set(ds.train_identity_split(99).image_pids)) == 4 and not ds.train_identity_split(0).img_paths
