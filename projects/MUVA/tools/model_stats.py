#!/usr/bin/env python
"""MUVA model statistics (paper Table 13): parameter counts, inference latency and peak memory.

    python projects/MUVA/tools/model_stats.py --config-file configs/MUVA/MA_to_MS.yml --json [--batch 64]
        [--iters 5] [--num-classes N] [KEY VALUE ...]

Counts (random weights: they do not depend on the values):
- params_infer: what inference runs -- the image encoder (CLIP ViT, part tokens, AM-MSA mask predictors) and the BN
  neck. 115.9M with AM-MSA, 86.1M without (Table 13).
- params_train: every parameter of the model during training, as the paper counts it: params_infer plus the ID
  classifier, the learnable prompt contexts (identities x granularities x 4 x 512) and CLIP's text transformer
  without its token-embedding table (the prompt learner embeds its fixed tokens once; the table is not part of the
  model). The classifier and the prompts grow with the number of training identities: with Market-1501's 751 this is
  161.7M for MUVA, 126.2M without AM-MSA and 117.4M without language (Table 13 "Train.").
- params_trainable_stage1 / params_trainable_stage2: what each stage's optimiser updates.
Latency: median wall time of an inference forward of a batch (default 64 images of 256x128), and the same for the
plain CLIP image encoder of the same architecture, measured alternately in this run; latency_ratio = MUVA / plain.
peak_mem_mb: CUDA max allocated memory during MUVA inference, or the process's peak RSS on CPU.
"""
from __future__ import annotations

import argparse
import json

import reid_plugins  # noqa: F401  (compat patches first; the `muva` project package importable)
import torch

# training identities of the real source datasets (multi-source: the sum)
KNOWN_NUM_CLASSES = {"Market1501": 751, "DukeMTMC": 702, "MSMT17": 1041, "MSMT17Market": 1041, "CUHK03NP": 767,
                     "CUHK03NPDetected": 767}


def num_classes_for(cfg, override: int) -> int:
    if override > 0:
        return override
    if cfg.MODEL.HEADS.NUM_CLASSES > 0:
        return int(cfg.MODEL.HEADS.NUM_CLASSES)
    unknown = [n for n in cfg.DATASETS.NAMES if n not in KNOWN_NUM_CLASSES]
    if unknown:
        raise SystemExit(f"number of training identities of {unknown} unknown: pass --num-classes N")
    return sum(KNOWN_NUM_CLASSES[n] for n in cfg.DATASETS.NAMES)


def parameter_counts(model, cfg) -> dict:
    from muva.solver import stage2_param_groups

    total = sum(p.numel() for p in model.parameters())
    infer = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("backbone.", "bottleneck.")))
    stage2 = sum(p.numel() for g in stage2_param_groups(cfg, model) for p in g["params"])
    stage1 = sum(p.numel() for p in model.prompt_learner.parameters()) if model.has_text else 0
    return {"params_train": total, "params_infer": infer, "params_trainable_stage1": stage1,
            "params_trainable_stage2": stage2}


@torch.no_grad()
def latency(model, plain_visual, batch: int, iters: int, device) -> dict:
    from muva.timing import alternate_medians

    images = torch.rand(batch, 3, 256, 128, device=device) * 255
    normalised = model.preprocess_image(images)
    model.eval()
    plain_visual.eval()
    cuda = device.type == "cuda"
    m, p = alternate_medians(lambda: model(images), lambda: plain_visual(normalised), iters, device,
                             after_warmup=torch.cuda.reset_peak_memory_stats if cuda else None)
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"latency_ms": 1000 * m, "plain_clip_latency_ms": 1000 * p, "latency_ratio": m / p,
            "peak_mem_mb": peak, "peak_mem_kind": "cuda_max_allocated" if cuda else "cpu_peak_rss",
            "batch": batch, "iters": iters, "device": str(device)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--num-classes", type=int, default=0)
    parser.add_argument("--no-latency", action="store_true", help="parameter counts only")
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    from fastreid.modeling import build_model
    from muva import add_muva_config
    from reid_plugins.config import build_cfg
    from reid_plugins.modeling.clip import build_clip

    cfg = build_cfg(args.config_file, args.opts, (add_muva_config,))
    cfg.MODEL.HEADS.NUM_CLASSES = num_classes_for(cfg, args.num_classes)
    cfg.MODEL.BACKBONE.PRETRAIN = False  # counts and timings do not depend on the weights
    if args.no_latency:
        cfg.MODEL.DEVICE = "meta"  # shapes only: no memory, no initialisation
    device = torch.device(cfg.MODEL.DEVICE)
    model = build_model(cfg)
    stats = {"config": args.config_file, "clip_arch": cfg.MODEL.BACKBONE.CLIP_ARCH,
             "num_classes": cfg.MODEL.HEADS.NUM_CLASSES, **parameter_counts(model, cfg)}
    if not args.no_latency:
        plain = build_clip(cfg.MODEL.BACKBONE.CLIP_ARCH, image_size=cfg.INPUT.SIZE_TEST).visual.to(device)
        stats.update(latency(model, plain, args.batch, args.iters, device))
    if args.json:
        print(json.dumps(stats))
    else:
        for k, v in stats.items():
            print(f"{k:>26}: {v / 1e6:.2f}M" if k.startswith("params") else f"{k:>26}: {v}")
    return stats


if __name__ == "__main__":
    main()
