"""FastReidEvaluator: same contract and numbers as fast-reid's ReidEvaluator, selected through TEST.EVALUATOR."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

import reid_plugins  # noqa: F401
from fastreid.evaluation import DatasetEvaluator, ReidEvaluator

from reid_plugins.config import build_cfg
from reid_plugins.engine import PluginTrainer
from reid_plugins.evaluation import EVALUATOR_REGISTRY, FastReidEvaluator

from eval_fakes import make_market


def feed(evaluator, feats, pids, camids, batch=16):
    evaluator.reset()
    for s in range(0, len(feats), batch):
        evaluator.process({"targets": torch.as_tensor(pids[s:s + batch]),
                           "camids": torch.as_tensor(camids[s:s + batch])}, torch.as_tensor(feats[s:s + batch]))
    return evaluator.evaluate()


@pytest.mark.parametrize("opts", [[], ["TEST.METRIC", "euclidean"], ["TEST.AQE.ENABLED", "True"]])
def test_same_results_as_reid_evaluator(opts):
    rng = np.random.default_rng(0)
    nq, ng, n_ids = 40, 200, 20
    pids = np.concatenate([rng.integers(0, n_ids + 3, nq), rng.integers(0, n_ids, ng)])  # some queries unmatched
    camids = rng.integers(0, 3, nq + ng)
    feats = (rng.normal(size=(n_ids + 3, 12))[pids] + rng.normal(scale=0.9, size=(nq + ng, 12))).astype(np.float32)
    cfg = build_cfg(opts=opts)
    expected = feed(ReidEvaluator(cfg, nq), feats, pids, camids)
    got = feed(FastReidEvaluator(cfg, nq), feats, pids, camids)
    assert list(got) == list(expected)  # same keys in the same order
    for key in expected:
        assert got[key] == pytest.approx(float(expected[key]), abs=1e-4), key


def test_registered_and_refuses_what_needs_the_full_matrix():
    assert issubclass(EVALUATOR_REGISTRY.get("FastReidEvaluator"), DatasetEvaluator)
    for key in ("TEST.RERANK.ENABLED", "TEST.ROC.ENABLED"):
        with pytest.raises(ValueError, match=rf"{key} is True.*TEST.EVALUATOR ReidEvaluator"):
            FastReidEvaluator(build_cfg(opts=[key, "True"]), 10)
    with pytest.raises(ValueError, match="metric='jaccard' is not supported"):
        FastReidEvaluator(build_cfg(opts=["TEST.METRIC", "jaccard"]), 10)
    evaluator = FastReidEvaluator(build_cfg(opts=["TEST.VIS.ENABLED", "True"]), 1)
    with pytest.raises(KeyError, match="TEST.VIS.ENABLED is True but .* no 'img_paths'"):
        evaluator.process({"targets": torch.zeros(2), "camids": torch.zeros(2)}, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="num_query=5 must leave both a query and a gallery part of the 5"):
        feed(FastReidEvaluator(build_cfg(), 5), np.ones((5, 3), np.float32), np.arange(5), np.zeros(5))


def tiny_cfg(root, out, evaluator, extra=()):
    return build_cfg(opts=[
        "DATASETS.ROOT", root, "DATASETS.NAMES", '("Market1501",)', "DATASETS.TESTS", '("Market1501",)',
        "OUTPUT_DIR", out, "MODEL.BACKBONE.DEPTH", "18x", "MODEL.BACKBONE.FEAT_DIM", "512",
        "MODEL.BACKBONE.PRETRAIN", "False", "MODEL.HEADS.NUM_CLASSES", "4", "MODEL.HEADS.POOL_LAYER",
        "GlobalAvgPool", "INPUT.SIZE_TEST", "[32, 16]", "TEST.IMS_PER_BATCH", "8", "TEST.EVALUATOR", evaluator,
        *extra])


def test_plugin_trainer_test_gives_reid_evaluator_numbers_and_a_rank_list(tmp_path, one_thread):
    root = make_market(str(tmp_path / "data"))
    torch.manual_seed(0)
    cfg = tiny_cfg(root, str(tmp_path / "fastreid"), "ReidEvaluator")
    model = PluginTrainer.build_model(cfg)  # random weights: the features only need to be the same for both
    expected = PluginTrainer.test(cfg, model)

    vis_dir = str(tmp_path / "vis")
    ours_cfg = tiny_cfg(root, str(tmp_path / "ours"), "FastReidEvaluator",
                        ["TEST.VIS.ENABLED", "True", "TEST.VIS.DIR", vis_dir])
    got = PluginTrainer.test(ours_cfg, model)
    assert set(got) == set(expected) and 0 < expected["mAP"] < 100
    for key in expected:
        assert got[key] == pytest.approx(float(expected[key]), abs=1e-4), key

    png = os.path.join(vis_dir, "rank_list_Market-1501-v15.09.15.png")
    with Image.open(png) as img:
        assert img.format == "PNG" and img.size[0] > 300
    assert os.path.isfile(tmp_path / "ours" / "results.json")

    # fast-reid's evaluator draws the same picture (it ignored TEST.VIS.ENABLED) and keeps its numbers
    theirs_dir = str(tmp_path / "vis_theirs")
    theirs = PluginTrainer.test(tiny_cfg(root, str(tmp_path / "theirs"), "ReidEvaluator",
                                         ["TEST.VIS.ENABLED", "True", "TEST.VIS.DIR", theirs_dir]), model)
    assert theirs == pytest.approx(expected)
    with Image.open(png) as ours_png, Image.open(os.path.join(theirs_dir, os.path.basename(png))) as theirs_png:
        assert np.array_equal(np.asarray(ours_png), np.asarray(theirs_png))  # same ranking, same title
