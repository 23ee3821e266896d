"""projects/MUVA/tools/mask_iou.py: part-mask IoU with the true parts (known answers and invariants)."""
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import muva_path  # noqa: E402,F401

sys.path.insert(0, os.path.join(muva_path.PROJECT, "tools"))
import mask_iou  # noqa: E402

CONFIG = os.path.join(muva_path.PROJECT, "..", "..", "configs", "MUVA", "Synth", "MUVA_tiny_A.yml")
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_mean_part_iou_known_answer():
    ref = np.zeros((2, 3, 4), dtype=bool)
    ref[:, 0, :2] = True                      # head: patches 0, 1
    ref[:, 1, 1:] = True                      # upper: patches 1-3
    ref[:, 2, 3] = True                       # legs: patch 3
    pred = np.zeros_like(ref)
    pred[0, 0, :1] = True                     # image 0 head: 1 of 2, union 2 -> 0.5
    pred[1, 0, :4] = True                     # image 1 head: 2 of 4 -> 0.5
    pred[:, 1, 1:] = True                     # upper exact -> 1
    pred[0, 2, 2] = True                      # image 0 legs: disjoint -> 0; image 1 legs hidden (left out)
    present = np.array([[True, True, True], [True, True, False]])
    assert mask_iou.mean_part_iou(pred, ref, present) == {"head": 0.5, "upper": 1.0, "legs": 0.0}


def _model(cfg):
    from fastreid.modeling import build_model

    cfg.defrost()
    cfg.MODEL.HEADS.NUM_CLASSES = 10
    cfg.MODEL.BACKBONE.PRETRAIN = False
    return build_model(cfg)


@pytest.mark.parametrize("attention_masks,losses", [
    ("predicted", '("IDLoss", "ImpLoss", "I2TCELoss", "MaskBCELoss", "MaskDiceLoss")'),
    ("fixed-stripes", '("IDLoss", "ImpLoss", "I2TCELoss")')])
def test_dataset_mask_iou_invariants(synth_root, attention_masks, losses):
    from muva import add_muva_config
    from reid_plugins.config import build_cfg

    cfg = build_cfg(CONFIG, ["DATASETS.ROOT", synth_root, "MODEL.MASKS.BACKEND", "oracle", "TEST.IMS_PER_BATCH", "16",
                             "MODEL.MUVA.ATTENTION_MASKS", attention_masks, "MODEL.LOSSES.NAME", losses],
                    (add_muva_config,))
    r = mask_iou.dataset_mask_iou(cfg, _model(cfg), "SynthPedB", max_images=40)
    assert r["pseudo"] == {"head": 1.0, "upper": 1.0, "legs": 1.0}  # the clean oracle is the reference
    assert all(0.0 < v < 0.6 for v in r["stripes"].values())         # full-width thirds are far wider than a part
    if attention_masks == "predicted":
        assert all(0.0 <= v <= 1.0 for v in r["predicted"].values())
    else:
        assert "predicted" not in r                                  # no mask predictor to read
