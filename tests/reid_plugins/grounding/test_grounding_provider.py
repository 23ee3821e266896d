"""PartMaskProvider over fake parts.json files: known masks, calibration fallbacks, errors, pickling."""
import os
import pickle

import numpy as np
import pytest
from grounding_fixtures import HEAD, LEGS, PERSON, UPPER, mask_cfg, rows_cols, standard_entries, write_domain

from reid_plugins.grounding import MissingMaskError, PartMaskProvider, add_part_mask_config
from reid_plugins.grounding.config import MaskSettings


@pytest.fixture()
def domain(tmp_path):
    entries = standard_entries(24)
    entries["0900_c2s1_000900_00.jpg"] = {"head": HEAD, "upper": UPPER, "legs": PERSON, "person": PERSON}  # oversize
    entries["0901_c2s1_000901_00.jpg"] = {"head": None, "upper": UPPER, "legs": LEGS, "person": PERSON}  # hidden
    paths = write_domain(str(tmp_path), "domain_A", entries)
    return str(tmp_path), paths


def test_oracle_masks_are_the_hand_computed_patches(domain):
    root, paths = domain
    provider = PartMaskProvider.from_config(mask_cfg(root, backend="oracle", calibrate=False), ["SynthPedA"])
    m = provider(paths[0])
    assert m.shape == (3, 128) and m.dtype == bool
    # head x 48..80 y 16..48 -> rows 1-2, cols 3-4; upper y 48..128 -> rows 3-7, x 32..96 -> cols 2-5; legs rows 8-14
    assert rows_cols(m[0]) == ([1, 2], [3, 4]) and m[0].sum() == 4
    assert rows_cols(m[1]) == ([3, 4, 5, 6, 7], [2, 3, 4, 5]) and m[1].sum() == 20
    assert rows_cols(m[2]) == (list(range(8, 15)), [2, 3, 4, 5]) and m[2].sum() == 28


def test_uncalibrated_oracle_keeps_outliers_and_empties_hidden_parts(domain):
    root, paths = domain
    provider = PartMaskProvider.from_config(mask_cfg(root, calibrate=False), ["SynthPedA"])
    assert rows_cols(provider(paths[24])[2]) == (list(range(1, 15)), [2, 3, 4, 5])  # the whole person
    assert not provider(paths[25])[0].any()


def test_calibration_replaces_oversize_and_missing_boxes_by_fixed_stripes(domain):
    root, paths = domain
    provider = PartMaskProvider.from_config(mask_cfg(root, stripe_mode="fixed"), ["SynthPedA"])
    legs = provider(paths[24])[2].reshape(16, 8)
    assert legs[11:].all() and not legs[:11].any()  # bottom third: rows 11-15, all columns
    head = provider(paths[25])[0].reshape(16, 8)
    assert head[:5].all() and not head[5:].any()  # top third
    assert rows_cols(provider(paths[0])[0]) == ([1, 2], [3, 4])  # clean boxes untouched
    info = provider.explain(paths[24])
    assert info["reasons"].tolist() == [0, 0, 3]  # kept, kept, too_large
    np.testing.assert_allclose(info["boxes"][2], [0, 2 / 3, 1, 1])


def test_fitted_stripes_sit_at_the_median_kept_box(domain):
    # kept legs: 25 boxes with y offsets 0 (x7), 1, 2, 3 (x6 each) -> median offset 1 -> stripe y 129..241 px,
    # whose rows (centres 8 + 16 r) are 8-14; the head stripe is likewise y 17..49 px -> rows 1-2; full width
    root, paths = domain
    provider = PartMaskProvider.from_config(mask_cfg(root), ["SynthPedA"])
    info = provider.explain(paths[24])
    np.testing.assert_allclose(info["boxes"][2], [0, 129 / 256, 1, 241 / 256])
    legs = info["mask"][2].reshape(16, 8)
    assert legs[8:15].all() and legs.sum() == 7 * 8
    head = provider(paths[25])[0].reshape(16, 8)
    assert head[1:3].all() and head.sum() == 2 * 8


