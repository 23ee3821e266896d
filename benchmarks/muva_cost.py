#!/usr/bin/env python
"""MUVA's computational overhead against plain CLIP, measured side by side in one run (ratios, not absolute times).

    python benchmarks/muva_cost.py [--arch ViT-B-16-reid] [--batch 8] [--iters 3] [--json]

- inference_ratio: MUVA's test forward (image encoder with 3 part tokens and AM-MSA in every block, BN neck) over the
  plain CLIP image encoder of the same architecture. Goal <= 1.25.
- train_step_ratio: one MUVA stage-2 step (predicted masks, L_id + L_imp + L_i2tce + L_bce + L_dice, backward, Adam on
  the stage-2 parameter groups, memory update) over one plain CLIP fine-tune step (image encoder with the patch
  projection frozen, BN neck, bias-free classifier, label-smoothed cross-entropy, backward, Adam). Goal <= 1.6.
Both models start from the same random weights of `--arch`; 256x128 inputs, 16 identities x (batch / 16) images.
The two are timed alternately (median of --iters after one warm-up each) so that both see the same machine load.
On a CPU the default batch is 8 (ViT-B/16 needs ~10 s per batch-64 forward on 2 cores); on a GPU use --batch 64.
"""
from __future__ import annotations

import argparse
import json

import reid_plugins  # noqa: F401  (compat patches first; the `muva` project package importable)
import torch
import torch.nn as nn
import torch.nn.functional as F

GOALS = {"inference_ratio": 1.25, "train_step_ratio": 1.6}


class PlainCLIPReID(nn.Module):
    """The plain fine-tuning baseline: CLIP image encoder (CLS, projected) + BN neck + bias-free classifier."""

    def __init__(self, visual, num_classes):
        super().__init__()
        self.visual = visual
        for p in visual.conv1.parameters():
            p.requires_grad_(False)
        dim = visual.proj.shape[1]
        self.bottleneck = nn.BatchNorm1d(dim)
        self.bottleneck.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)

    def forward(self, images, targets=None):
        feat = self.bottleneck(self.visual(images))
        if targets is None:
            return feat
        return F.cross_entropy(self.classifier(feat), targets, label_smoothing=0.1)


def build_models(arch, num_classes, device):
    from fastreid.modeling import build_model
    from muva import add_muva_config
    from reid_plugins.config import build_cfg
    from reid_plugins.modeling.clip import build_clip

    cfg = build_cfg("", ["MODEL.BACKBONE.CLIP_ARCH", arch, "MODEL.BACKBONE.PRETRAIN", "False",
                         "MODEL.HEADS.NUM_CLASSES", str(num_classes), "MODEL.DEVICE", str(device)], (add_muva_config,))
    torch.manual_seed(0)
    muva = build_model(cfg)
    torch.manual_seed(0)
    plain = PlainCLIPReID(build_clip(arch).visual, num_classes).to(device)
    with torch.no_grad():
        muva.text_memory.normal_()  # stands in for the stage-1 text features
        muva.memory.reset(torch.randn(num_classes, muva.backbone.feat_dim))
    return cfg, muva, plain


def run(arch="ViT-B-16-reid", batch=8, iters=3, num_classes=751, device="cpu"):
    from muva.solver import build_stage2_optimizer
    from muva.timing import alternate_medians

    device = torch.device(device)
    cfg, muva, plain = build_models(arch, num_classes, device)
    ids = max(1, batch // 4)
    torch.manual_seed(1)
    images = torch.rand(batch, 3, 256, 128, device=device) * 255
    targets = torch.arange(ids, device=device).repeat_interleave(batch // ids)[:batch]
    masks = (torch.rand(batch, 3, 128, device=device) > 0.5).to(torch.uint8)
    normalised = (images - 127.5) / 127.5

    muva_opt = build_stage2_optimizer(cfg, muva)
    plain_opt = torch.optim.Adam([p for p in plain.parameters() if p.requires_grad], lr=5e-6, weight_decay=1e-4)

    def muva_step():
        losses = muva({"images": images, "targets": targets, "masks": masks})
        muva_opt.zero_grad()
        sum(losses.values()).backward()
        muva_opt.step()

    def plain_step():
        loss = plain(normalised, targets)
        plain_opt.zero_grad()
        loss.backward()
        plain_opt.step()

    def muva_infer():
        with torch.no_grad():
            muva({"images": images})

    def plain_infer():
        with torch.no_grad():
            plain(normalised)

    out = {"arch": arch, "batch": batch, "iters": iters, "device": str(device), "threads": torch.get_num_threads()}
    for name, (a, b, mode) in {"inference": (muva_infer, plain_infer, "eval"),
                               "train_step": (muva_step, plain_step, "train")}.items():
        muva.train(mode == "train")
        plain.train(mode == "train")
        ma, mb = alternate_medians(a, b, iters, device)
        out[f"{name}_muva_ms"] = 1000 * ma
        out[f"{name}_plain_ms"] = 1000 * mb
        out[f"{name}_ratio"] = ma / mb
        out[f"{name}_goal"] = GOALS[f"{name}_ratio"]
        out[f"{name}_meets_goal"] = ma / mb <= GOALS[f"{name}_ratio"]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="ViT-B-16-reid")
    p.add_argument("--batch", type=int, default=0, help="default: 64 on a GPU, 8 on a CPU")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--num-classes", type=int, default=751)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    batch = a.batch or (64 if a.device.startswith("cuda") else 8)
    out = run(a.arch, batch, a.iters, a.num_classes, a.device)
    if a.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>24}: {v:.3f}" if isinstance(v, float) else f"{k:>24}: {v}")
    return out


if __name__ == "__main__":
    main()
