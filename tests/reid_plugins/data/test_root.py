"""dataset_root: DATASETS.ROOT, else $FASTREID_DATASETS, else "datasets"; fast-reid's loaders (compat patch
dataset_root_from_cfg), the MUVA / BDAM loaders and the part-mask settings all read the root through it."""
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


class _Built(Exception):
    """Stops a loader once it has constructed its dataset (the probe below records the root it was given)."""


def _roots_fastreid_loaders_use(cfg, monkeypatch) -> list:
    """The root each of fast-reid's loader builders (train / test, through the builder and through its from_config
    function) constructs a dataset with."""
    import fastreid.data.build as fastreid_build
    from fastreid.data.datasets import DATASET_REGISTRY

    roots = []

    class RootProbe:
        def __init__(self, root="datasets", **kwargs):
            roots.append(root)
            raise _Built

    monkeypatch.setitem(DATASET_REGISTRY._obj_map, "RootProbe", RootProbe)
    cfg = cfg.clone()
    cfg.DATASETS.NAMES = ("RootProbe",)
    for build in (lambda: fastreid_build.build_reid_train_loader(cfg),
                  lambda: fastreid_build._train_loader_from_config(cfg),
                  lambda: fastreid_build.build_reid_test_loader(cfg, dataset_name="RootProbe"),
                  lambda: fastreid_build._test_loader_from_config(cfg, dataset_name="RootProbe")):
        try:
            build()
        except _Built:
            pass
    return roots


def test_fastreid_loaders_and_mask_settings_use_the_same_root(tmp_path, monkeypatch):
    import fastreid.data.build as fastreid_build

    from reid_plugins.config import build_cfg
    from reid_plugins.grounding import MaskSettings, add_part_mask_config

    import_time_root = fastreid_build._root
    monkeypatch.setenv("FASTREID_DATASETS", str(tmp_path / "env"))  # set after fast-reid read it
    cfg = build_cfg(add_fns=[add_part_mask_config])
    assert _roots_fastreid_loaders_use(cfg, monkeypatch) == [str(tmp_path / "env")] * 4
    assert dataset_root(cfg) == MaskSettings.from_config(cfg).root == str(tmp_path / "env")
    cfg = build_cfg(opts=["DATASETS.ROOT", str(tmp_path / "cfg")], add_fns=[add_part_mask_config])
    assert _roots_fastreid_loaders_use(cfg, monkeypatch) == [str(tmp_path / "cfg")] * 4
    assert dataset_root(cfg) == MaskSettings.from_config(cfg).root == str(tmp_path / "cfg")
    assert fastreid_build._root == import_time_root  # the loaders read the config; fast-reid's global is left as is