def test_stripes_backend_reads_no_file(tmp_path):
    provider = PartMaskProvider.from_config(mask_cfg(str(tmp_path), backend="stripes"), [])
    m = provider(str(tmp_path / "does_not_exist.jpg")).reshape(3, 16, 8)
    assert m[0, :5].all() and m[1, 5:11].all() and m[2, 11:].all() and m.sum() == 128


def test_noisy_oracle_is_deterministic_per_image_and_differs_from_clean(domain):
    root, paths = domain
    cfg = mask_cfg(root, backend="oracle-noisy", calibrate=False, **{"noise.oversize": 0.5, "noise.seed": 3})
    a = PartMaskProvider.from_config(cfg, ["SynthPedA"]).masks(paths)
    b = PartMaskProvider.from_config(cfg, ["SynthPedA"]).masks(paths[::-1])[::-1]
    np.testing.assert_array_equal(a, b)
    clean = PartMaskProvider.from_config(mask_cfg(root, calibrate=False), ["SynthPedA"]).masks(paths)
    assert (a != clean).any(axis=2).sum() >= 10  # about half of the 78 parts are oversized


def test_provider_pickles_with_its_loaded_masks(domain):
    root, paths = domain
    provider = PartMaskProvider.from_config(mask_cfg(root), ["SynthPedA"])
    expected = provider(paths[3])
    clone = pickle.loads(pickle.dumps(provider))
    np.testing.assert_array_equal(clone(paths[3]), expected)
    clone(paths[3])[0, :] = True  # callers get copies
    np.testing.assert_array_equal(clone(paths[3]), expected)


def test_missing_parts_file_and_unknown_image_name_the_image(domain, tmp_path):
    root, paths = domain
    provider = PartMaskProvider.from_config(mask_cfg(root), ["SynthPedA"])
    with pytest.raises(MissingMaskError, match="not a key of .*parts.json"):
        provider(os.path.join(os.path.dirname(paths[0]), "9999_c1s1_000001_00.jpg"))
    other = tmp_path / "market" / "bounding_box_train" / "0001_c1s1_000001_00.jpg"
    with pytest.raises(MissingMaskError, match=r"0001_c1s1_000001_00\.jpg.*python -m reid_plugins\.grounding label"):
        provider(str(other))


def test_bad_config_values_are_named(tmp_path):
    with pytest.raises(ValueError, match="label images with"):
        PartMaskProvider.from_config(mask_cfg(str(tmp_path), backend="openai"), [])
    with pytest.raises(ValueError, match="VOTE_RULE"):
        PartMaskProvider.from_config(mask_cfg(str(tmp_path), vote_rule="majority"), [])
    with pytest.raises(ValueError, match="GRID"):
        PartMaskProvider.from_config(mask_cfg(str(tmp_path), grid=(16, 0)), [])
    from fastreid.config import get_cfg
    with pytest.raises(KeyError, match="add_part_mask_config"):
        MaskSettings.from_config(get_cfg())


def test_config_keys_and_defaults():
    from fastreid.config import get_cfg
    cfg = get_cfg()
    add_part_mask_config(cfg)
    m = cfg.MODEL.MASKS
    assert m.BACKEND == "oracle" and tuple(m.GRID) == (16, 8) and tuple(m.IMAGE_SIZE) == (256, 128)
    assert m.VOTE_RULE == "center" and m.CALIBRATE is True and m.CACHE_DIR == "" and m.OFFICIAL_PICKLE == ""
    cfg.merge_from_list(["MODEL.MASKS.GRID", "(24, 8)", "MODEL.MASKS.NOISE.DROP", "0.5"])
    s = MaskSettings.from_config(cfg)
    assert s.grid == (24, 8) and s.noise.drop == 0.5
