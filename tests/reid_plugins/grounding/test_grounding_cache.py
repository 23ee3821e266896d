"""masks.npz made by a labelling run (oracle backends, no network): provider reads, stale / missing detection."""
import os
import pickle
import shutil

import numpy as np
import pytest
from grounding_fixtures import HEAD, PERSON, UPPER, mask_cfg, standard_entries, write_domain

from reid_plugins.grounding import MissingMaskError, PartMaskProvider, StaleCacheError
from reid_plugins.grounding.backends import build_backend
from reid_plugins.grounding.cache import _ARRAYS, JOURNAL_FILE, MASKS_FILE, entry_key, read_mask_cache
from reid_plugins.grounding.compact import write_cache
from reid_plugins.grounding.config import MaskSettings
from reid_plugins.grounding.label import LabelItem, label_items


@pytest.fixture(scope="module")
def labelled_template(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cache") / "data")
    entries = standard_entries(24)
    entries["0900_c2s1_000900_00.jpg"] = {"head": HEAD, "upper": UPPER, "legs": PERSON, "person": PERSON}
    paths = write_domain(root, "domain_A", entries)
    items = [LabelItem(p, os.path.relpath(p, root)) for p in paths]
    cache_root = os.path.join(root, "part_masks")
    settings = MaskSettings.from_config(mask_cfg(root))
    summary = label_items(items, build_backend("oracle", settings), os.path.join(cache_root, "SynthPedA"), settings,
                          dataset="SynthPedA", command="python -m reid_plugins.grounding label --dataset SynthPedA",
                          progress=False)
    return root, paths, summary


@pytest.fixture()
def labelled(labelled_template, tmp_path):
    """A private copy of the labelled dataset (tests change images and cache files)."""
    root, paths, summary = labelled_template
    copy = str(tmp_path / "data")
    shutil.copytree(root, copy)
    return copy, [os.path.join(copy, os.path.relpath(p, root)) for p in paths], summary


def test_cache_masks_equal_the_direct_oracle_masks(labelled):
    root, paths, summary = labelled
    assert summary["images"] == 25 and summary["requested_now"] == 25 and summary["failed_images"] == 0
    assert summary["replacements"]["legs"]["too_large"] == 1 and summary["parsers"]["head"] == {"oracle": 25}
    cached = PartMaskProvider.from_config(mask_cfg(root, backend="cache"), ["SynthPedA"])
    direct = PartMaskProvider.from_config(mask_cfg(root, backend="oracle"), ["SynthPedA"])
    np.testing.assert_array_equal(cached.masks(paths), direct.masks(paths))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(cached)).masks(paths), direct.masks(paths))
    raw = PartMaskProvider.from_config(mask_cfg(root, backend="cache", calibrate=False), ["SynthPedA"])
    np.testing.assert_array_equal(raw.masks(paths),
                                  PartMaskProvider.from_config(mask_cfg(root, calibrate=False), ["SynthPedA"])
                                  .masks(paths))
    out_dir = os.path.join(root, "part_masks", "SynthPedA")
    assert sorted(os.listdir(out_dir)) == ["answers.jsonl", "calibration.png", "masks.npz", "summary.json"]


def test_cache_file_layout_and_keys(labelled):
    root, paths, _ = labelled
    cache = read_mask_cache(os.path.join(root, "part_masks", "SynthPedA", MASKS_FILE))
    h = cache.header
    assert h["backend"] == "oracle" and h["grid"] == [16, 8] and h["prompt_id"] == "none"
    rel = "synthped/domain_A/bounding_box_train/0001_c1s1_000000_00.jpg"
    row = cache.row(rel)
    assert cache.relpaths[row] == rel and cache.sizes[row] == os.path.getsize(paths[0])
    assert cache.keys[row] == entry_key(rel, os.path.getsize(paths[0]), "oracle", "none", (16, 8))
    assert cache.masks.dtype == np.uint8 and cache.masks.shape == (25, 3, 16)


