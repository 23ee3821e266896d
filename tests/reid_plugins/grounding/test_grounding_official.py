"""The authors' mask pickle: export / import round trip, their value convention, refused content."""
import os
import pickle

import numpy as np
import pytest
from grounding_fixtures import mask_cfg

from reid_plugins.grounding import MissingMaskError, PartMaskProvider, export_official_pickle, load_official_pickle


def _masks(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return {f"{k:04d}_c1s1_{k:06d}_00.jpg": rng.random((3, 128)) < 0.3 for k in range(n)}


def test_round_trip_and_the_authors_value_convention(tmp_path):
    masks = _masks()
    path = str(tmp_path / "market1501_patch_grounding_mask_calibrated.pkl")
    export_official_pickle(path, masks)
    with open(path, "rb") as f:
        raw = pickle.load(f)
    v = raw["0000_c1s1_000000_00.jpg"]
    assert v.dtype == np.float32 and v.shape == (3, 128)
    # additive mask: 0 where the patch is in the part, -inf elsewhere; the code's loss target logical_not(bool(v))
    np.testing.assert_array_equal(v == 0, masks["0000_c1s1_000000_00.jpg"])
    assert np.isneginf(v[~masks["0000_c1s1_000000_00.jpg"]]).all()
    np.testing.assert_array_equal(np.logical_not(v.astype(bool)), masks["0000_c1s1_000000_00.jpg"])
    back = load_official_pickle(path, (16, 8))
    assert back.keys() == masks.keys()
    for k in masks:
        np.testing.assert_array_equal(back[k], masks[k])
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


def test_large_negative_values_also_mean_not_in_part(tmp_path):
    path = tmp_path / "m.pkl"
    v = np.full((3, 128), -10000.0)
    v[0, :8] = 0.0
    path.write_bytes(pickle.dumps({"a.jpg": v}))
    m = load_official_pickle(str(path), (16, 8))["a.jpg"]
    assert m[0, :8].all() and m.sum() == 8


@pytest.mark.parametrize("value, match", [(np.zeros((3, 64)), r"\['a.jpg'\]: expected shape \(3, 128\)"),
                                          (np.ones((3, 128)), r"\['a.jpg'\]: expected an additive mask")])
def test_bad_values_are_named(tmp_path, value, match):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"a.jpg": value}))
    with pytest.raises(ValueError, match=match):
        load_official_pickle(str(path), (16, 8))


class _Evil:
    def __reduce__(self):
        return (os.mkdir, ("/tmp/grounding_pickle_ran_code",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"a.jpg": _Evil()}))
    with pytest.raises(ValueError, match="refusing to load"):
        load_official_pickle(str(path), (16, 8))
    assert not os.path.exists("/tmp/grounding_pickle_ran_code")


def test_provider_reads_the_pickle_by_basename(tmp_path):
    masks = _masks()
    path = str(tmp_path / "masks.pkl")
    export_official_pickle(path, masks)
    provider = PartMaskProvider.from_config(mask_cfg(str(tmp_path), backend="official-pickle",
                                                     official_pickle=path), ["Market1501"])
    name = "0002_c1s1_000002_00.jpg"
    np.testing.assert_array_equal(provider(f"/anywhere/bounding_box_train/{name}"), masks[name])
    with pytest.raises(MissingMaskError, match="9999.jpg.*OFFICIAL_PICKLE"):
        provider("/anywhere/9999.jpg")
    with pytest.raises(FileNotFoundError, match="OFFICIAL_PICKLE"):
        PartMaskProvider.from_config(mask_cfg(str(tmp_path), backend="official-pickle",
                                              official_pickle=str(tmp_path / "nope.pkl")), [])("/x/a.jpg")
