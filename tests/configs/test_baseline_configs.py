"""Every DG protocol of the MUVA paper has a BoT / AGW / SBS config that loads and names the right datasets."""
import glob
import os

import pytest

import reid_plugins  # noqa: F401
from fastreid.data.datasets import DATASET_REGISTRY

from reid_plugins.config import build_cfg
from reid_plugins.data import protocols as P

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_protocol_table_matches_the_paper():
    assert len(P.SINGLE_SOURCE) == 12 and len(P.MULTI_SOURCE) == 4
    assert P.parse("MA+D+C3_to_MS") == (("Market1501", "DukeMTMC", "CUHK03NPDetected"), ("MSMT17Market",))
    for proto in P.MULTI_SOURCE:  # leave-one-out: sources + target = all four
        src, tgt = P.parse(proto)
        assert sorted(src + tgt) == sorted(P.DATASET_OF.values())
    with pytest.raises(ValueError, match="XX"):
        P.parse("XX_to_MA")


def test_each_protocol_is_defined_once_and_every_method_reads_it():
    """configs/Protocols/<p>.yml names the datasets; the baseline and MUVA configs of <p> inherit it and do not set
    DATASETS.NAMES / TESTS themselves, so that all methods on one protocol train and test on the same sets."""
    from reid_plugins.config import load_config_file

    import yaml

    for proto in P.ALL:
        definition = os.path.join(ROOT, "configs", "Protocols", f"{proto}.yml")
        src, tgt = P.parse(proto)
        assert tuple(build_cfg(definition).DATASETS.NAMES) == src and tuple(build_cfg(definition).DATASETS.TESTS) == tgt
        for method in ("Baselines/bagtricks", "Baselines/AGW", "Baselines/SBS", "MUVA"):
            path = os.path.join(ROOT, "configs", method, f"{proto}.yml")
            assert os.path.abspath(definition) in map(os.path.abspath, load_config_file(path)[1]), path
            with open(path) as f:
                assert "DATASETS" not in yaml.safe_load(f), f"{path} sets its own datasets"


@pytest.mark.parametrize("method", ["bagtricks", "AGW", "SBS"])
def test_every_protocol_has_a_config(method):
    files = sorted(glob.glob(os.path.join(ROOT, "configs", "Baselines", method, "*.yml")))
    assert sorted(os.path.basename(f)[:-4] for f in files) == sorted(P.ALL)
    for f in files:
        cfg = build_cfg(f)
        src, tgt = P.parse(os.path.basename(f)[:-4])
        assert tuple(cfg.DATASETS.NAMES) == src and tuple(cfg.DATASETS.TESTS) == tgt
        for name in src + tgt:
            assert name in DATASET_REGISTRY._obj_map


def test_method_specific_settings():
    sbs = build_cfg(os.path.join(ROOT, "configs/Baselines/SBS/MA_to_MS.yml"))
    agw = build_cfg(os.path.join(ROOT, "configs/Baselines/AGW/MA_to_MS.yml"))
    bot = build_cfg(os.path.join(ROOT, "configs/Baselines/bagtricks/MA_to_MS.yml"))
    assert bot.MODEL.HEADS.POOL_LAYER == "GlobalAvgPool" and bot.MODEL.LOSSES.TRI.MARGIN == 0.3
    assert agw.MODEL.BACKBONE.WITH_NL and agw.MODEL.HEADS.POOL_LAYER == "GeneralizedMeanPooling"
    assert sbs.MODEL.HEADS.CLS_LAYER == "CircleSoftmax" and tuple(sbs.INPUT.SIZE_TRAIN) == (384, 128)
    assert bot.MODEL.DEVICE in ("cpu", "cuda")  # resolved to cpu when no GPU is present