def test_rerun_requests_nothing_and_rewrites_the_same_cache(labelled):
    root, paths, _ = labelled
    items = [LabelItem(p, os.path.relpath(p, root)) for p in paths]
    settings = MaskSettings.from_config(mask_cfg(root))
    out_dir = os.path.join(root, "part_masks", "SynthPedA")
    before = read_mask_cache(os.path.join(out_dir, MASKS_FILE))
    s = label_items(items, build_backend("oracle", settings), out_dir, settings, progress=False)
    assert s["requested_now"] == 0 and s["reused_from_journal"] == 25
    after = read_mask_cache(os.path.join(out_dir, MASKS_FILE))
    np.testing.assert_array_equal(before.masks, after.masks)
    with open(os.path.join(out_dir, JOURNAL_FILE)) as f:
        assert sum(1 for _ in f) == 25


def test_a_changed_image_is_a_stale_entry_with_the_regenerate_command(labelled):
    root, paths, _ = labelled
    with open(paths[3], "ab") as f:
        f.write(b"\0" * 10)
    provider = PartMaskProvider.from_config(mask_cfg(root, backend="cache"), ["SynthPedA"])
    provider(paths[2])
    with pytest.raises(StaleCacheError, match=r"0004_c1s1_000003_00\.jpg.*bytes.*regenerate it with: python -m "
                                              r"reid_plugins\.grounding label --dataset SynthPedA"):
        provider(paths[3])


def test_grid_and_backend_mismatches_are_reported(labelled):
    root, paths, _ = labelled
    with pytest.raises(StaleCacheError, match=r"\(16, 8\) grid but MODEL.MASKS.GRID is \(8, 4\).*--grid 8 4"):
        PartMaskProvider.from_config(mask_cfg(root, backend="cache", grid=(8, 4)), ["SynthPedA"])(paths[0])
    with pytest.raises(StaleCacheError, match="made by backend 'oracle' but MODEL.MASKS.CACHE_BACKEND is 'openai'"):
        PartMaskProvider.from_config(mask_cfg(root, backend="cache", cache_backend="openai"), ["SynthPedA"])(paths[0])


def test_missing_cache_and_unknown_image_name_the_command(labelled, tmp_path):
    root, paths, _ = labelled
    with pytest.raises(MissingMaskError, match=r"dataset 'SynthPedB'.*python -m reid_plugins\.grounding label "
                                               r"--dataset SynthPedB"):
        PartMaskProvider.from_config(mask_cfg(root, backend="cache"), ["SynthPedB"])(paths[0])
    provider = PartMaskProvider.from_config(mask_cfg(root, backend="cache"), ["SynthPedA"])
    with pytest.raises(MissingMaskError, match=r"other\.jpg.*label --dataset SynthPedA"):
        provider(os.path.join(root, "synthped", "domain_A", "query", "other.jpg"))


def test_a_corrupt_cache_file_is_named(labelled):
    root, paths, _ = labelled
    path = os.path.join(root, "part_masks", "SynthPedA", MASKS_FILE)
    with open(path, "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match="masks.npz.*cannot be read"):
        PartMaskProvider.from_config(mask_cfg(root, backend="cache"), ["SynthPedA"])(paths[0])


def test_write_cache_returns_the_cache_it_wrote(tmp_path):
    """The compaction step and the reader share one representation (MaskCache)."""
    box = {"box": [0.2, 0.0, 0.8, 0.3], "parser": "oracle", "text": "", "n_boxes": 1}
    records = [{"image_wh": [128, 256], "parts": {"head": box, "upper": dict(box, box=[0.1, 0.3, 0.9, 0.6]),
                                                   "legs": dict(box, box=None, parser="none")}}] * 3
    header = {"backend_id": "oracle", "prompt_id": "none", "dataset": "d", "command": "cmd"}
    written, stats = write_cache(str(tmp_path), ["a.jpg", "b.jpg", "c.jpg"], [1, 2, 3], records, MaskSettings(),
                                 header)
    read = read_mask_cache(str(tmp_path / MASKS_FILE))
    assert written.header == read.header and written.header["stats"] == stats and written.path == read.path
    for k in _ARRAYS:
        assert getattr(written, k).dtype == getattr(read, k).dtype and np.array_equal(
            getattr(written, k), getattr(read, k), equal_nan=getattr(read, k).dtype.kind == "f"), k
    assert written.mask(0).shape == (3, 16 * 8) and written.mask(0)[0].any()
