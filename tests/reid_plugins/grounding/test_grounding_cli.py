"""CLI without a server: --help, image-folder labelling with reference backends, export-official, eval-calibration."""
import os
import runpy
import sys

import numpy as np
import pytest
from grounding_fixtures import mask_cfg, standard_entries, write_domain

from reid_plugins.grounding import PartMaskProvider, load_official_pickle
from reid_plugins.grounding.cache import MASKS_FILE, read_mask_cache
from reid_plugins.grounding.cli import main
from reid_plugins.grounding.voting import unpack_masks


def test_module_help_lists_the_commands(monkeypatch, capsys):
    # `python -m reid_plugins.grounding --help`, run in-process (a subprocess would re-import torch and fast-reid)
    monkeypatch.setattr(sys, "argv", ["python -m reid_plugins.grounding", "--help"])
    with pytest.raises(SystemExit) as e:
        runpy.run_module("reid_plugins.grounding", run_name="__main__")
    assert e.value.code == 0
    text = capsys.readouterr().out
    for word in ("label", "export-official", "eval-calibration"):
        assert word in text


def test_label_help_names_the_flags(capsys):
    with pytest.raises(SystemExit) as e:
        main(["label", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--dataset", "--images", "--backend", "--workers", "--visualize", "--api-key-env", "--model-dir",
                 "--trust-remote-code", "--grid", "--vote-rule", "--limit", "--multi-box", "--json-coords"):
        assert flag in text


def test_folder_labelling_visualize_and_export_round_trip(tmp_path, capsys):
    root = str(tmp_path / "data")
    paths = write_domain(root, "domain_A", standard_entries(30))
    folder = os.path.dirname(paths[0])
    out = str(tmp_path / "cache")
    assert main(["label", "--images", folder, "--backend", "oracle-noisy", "--out", out, "--visualize", "3",
                 "--quiet", "MODEL.MASKS.NOISE.OVERSIZE", "0.3"]) == 0
    printed = capsys.readouterr().out
    assert "backend oracle-noisy:" in printed and "legs" in printed and "visualize.png" in printed
    cache_dir = os.path.join(out, "bounding_box_train")
    cache = read_mask_cache(os.path.join(cache_dir, MASKS_FILE))
    assert len(cache) == 30 and cache.relpaths[0] == os.path.basename(paths[0])
    # the folder-mode cache and the direct oracle-noisy provider vote the same masks
    direct = PartMaskProvider.from_config(mask_cfg(root, backend="oracle-noisy", **{"noise.oversize": 0.3}), [])
    np.testing.assert_array_equal(unpack_masks(cache.masks, 128), direct.masks(paths))
    assert (cache.reasons == 3).sum() > 0  # some oversize boxes were caught

    pkl = str(tmp_path / "official.pkl")
    assert main(["export-official", "--cache", cache_dir, "--out", pkl]) == 0
    back = load_official_pickle(pkl, (16, 8))
    assert len(back) == 30
    np.testing.assert_array_equal(back[os.path.basename(paths[4])], direct(paths[4]))
    raw_pkl = str(tmp_path / "raw.pkl")
    assert main(["export-official", "--cache", os.path.join(cache_dir, MASKS_FILE), "--out", raw_pkl,
                 "--uncalibrated"]) == 0
    raw = PartMaskProvider.from_config(mask_cfg(root, backend="oracle-noisy", calibrate=False,
                                                **{"noise.oversize": 0.3}), [])
    np.testing.assert_array_equal(load_official_pickle(raw_pkl, (16, 8))[os.path.basename(paths[4])], raw(paths[4]))
    with open(os.path.join(cache_dir, "visualize.png"), "rb") as f:
        assert f.read(4) == b"\x89PNG"


def test_stripes_backend_and_grid_flag(tmp_path):
    root = str(tmp_path / "data")
    paths = write_domain(root, "domain_A", standard_entries(3))
    out = str(tmp_path / "cache")
    assert main(["label", "--images", os.path.dirname(paths[0]), "--backend", "stripes", "--out", out,
                 "--grid", "6", "2", "--quiet", "MODEL.MASKS.STRIPE_MODE", "fixed"]) == 0
    cache = read_mask_cache(os.path.join(out, "bounding_box_train", MASKS_FILE))
    m = unpack_masks(cache.masks, 12).reshape(3, 3, 6, 2)
    # thirds of 6 rows: 0-1 head, 2-3 upper, 4-5 legs
    assert m[:, 0, :2].all() and m[:, 1, 2:4].all() and m[:, 2, 4:].all() and m.sum() == 3 * 12
    assert "--grid 6 2" in cache.header["command"]


def test_eval_calibration_invariants(tmp_path, capsys):
    root = str(tmp_path / "data")
    write_domain(root, "domain_A", standard_entries(40))
    from reid_plugins.grounding.evaluate import run_eval_calibration
    from reid_plugins.grounding.cli import build_parser

    args = build_parser().parse_args(["eval-calibration", "--root", root, "--dataset", "SynthPedA",
                                      "MODEL.MASKS.NOISE.DROP", "0.0", "MODEL.MASKS.NOISE.SHIFT", "0.0",
                                      "MODEL.MASKS.NOISE.SWAP", "0.0", "MODEL.MASKS.NOISE.OVERSIZE", "0.0",
                                      "MODEL.MASKS.NOISE.OVERSPLIT", "0.0"])
    r = run_eval_calibration(args)["SynthPedA"]
    assert r["per_kind"]["none"] == {"n": 120, "replaced": 0} and r["clean_oracle_replaced"] == 0
    assert r["iou_raw"] == r["iou_calibrated"] == {"head": 1.0, "upper": 1.0, "legs": 1.0}
    stripes = r["iou_stripes"]
    assert all(0.0 < v < 1.0 for v in stripes.values())  # full-width thirds never equal the parts' boxes
    args = build_parser().parse_args(["eval-calibration", "--root", root, "--dataset", "SynthPedA",
                                      "MODEL.MASKS.NOISE.DROP", "0.0", "MODEL.MASKS.NOISE.SHIFT", "0.0",
                                      "MODEL.MASKS.NOISE.SWAP", "0.0", "MODEL.MASKS.NOISE.OVERSIZE", "0.25",
                                      "MODEL.MASKS.NOISE.OVERSPLIT", "0.0"])
    r = run_eval_calibration(args)["SynthPedA"]
    over = r["per_kind"]["oversize"]
    assert over["n"] > 10 and over["replaced"] == over["n"] and r["per_kind"]["none"]["replaced"] == 0
    assert all(r["iou_calibrated"][p] > r["iou_raw"][p] for p in ("head", "upper", "legs"))
    assert r["iou_stripes"] == stripes  # the stripes do not depend on the injected noise
    assert "caught / injected" in capsys.readouterr().out
