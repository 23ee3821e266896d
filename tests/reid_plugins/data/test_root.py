"""dataset_root: DATASETS.ROOT, else $FASTREID_DATASETS, else "datasets"; fast-reid's builders are pointed at the same
root, and the MUVA / BDAM loaders and the part-mask settings read it from the config."""
import yacs.config

from reid_plugins.data.root import dataset_root


def _cfg(**datasets):
    return yacs.config.CfgNode({"DATASETS": datasets})


def test_config_key_then_environment_then_default(monkeypatch):
    monkeypatch.setenv("FASTREID_DATASETS", "/env/root")
    assert dataset_root(_cfg(ROOT="/cfg/root")) == "/cfg/root"
    assert dataset_root(_cfg(ROOT="")) == "/env/root"
    assert dataset_root(_cfg()) == "/env/root"  # a config without the key reads as unset
    monkeypatch.delenv("FASTREID_DATASETS")
    assert dataset_root(_cfg(ROOT="")) == "datasets"


def test_fastreid_builders_and_mask_settings_use_the_same_root(tmp_path, monkeypatch):
    import fastreid.data.build as fastreid_build

    from reid_plugins.config import build_cfg
    from reid_plugins.grounding import MaskSettings, add_part_mask_config

    monkeypatch.setattr(fastreid_build, "_root", fastreid_build._root)  # restored after the test
    monkeypatch.setenv("FASTREID_DATASETS", str(tmp_path / "env"))
    cfg = build_cfg(add_fns=[add_part_mask_config])
    assert fastreid_build._root == dataset_root(cfg) == str(tmp_path / "env")
    cfg = build_cfg(opts=["DATASETS.ROOT", str(tmp_path / "cfg")], add_fns=[add_part_mask_config])
    assert fastreid_build._root == MaskSettings.from_config(cfg).root == str(tmp_path / "cfg")
