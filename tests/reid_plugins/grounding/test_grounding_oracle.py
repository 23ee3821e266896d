"""parts.json loading (errors name file / key / part) and the seeded oracle-noisy perturbations."""
import json

import numpy as np
import pytest
from grounding_fixtures import HEAD, LEGS, PERSON, UPPER

from reid_plugins.grounding.oracle import ERROR_KINDS, NoiseRates, load_parts_file, perturb

SIZE = (256, 128)


def _write(tmp_path, obj):
    p = tmp_path / "parts.json"
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return str(p)


def _clean(n):
    names = [f"{k:04d}_c1s1_{k:06d}_00.jpg" for k in range(n)]
    boxes = np.tile(np.array([HEAD, UPPER, LEGS], float) / [128, 256, 128, 256], (n, 1, 1))
    person = np.tile(np.array(PERSON, float) / [128, 256, 128, 256], (n, 1))
    return names, boxes, person


def test_load_normalises_and_keeps_nulls(tmp_path):
    path = _write(tmp_path, {"a.jpg": {"head": HEAD, "upper": UPPER, "legs": None, "person": PERSON}})
    names, boxes, person = load_parts_file(path, SIZE)
    assert names == ["a.jpg"]
    np.testing.assert_allclose(boxes[0, 0], [48 / 128, 16 / 256, 80 / 128, 48 / 256])
    assert np.isnan(boxes[0, 2]).all()
    np.testing.assert_allclose(person[0], [0.25, 1 / 16, 0.75, 240 / 256])


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ([1, 2], "expected an object"),
    ({"a.jpg": {"head": HEAD, "upper": UPPER}}, r"\['a.jpg'\]: expected an object with keys"),
    ({"a.jpg": {"head": [0, 0, 200, 10], "upper": UPPER, "legs": LEGS}}, r"\['a.jpg'\]\['head'\].*128\(w\) x 256\(h\)"),
    ({"a.jpg": {"head": "top", "upper": UPPER, "legs": LEGS}}, r"\['head'\]: expected null or"),
])
def test_bad_parts_files_are_named(tmp_path, content, match):
    with pytest.raises(ValueError, match=match):
        load_parts_file(_write(tmp_path, content), SIZE)


def test_noise_is_seeded_per_image_name():
    names, boxes, person = _clean(50)
    rates = NoiseRates(drop=0.1, shift=0.1, swap=0.1, oversize=0.1, oversplit=0.1, seed=7)
    a, ka = perturb(names, boxes, person, rates)
    order = np.random.default_rng(0).permutation(50)
    b, kb = perturb([names[i] for i in order], boxes[order], person[order], rates)
    np.testing.assert_array_equal(a[order], b)
    np.testing.assert_array_equal(ka[order], kb)
    c, _ = perturb(names, boxes, person, NoiseRates(drop=0.1, shift=0.1, swap=0.1, oversize=0.1, oversplit=0.1,
                                                    seed=8))
    assert not np.array_equal(np.nan_to_num(a), np.nan_to_num(c))


def test_zero_rates_change_nothing_and_hidden_parts_stay_hidden():
    names, boxes, person = _clean(20)
    boxes[3, 1] = np.nan
    out, kinds = perturb(names, boxes, person, NoiseRates(0, 0, 0, 0, 0))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(boxes))
    np.testing.assert_array_equal(np.nan_to_num(out), np.nan_to_num(boxes))
    assert not kinds.any()
    _, kinds = perturb(names, boxes, person, NoiseRates(drop=1.0, shift=0, swap=0, oversize=0, oversplit=0))
    assert kinds[3, 1] == 0 and (kinds[np.arange(20) != 3] == 1).all()


def test_each_error_kind_does_what_it_says():
    names, boxes, person = _clean(30)
    only = lambda **k: NoiseRates(**{**dict(drop=0, shift=0, swap=0, oversize=0, oversplit=0), **k})  # noqa: E731
    out, _ = perturb(names, boxes, person, only(drop=1.0))
    assert np.isnan(out).all()
    out, _ = perturb(names, boxes, person, only(oversize=1.0))
    assert (out[..., :2] <= person[:, None, :2] + 1e-12).all() and (out[..., 2:] >= person[:, None, 2:] - 1e-12).all()
    out, _ = perturb(names, boxes, person, only(oversplit=1.0))
    h_ratio = (out[..., 3] - out[..., 1]) / (boxes[..., 3] - boxes[..., 1])
    assert ((h_ratio >= 0.1 - 1e-9) & (h_ratio <= 0.3 + 1e-9)).all()
    assert (out[..., :2] >= boxes[..., :2] - 1e-12).all() and (out[..., 2:] <= boxes[..., 2:] + 1e-12).all()
    out, _ = perturb(names, boxes, person, only(swap=1.0))
    for i in range(3):
        others = [boxes[0, j] for j in range(3) if j != i]
        assert all(any(np.allclose(out[n, i], o) for o in others) for n in range(30))
    out, _ = perturb(names, boxes, person, only(shift=1.0))
    moved = np.abs(out[..., :2] - boxes[..., :2]) / (boxes[..., 2:] - boxes[..., :2])
    assert (moved.max(-1) >= 0.3 - 1e-9).all()  # at least one side moved by >= 30 % (unless clipped to the image)


def test_error_frequencies_follow_the_rates():
    names, boxes, person = _clean(2000)
    rates = NoiseRates(drop=0.05, shift=0.1, swap=0.05, oversize=0.2, oversplit=0.1, seed=1)
    _, kinds = perturb(names, boxes, person, rates)
    n = kinds.size
    for k, rate in zip(range(1, len(ERROR_KINDS)), rates.as_array()):
        sigma = np.sqrt(n * rate * (1 - rate))
        assert abs((kinds == k).sum() - n * rate) < 4 * sigma, ERROR_KINDS[k]


def test_rates_must_be_a_distribution():
    with pytest.raises(ValueError, match="NOISE"):
        NoiseRates(drop=0.6, oversize=0.6)
    with pytest.raises(ValueError, match="NOISE"):
        NoiseRates(drop=-0.1)
