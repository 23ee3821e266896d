"""Optimisers and schedules of the two stages (the released configs).

Stage 1: Adam on the prompt learner only; timm's CosineLRScheduler stepped once per epoch with the epoch number
(1-based): linear warm-up from WARMUP_LR_INIT over WARMUP_EPOCHS, then cosine over MAX_EPOCH epochs (not offset by the
warm-up) to LR_MIN -- the scheduler the authors' code (from CLIP-ReID) uses.
Stage 2: Adam over the image encoder (the patch projection frozen), part tokens, positional embedding, BN-neck weight
and classifier at SOLVER.BASE_LR / WEIGHT_DECAY; the mask predictor at BASE_LR x MODEL.MUVA.RMP.LR_MULT without weight
decay; text tower and prompts frozen. Learning rate per epoch e (1-based, as the code's scheduler.step(epoch)):
BASE_LR * warmup(e) * GAMMA ** #{steps <= e}, warmup linear from WARMUP_FACTOR over MODEL.MUVA.STAGE2.WARMUP_EPOCHS.
"""
from __future__ import annotations

import bisect
from typing import Dict, List

import torch
from fastreid.solver.lr_scheduler import _get_warmup_factor_at_epoch


def stage2_param_groups(cfg, model) -> List[Dict]:
    base, wd = cfg.SOLVER.BASE_LR, cfg.SOLVER.WEIGHT_DECAY
    rmp, rest = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad or name.startswith(("text_encoder.", "prompt_learner.")):
            continue
        (rmp if name.startswith("backbone.mask_predictor.") else rest).append(p)
    groups = [{"params": rest, "lr": base, "weight_decay": wd, "name": "image"}]
    if rmp:
        groups.append({"params": rmp, "lr": base * cfg.MODEL.MUVA.RMP.LR_MULT, "weight_decay": 0.0, "name": "rmp"})
    return groups


def build_stage2_optimizer(cfg, model) -> torch.optim.Optimizer:
    if cfg.SOLVER.OPT != "Adam":
        raise ValueError(f"SOLVER.OPT={cfg.SOLVER.OPT!r}: MUVA's stage 2 uses Adam")
    return torch.optim.Adam(stage2_param_groups(cfg, model))


def stage2_lr_factor(epoch0: int, steps, gamma: float, warmup_epochs: int, warmup_factor: float) -> float:
    """Multiplier of the 0-based epoch `epoch0` (the code's scheduler sees epoch0 + 1)."""
    e = epoch0 + 1
    return _get_warmup_factor_at_epoch("linear", e, warmup_epochs, warmup_factor) * gamma ** bisect.bisect_right(
        list(steps), e)


def build_stage2_scheduler(cfg, optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    s = cfg.SOLVER
    warm = cfg.MODEL.MUVA.STAGE2.WARMUP_EPOCHS
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: stage2_lr_factor(e, s.STEPS, s.GAMMA, warm, s.WARMUP_FACTOR))


def build_stage1_optimizer(cfg, model):
    from timm.scheduler import CosineLRScheduler

    s = cfg.MODEL.MUVA.STAGE1
    optimizer = torch.optim.Adam([{"params": list(model.prompt_learner.parameters()), "lr": s.BASE_LR,
                                   "weight_decay": s.WEIGHT_DECAY}])
    scheduler = CosineLRScheduler(optimizer, t_initial=s.MAX_EPOCH, lr_min=s.LR_MIN, warmup_lr_init=s.WARMUP_LR_INIT,
                                  warmup_t=s.WARMUP_EPOCHS, cycle_limit=1, t_in_epochs=True)
    return optimizer, scheduler
