"""build_cfg / setup_cfg: our keys, dataset root and device, and config errors that name the source and the key."""
import os

import pytest
import yaml

import reid_plugins  # noqa: F401

from reid_plugins.config import ConfigError, build_cfg, flatten_cfg


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_our_keys_defaults_device_and_dataset_root(tmp_path):
    from reid_plugins.data.root import dataset_root

    cfg = build_cfg(opts=["DATASETS.ROOT", str(tmp_path), "SEED", "7"])
    assert (cfg.TEST.EVALUATOR, cfg.TEST.NUM_WORKERS, cfg.SEED) == ("ReidEvaluator", 0, 7)
    assert cfg.MODEL.DEVICE == "cpu"  # fast-reid's "cuda" default, resolved on this CPU-only machine
    assert dataset_root(cfg) == str(tmp_path)  # what fast-reid's loaders read too (tests/reid_plugins/data/test_root.py)


def test_unknown_key_names_the_file_or_the_command_line(tmp_path):
    cfg_file = _write(tmp_path / "bad.yml", "SOLVER:\n  IMS_PER_BACH: 8\n")
    with pytest.raises(ConfigError, match=r"config file '.*bad.yml': Non-existent config key: SOLVER.IMS_PER_BACH"):
        build_cfg(cfg_file)
    with pytest.raises(KeyError, match=r"command-line option: Non-existent key: MODEL.NOPE .*spelling"):
        build_cfg(opts=["MODEL.NOPE", "1"])  # still a KeyError for callers that catch what yacs raised


def test_an_unknown_key_names_the_closest_existing_one(tmp_path):
    cfg_file = _write(tmp_path / "typo.yml", "SOLVER:\n  MAX_EPOC: 4\n")
    with pytest.raises(ConfigError, match=r"typo.yml'.*SOLVER.MAX_EPOC; did you mean SOLVER.MAX_EPOCH\?"):
        build_cfg(cfg_file)
    with pytest.raises(ConfigError, match=r"Non-existent key: SOLVR.MAX_EPOCH; did you mean SOLVER.MAX_EPOCH\?"):
        build_cfg(opts=["SOLVR.MAX_EPOCH", "4"])
    with pytest.raises(ConfigError) as e:  # nothing close: no guess (a shared prefix alone is not close)
        build_cfg(opts=["MODEL.BACKBONE.CLIP_ARCH", "x"])
    assert "did you mean" not in str(e.value)


def test_base_lists_merge_in_order_and_the_file_wins(tmp_path):
    from reid_plugins.config import load_config_file

    _write(tmp_path / "method.yml", "SOLVER:\n  IMS_PER_BATCH: 16\n  BASE_LR: 0.5\nSEED: 1\n")
    os.makedirs(tmp_path / "protocols")
    _write(tmp_path / "protocols" / "p.yml", "DATASETS:\n  NAMES: (\"A\",)\n  TESTS: (\"B\",)\nSEED: 2\n")
    child = _write(tmp_path / "child.yml", "_BASE_: [method.yml, protocols/p.yml]\nSOLVER:\n  BASE_LR: 0.1\n")
    cfg = build_cfg(child)
    assert (cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.BASE_LR, cfg.SEED) == (16, 0.1, 2)
    assert (tuple(cfg.DATASETS.NAMES), tuple(cfg.DATASETS.TESTS)) == (("A",), ("B",))
    assert load_config_file(child)[1] == [str(tmp_path / "method.yml"), str(tmp_path / "protocols" / "p.yml"), child]
    bad = _write(tmp_path / "bad.yml", "_BASE_: [method.yml, nowhere.yml]\n")
    with pytest.raises(FileNotFoundError, match=r"bad.yml'.*_BASE_ 'nowhere.yml'"):
        build_cfg(bad)


def test_wrong_type_names_key_values_and_the_expected_form(tmp_path):
    cfg_file = _write(tmp_path / "typo.yml", "SOLVER:\n  IMS_PER_BATCH: sixty-four\n")
    with pytest.raises(ConfigError, match=r"typo.yml'.*\(64 vs. sixty-four\) for config key: SOLVER.IMS_PER_BATCH"):
        build_cfg(cfg_file)
    with pytest.raises(ValueError, match=r"command-line option: .*<class 'float'> vs. <class 'int'>.*SOLVER.BASE_LR"
                                         r".*0.1 for a float"):
        build_cfg(opts=["SOLVER.BASE_LR", "1"])


