"""MUVA's config keys (add_muva_config), defaults = the authors' released configs (muva_ma2ms.yml / muva_ms2ma.yml).

Where the paper and the released code differ, the code is the default and the paper's variant is a switch; the
ablation configs under configs/MUVA/ablations flip these switches.
"""
from __future__ import annotations

from fastreid.config import CfgNode as CN

from reid_plugins.modeling.clip import add_clip_config

PART_NAMES = ("head", "upper", "legs")  # order of the VGE masks and of the part tokens
LOSS_NAMES = ("IDLoss", "ImpLoss", "I2TCELoss", "MaskBCELoss", "MaskDiceLoss")


def add_muva_config(cfg: CN) -> None:
    add_clip_config(cfg)
    _add_mask_config(cfg)
    cfg.MODEL.META_ARCHITECTURE = "MUVA"
    cfg.MODEL.BACKBONE.NAME = "build_muva_clip_backbone"
    cfg.MODEL.BACKBONE.PRETRAIN = True
    # input normalisation of the code: mean = std = 0.5 (fast-reid normalises 0-255 tensors in the model)
    cfg.MODEL.PIXEL_MEAN = [127.5, 127.5, 127.5]
    cfg.MODEL.PIXEL_STD = [127.5, 127.5, 127.5]
    cfg.MODEL.LOSSES.NAME = LOSS_NAMES
    cfg.MODEL.LOSSES.ID = CN({"EPSILON": 0.1, "SCALE": 1.0})             # L_id, label smoothing as the code
    cfg.MODEL.LOSSES.IMP = CN({"TEMP": 0.01, "MOMENTUM": 0.2, "HARD": True, "SCALE": 1.0})  # L_imp / VPM-2
    cfg.MODEL.LOSSES.I2TCE = CN({"EPSILON": 0.1, "TAU": 1.0, "NORM": False, "SCALE": 1.0})  # L_i2tce vs the TPM
    cfg.MODEL.LOSSES.MASK = CN({"BCE_SCALE": 1.0, "DICE_SCALE": 1.0,
                                # the code's dice: (2*I/1000 + 1e-6) / (U/1000 + 1e-6), i.e. smooth 1e-3 unscaled
                                "DICE_SMOOTH": 1e-3})

    cfg.MUVA = CN()
    # Granularities: the part tokens / prompts / masks used, a subset of PART_NAMES in this order. () = single-
    # grained "MUVA (w/ G)", which has no part tokens and no AM-MSA (paper Table 13 "w/o AM-MSA").
    cfg.MUVA.PARTS = PART_NAMES
    cfg.MUVA.PART_TOKEN_STD = 0.02
    cfg.MUVA.FREEZE_PATCH_PROJ = True
    # "predicted": AM-MSA (RMP + mask gating, mask losses); "stripe": fixed equal horizontal stripes as attention
    # masks in every layer, no predictor (paper Table 8 "stripe-like").
    cfg.MUVA.MASK_MODE = "predicted"
    cfg.MUVA.RMP = CN()
    cfg.MUVA.RMP.NUM_HEADS = 2            # 2 single-source (except MS), 8 for MS and multi-source (Table 12)
    cfg.MUVA.RMP.LAYER_NORM = True        # Table 10 "LN"
    cfg.MUVA.RMP.INNER_SHORTCUT = True    # Table 10 "RC"
    cfg.MUVA.RMP.SIGMOID_TAU = 1.0
    cfg.MUVA.RMP.GATE_THRESH = 0.5
    cfg.MUVA.RMP.LR_MULT = 10.0           # released yml (the code's default is 100)
    cfg.MUVA.PROMPT = CN()
    cfg.MUVA.PROMPT.ENABLED = True        # False: "vision-only" (no stage 1, no L_cmp / L_i2tce; Table 6)
    cfg.MUVA.PROMPT.N_CTX = 4
    cfg.MUVA.PROMPT.CTX_STD = 0.002
    cfg.MUVA.PROMPT.TEMPLATE = "universal"  # or "part-agnostic" (Table 7 "PAP")
    cfg.MUVA.PROMPT.DOMAIN_CONTEXT = ""     # appended as ", <context>" (Table 7 "DSP")
    cfg.MUVA.TEST_AFTER_BN = True
    cfg.MUVA.STAGE1 = CN()
    cfg.MUVA.STAGE1.PRETRAIN = ""         # a stage-1 checkpoint: load its prompt learner and skip stage 1
    cfg.MUVA.STAGE1.MAX_EPOCH = 120
    cfg.MUVA.STAGE1.IMS_PER_BATCH = 64
    cfg.MUVA.STAGE1.BASE_LR = 3.5e-4
    cfg.MUVA.STAGE1.WEIGHT_DECAY = 1e-4
    cfg.MUVA.STAGE1.LR_MIN = 1e-6
    cfg.MUVA.STAGE1.WARMUP_LR_INIT = 1e-5
    cfg.MUVA.STAGE1.WARMUP_EPOCHS = 5
    cfg.MUVA.STAGE1.TEMP = 1.0            # L_cmp temperature on cosine similarity (code: 1.0)
    cfg.MUVA.STAGE2 = CN()
    cfg.MUVA.STAGE2.WARMUP_EPOCHS = 10    # per-epoch linear warm-up from SOLVER.WARMUP_FACTOR
    cfg.MUVA.FEATURE_BATCH = 64           # batch of the feature passes (stage-1 centroids, VPM-2 rebuild)
    cfg.MUVA.NUM_THREADS = 0              # > 0: torch intra-op CPU threads of train_net.py (0: torch's default)
    cfg.MUVA.VIS = CN()
    cfg.MUVA.VIS.ENABLED = True           # Fig.-7-style PNG of predicted part masks after each evaluation
    cfg.MUVA.VIS.NUM_IMAGES = 6

    # Stage-2 solver (fast-reid keys): Adam 5e-6, wd 1e-4, 60 epochs, x0.1 at 30 and 50, per-epoch warm-up.
    cfg.SOLVER.OPT = "Adam"
    cfg.SOLVER.BASE_LR = 5e-6
    cfg.SOLVER.WEIGHT_DECAY = 1e-4
    cfg.SOLVER.MAX_EPOCH = 60
    cfg.SOLVER.STEPS = [30, 50]
    cfg.SOLVER.GAMMA = 0.1
    cfg.SOLVER.WARMUP_FACTOR = 0.1
    cfg.SOLVER.WARMUP_ITERS = 0           # fast-reid's per-iteration warm-up is off; MUVA.STAGE2 warms up per epoch
    cfg.SOLVER.IMS_PER_BATCH = 64
    cfg.SOLVER.CHECKPOINT_PERIOD = 60
    cfg.DATALOADER.SAMPLER_TRAIN = "NaiveIdentitySampler"
    cfg.DATALOADER.NUM_INSTANCE = 4
    # augmentation of the code: resize + flip (image and mask together); no pad/crop, no random erasing
    cfg.INPUT.SIZE_TRAIN = [256, 128]
    cfg.INPUT.SIZE_TEST = [256, 128]
    cfg.INPUT.FLIP.ENABLED = True
    cfg.INPUT.FLIP.PROB = 0.5
    cfg.INPUT.PADDING.ENABLED = False     # Table 11 "RCRE": PADDING (10 px) + REA on
    cfg.INPUT.PADDING.SIZE = 10
    cfg.INPUT.REA.ENABLED = False
    cfg.INPUT.REA.PROB = 0.5
    cfg.INPUT.REA.VALUE = [127.5, 127.5, 127.5]
    cfg.TEST.METRIC = "cosine"            # the code: L2-normalised features, Euclidean distance (same ranking)
    cfg.TEST.EVAL_PERIOD = 60
    cfg.TEST.IMS_PER_BATCH = 64
    cfg.SEED = 1234


def _add_mask_config(cfg: CN) -> None:
    """Part-mask keys (cfg.MODEL.MASKS.*) of reid_plugins.grounding, the only source of MUVA's masks."""
    from reid_plugins.grounding import add_part_mask_config

    add_part_mask_config(cfg)
