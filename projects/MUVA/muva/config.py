"""MUVA's config keys (add_muva_config), defaults = the authors' released configs (muva_ma2ms.yml / muva_ms2ma.yml).

Where the paper and the released code differ, the code is the default and the paper's variant is a switch; the
ablation configs under configs/MUVA/ablations flip these switches.
"""
from __future__ import annotations

from fastreid.config import CfgNode as CN

from reid_plugins.config import add_config_check, retire_keys
from reid_plugins.modeling.clip import add_clip_config

PART_NAMES = ("head", "upper", "legs")  # order of the VGE masks and of the part tokens
ATTENTION_MASKS = ("predicted", "fixed-stripes")  # MODEL.MUVA.ATTENTION_MASKS
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

    m = cfg.MODEL.MUVA = CN()
    # Granularities: the part tokens / prompts / masks used, a subset of PART_NAMES in this order. () = single-
    # grained "MUVA (w/ G)", which has no part tokens and no AM-MSA (paper Table 13 "w/o AM-MSA").
    m.PARTS = PART_NAMES
    m.PART_TOKEN_STD = 0.02
    m.FREEZE_PATCH_PROJ = True
    # The part tokens' attention masks: "predicted": AM-MSA (RMP + mask gating, mask losses, trained on the part
    # masks of MODEL.MASKS); "fixed-stripes": equal horizontal stripes in every layer, no predictor and no part masks
    # read (paper Table 8 "stripe-like"). Not to be confused with MODEL.MASKS.BACKEND stripes, a source of the masks
    # that supervise the predictor.
    m.ATTENTION_MASKS = "predicted"
    m.RMP = CN()
    m.RMP.NUM_HEADS = 2            # 2 single-source (except MS), 8 for MS and multi-source (Table 12)
    m.RMP.LAYER_NORM = True        # Table 10 "LN"
    m.RMP.INNER_SHORTCUT = True    # Table 10 "RC"
    m.RMP.SIGMOID_TAU = 1.0
    m.RMP.GATE_THRESH = 0.5
    m.RMP.LR_MULT = 10.0           # released yml (the code's default is 100)
    m.PROMPT = CN()
    m.PROMPT.ENABLED = True        # False: "vision-only" (no stage 1, no L_cmp / L_i2tce; Table 6)
    m.PROMPT.N_CTX = 4
    m.PROMPT.CTX_STD = 0.002
    m.PROMPT.TEMPLATE = "universal"  # or "part-agnostic" (Table 7 "PAP")
    m.PROMPT.DOMAIN_CONTEXT = ""     # appended as ", <context>" (Table 7 "DSP")
    m.TEST_AFTER_BN = True
    m.STAGE1 = CN()
    m.STAGE1.PRETRAIN = ""         # a stage-1 checkpoint: load its prompt learner and skip stage 1
    m.STAGE1.MAX_EPOCH = 120
    m.STAGE1.IMS_PER_BATCH = 64
    m.STAGE1.BASE_LR = 3.5e-4
    m.STAGE1.WEIGHT_DECAY = 1e-4
    m.STAGE1.LR_MIN = 1e-6
    m.STAGE1.WARMUP_LR_INIT = 1e-5
    m.STAGE1.WARMUP_EPOCHS = 5
    m.STAGE1.TEMP = 1.0            # L_cmp temperature on cosine similarity (code: 1.0)
    m.STAGE2 = CN()
    m.STAGE2.WARMUP_EPOCHS = 10    # per-epoch linear warm-up from SOLVER.WARMUP_FACTOR
    m.FEATURE_BATCH = 64           # batch of the feature passes (stage-1 centroids, VPM-2 rebuild)
    # MUVA's figure after each evaluation: Fig.-7-style predicted part masks of NUM_IMAGES queries (visualize.py)
    cfg.TEST.VIS.ENABLED = True
    cfg.TEST.VIS.NUM_IMAGES = 6
    # The part masks are voted on the model's patch grid: derived from INPUT.SIZE_TRAIN (check_muva_config).
    cfg.MODEL.MASKS.GRID = ()
    retire_keys(cfg, {
        "MUVA": "MODEL.MUVA",
        "MUVA.NUM_THREADS": "SOLVER.NUM_THREADS",
        "MUVA.VIS": "TEST.VIS",
        "MUVA.MASK_MODE": ("MODEL.MUVA.ATTENTION_MASKS", f"values {ATTENTION_MASKS}; 'stripe' is now "
                                                         f"'fixed-stripes'"),
    })
    add_config_check(cfg, check_muva_config)

    # Stage-2 solver (fast-reid keys): Adam 5e-6, wd 1e-4, 60 epochs, x0.1 at 30 and 50, per-epoch warm-up.
    cfg.SOLVER.OPT = "Adam"
    cfg.SOLVER.BASE_LR = 5e-6
    cfg.SOLVER.WEIGHT_DECAY = 1e-4
    cfg.SOLVER.MAX_EPOCH = 60
    cfg.SOLVER.STEPS = [30, 50]
    cfg.SOLVER.GAMMA = 0.1
    cfg.SOLVER.WARMUP_FACTOR = 0.1
    cfg.SOLVER.WARMUP_ITERS = 0           # fast-reid's per-iteration warm-up off; MODEL.MUVA.STAGE2 is per epoch
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


def check_muva_config(cfg: CN) -> None:
    """After merging (build_cfg): MODEL.MUVA.ATTENTION_MASKS is known, and MODEL.MASKS.GRID is the model's patch grid
    (empty: set to it), the one grid of the masks, the attention masks and the positional embedding."""
    from reid_plugins.modeling.clip import clip_patch_grid

    mode = cfg.MODEL.MUVA.ATTENTION_MASKS
    if mode not in ATTENTION_MASKS:
        renamed = " ('stripe' is now 'fixed-stripes')" if mode == "stripe" else ""
        raise ValueError(f"MODEL.MUVA.ATTENTION_MASKS={mode!r}: expected one of {ATTENTION_MASKS}{renamed}")
    grid = clip_patch_grid(cfg)
    masks_grid = tuple(int(v) for v in cfg.MODEL.MASKS.GRID)
    if not masks_grid:
        cfg.MODEL.MASKS.GRID = grid
    elif masks_grid != grid:
        raise ValueError(f"MODEL.MASKS.GRID={masks_grid} but the patch grid of INPUT.SIZE_TRAIN="
                         f"{list(cfg.INPUT.SIZE_TRAIN)} with MODEL.BACKBONE.CLIP_ARCH={cfg.MODEL.BACKBONE.CLIP_ARCH}'s "
                         f"patches is {grid}; MUVA's part masks live on that grid: leave MODEL.MASKS.GRID empty (it is "
                         f"derived) or change INPUT.SIZE_TRAIN")


def _add_mask_config(cfg: CN) -> None:
    """Part-mask keys (cfg.MODEL.MASKS.*) of reid_plugins.grounding, the only source of MUVA's masks."""
    from reid_plugins.grounding import add_part_mask_config

    add_part_mask_config(cfg)