def test_odd_option_list_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"KEY VALUE pairs; got 3 items"):
        build_cfg(opts=["SEED", "1", "OUTPUT_DIR"])
    with pytest.raises(FileNotFoundError, match="nowhere.yml"):
        build_cfg(str(tmp_path / "nowhere.yml"))
    broken = _write(tmp_path / "broken.yml", "SOLVER: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yml' is not valid YAML") as e:
        build_cfg(broken)
    assert isinstance(e.value.__cause__, yaml.YAMLError)
    child = _write(tmp_path / "child.yml", "_BASE_: missing-base.yml\nSEED: 1\n")
    with pytest.raises(OSError, match="missing-base.yml"):
        build_cfg(child)
    assert os.path.exists(child)  # nothing the user wrote is touched


def test_a_valid_file_and_options_merge_in_order(tmp_path):
    cfg_file = _write(tmp_path / "ok.yml", "SOLVER:\n  IMS_PER_BATCH: 16\nSEED: 1\n")
    cfg = build_cfg(cfg_file, ["SEED", "2", "MODEL.LOSSES.NAME", '("CrossEntropyLoss",)'])
    assert (cfg.SOLVER.IMS_PER_BATCH, cfg.SEED, tuple(cfg.MODEL.LOSSES.NAME)) == (16, 2, ("CrossEntropyLoss",))


def test_flatten_cfg_gives_every_leaf_its_dotted_key():
    cfg = build_cfg("", ["SOLVER.BASE_LR", "0.5"])
    flat = flatten_cfg(cfg)
    assert flat["SOLVER.BASE_LR"] == 0.5 and flat["DATASETS.NAMES"] == cfg.DATASETS.NAMES
    assert not any(isinstance(v, dict) for v in flat.values())
    assert flatten_cfg({"A": {"B": {"C": 1}, "D": [2]}, "E": None}) == {"A.B.C": 1, "A.D": [2], "E": None}


def _method_config(cfg):
    """A project's add_*_config with a subtree that moved, one key that moved elsewhere, and a derived key."""
    from fastreid.config import CfgNode as CN

    from reid_plugins.config import add_config_check, retire_keys

    cfg.MODEL.METHOD = CN({"LR": 0.1, "DOUBLE_LR": -1.0})
    retire_keys(cfg, {"METHOD": "MODEL.METHOD", "METHOD.THREADS": ("SOLVER.NUM_THREADS", "one key for all")})

    def derive(c):
        if c.MODEL.METHOD.DOUBLE_LR < 0:
            c.MODEL.METHOD.DOUBLE_LR = 2 * c.MODEL.METHOD.LR
    add_config_check(cfg, derive)


def test_a_retired_key_names_its_new_key_in_files_bases_and_options(tmp_path):
    with pytest.raises(ConfigError, match=r"^command-line option: METHOD.LR moved to MODEL.METHOD.LR; update"):
        build_cfg(opts=["METHOD.LR", "0.5"], add_fns=(_method_config,))
    with pytest.raises(ConfigError, match=r"METHOD.THREADS moved to SOLVER.NUM_THREADS \(one key for all\)"):
        build_cfg(opts=["SOLVER.BASE_LR", "1.0", "METHOD.THREADS", "1"], add_fns=(_method_config,))
    base = _write(tmp_path / "base.yml", "METHOD:\n  LR: 0.5\n")
    child = _write(tmp_path / "child.yml", "_BASE_: base.yml\nSEED: 3\n")
    with pytest.raises(ConfigError, match=r"^config file '.*/base.yml': METHOD.LR moved to MODEL.METHOD.LR"):
        build_cfg(child, add_fns=(_method_config,))  # names the _BASE_ that holds the old key
    with pytest.raises(ConfigError, match=r"TEST.VIS_RANK_LIST moved to TEST.VIS.ENABLED"):
        build_cfg(opts=["TEST.VIS_RANK_LIST", "True"])  # reid_plugins' own retired keys
    with pytest.raises(ConfigError, match=r"TEST.VIS_DIR moved to TEST.VIS.DIR"):
        build_cfg(_write(tmp_path / "vis.yml", "TEST:\n  VIS_DIR: /tmp/x\n"))


def test_checks_run_after_the_file_and_the_options(tmp_path):
    cfg_file = _write(tmp_path / "m.yml", "MODEL:\n  METHOD:\n    LR: 0.25\n")
    assert build_cfg(cfg_file, add_fns=(_method_config,)).MODEL.METHOD.DOUBLE_LR == 0.5
    cfg = build_cfg(cfg_file, ["MODEL.METHOD.LR", "1.5"], add_fns=(_method_config,))
    assert (cfg.MODEL.METHOD.LR, cfg.MODEL.METHOD.DOUBLE_LR) == (1.5, 3.0)
    assert build_cfg(cfg_file, ["MODEL.METHOD.DOUBLE_LR", "7.0"], (_method_config,)).MODEL.METHOD.DOUBLE_LR == 7.0
    assert "METHOD" not in build_cfg(add_fns=(_method_config,))  # the old subtree is gone
