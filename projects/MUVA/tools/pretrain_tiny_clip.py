#!/usr/bin/env python
"""Contrastive image-caption pretraining of the tiny CLIP on synthetic captions: a stand-in for "pretrained CLIP".

    python projects/MUVA/tools/pretrain_tiny_clip.py --root /tmp/synthroot --datasets SynthPedT2IA \
        --output logs/synth/tiny_clip_A/tiny_clip.pth [--epochs 12] [--batch 64] [--lr 5e-4]

MUVA fine-tunes OpenAI's CLIP ViT-B/16, whose image and text towers were aligned on web image-text pairs before
MUVA ever sees a Re-ID image. No such checkpoint can be downloaded here, so the tiny CLIP (`ViT-T-16-reid`) of the
embedded benchmark starts from random weights and its language side has nothing to draw on. This tool gives it a
small version of that pretraining: CLIP's symmetric contrastive loss (open_clip's `ClipLoss`, learnable temperature)
over (image, caption) pairs of the synthetic benchmark's *training* splits (`captions.json`, read by
`reid_plugins.data.t2i`). Use domains that the protocol neither trains nor tests on; where none is left (train A,
test B/C/D) use the source domain's training split and say that the "pretraining" has seen the source data (it never
sees a test split: the T2I datasets' `train` holds `split == "train"` entries only).

Each batch holds one caption-image pair of each of `--batch` distinct identities (fast-reid's NaiveIdentitySampler
with one instance), so that two descriptions of the same person are never each other's negatives. Images: bicubic
resize to 256x128, horizontal flip, mean = std = 0.5 (MUVA's normalisation). AdamW with weight decay on matrices only
(open_clip's rule: no decay on gains, biases, embeddings of dimension < 2 and the temperature), cosine schedule with
linear warm-up (timm), logit scale clamped at 100 as CLIP does. The output is written atomically as
{"state_dict": CLIP state dict, "meta": {...}}, which `MODEL.BACKBONE.PRETRAIN_PATH` reads
(reid_plugins.modeling.clip, weights_only=True); see configs/MUVA/Synth/MUVA_tiny_A_clip_pretrained.yml.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import sys
from typing import Dict, List, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(HERE))))

import reid_plugins  # noqa: E402,F401  (compat patches before torchvision / open_clip / fastreid)
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

logger = logging.getLogger("pretrain_tiny_clip")

DEFAULT_ARCH = "ViT-T-16-reid"
LOGIT_SCALE_MAX = math.log(100.0)  # CLIP clamps the learned temperature at 1/100


def caption_pairs(dataset_names: Sequence[str], root: str) -> List[Tuple[str, int, str]]:
    """(image path, identity, caption) of every caption of the training splits, identities offset per dataset."""
    from reid_plugins.data.t2i.datasets import build_t2i_dataset

    pairs, offset = [], 0
    for name in dataset_names:
        ds = build_t2i_dataset(name, root)
        if not ds.train:
            raise ValueError(f"--datasets {name}: {ds.annotation_path} has no training captions")
        pairs.extend((s.img_path, s.pid + offset, s.caption) for s in ds.train)
        offset += ds.num_train_pids
    return pairs


def train_transform(size=(256, 128)):
    import torchvision.transforms as T

    return T.Compose([T.Resize(tuple(size), interpolation=T.InterpolationMode.BICUBIC), T.RandomHorizontalFlip(),
                      T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])


class CaptionPairs(Dataset):
    """Images through `transform`, captions tokenized once with the CLIP tokenizer ([N, context] tokens)."""

    def __init__(self, pairs: Sequence[Tuple[str, int, str]], tokenizer, transform):
        self.pairs = list(pairs)
        self.tokens = tokenizer([caption for _, _, caption in self.pairs])
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        from reid_plugins.data.t2i.tokenized import load_image

        return self.transform(load_image(self.pairs[i][0])), self.tokens[i]


def identity_batches(pairs: Sequence[Tuple[str, int, str]], batch: int, seed: int):
    """Sampler: an infinite index stream whose consecutive runs of `batch` indices hold distinct identities (one
    pair each)."""
    from fastreid.data.samplers import NaiveIdentitySampler

    num_ids = len({pid for _, pid, _ in pairs})
    if batch > num_ids:
        raise ValueError(f"--batch {batch} is larger than the {num_ids} identities of the training captions; a batch "
                         f"holds distinct identities")
    return NaiveIdentitySampler(pairs, batch, 1, seed=seed)


def param_groups(model: torch.nn.Module, weight_decay: float) -> List[Dict]:
    """open_clip's rule: weight decay on weight matrices only (not on gains, biases, 1-d embeddings, logit_scale)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exclude = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def train_step(model, loss_fn, optimizer, images, tokens) -> Tuple[float, float]:
    """One contrastive step -> (loss, image->text in-batch top-1 accuracy)."""
    image_features, text_features, logit_scale = model(images, tokens)
    loss = loss_fn(image_features, text_features, logit_scale)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, LOGIT_SCALE_MAX)
        acc = (image_features @ text_features.t()).argmax(1).eq(torch.arange(len(images))).float().mean()
    return float(loss.detach()), float(acc)


def save_atomic(obj, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def pretrain(pairs, output: str, arch: str = DEFAULT_ARCH, epochs: int = 12, batch: int = 64, lr: float = 5e-4,
             weight_decay: float = 0.1, warmup_epochs: float = 1.0, seed: int = 0, workers: int = 2) -> Dict:
    """Pretrain a randomly initialised `arch` on `pairs`, write the checkpoint, return the per-epoch log."""
    import open_clip
    from open_clip.loss import ClipLoss
    from timm.scheduler import CosineLRScheduler

    from reid_plugins.modeling.clip import build_clip, get_tokenizer

    torch.manual_seed(seed)
    model = build_clip(arch)
    model.train()
    loader = DataLoader(CaptionPairs(pairs, get_tokenizer(arch), train_transform(model.visual.image_size)),
                        batch_size=batch, sampler=identity_batches(pairs, batch, seed), num_workers=workers,
                        drop_last=True, persistent_workers=workers > 0)
    iters = max(1, len(pairs) // batch)
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr)
    scheduler = CosineLRScheduler(optimizer, t_initial=epochs * iters, lr_min=lr / 100, warmup_t=int(warmup_epochs *
                                  iters), warmup_lr_init=lr / 100, t_in_epochs=False)
    loss_fn = ClipLoss()
    batches = iter(loader)
    history = []
    logger.info("open_clip %s %s: %d pairs, %d identities, %d epochs x %d iterations of %d", open_clip.__version__,
                arch, len(pairs), len({p for _, p, _ in pairs}), epochs, iters, batch)
    for epoch in range(epochs):
        losses, accs = [], []
        for images, tokens in itertools.islice(batches, iters):
            scheduler.step_update(len(history) * iters + len(losses))
            loss, acc = train_step(model, loss_fn, optimizer, images, tokens)
            losses.append(loss)
            accs.append(acc)
        entry = {"epoch": epoch + 1, "loss": sum(losses) / len(losses), "i2t_acc": 100 * sum(accs) / len(accs),
                 "logit_scale": float(model.logit_scale.exp()), "lr": optimizer.param_groups[0]["lr"]}
        history.append(entry)
        logger.info("epoch %d/%d: ClipLoss %.4f, in-batch image->text top-1 %.1f%% (chance %.1f%%), scale %.1f",
                    epoch + 1, epochs, entry["loss"], entry["i2t_acc"], 100 / batch, entry["logit_scale"])
    meta = {"arch": arch, "pairs": len(pairs), "epochs": epochs, "batch": batch, "lr": lr, "seed": seed,
            "history": history}
    save_atomic({"state_dict": model.state_dict(), "meta": meta}, output)
    logger.info("wrote %s", output)
    return meta


def main(argv=None) -> Dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="datasets root holding synthped/ (DATASETS.ROOT)")
    p.add_argument("--datasets", nargs="+", default=["SynthPedT2IA"],
                   help="T2I datasets whose training captions are used (SynthPedT2I{A,B,C,D})")
    p.add_argument("--output", default="logs/synth/tiny_clip_A/tiny_clip.pth")
    p.add_argument("--arch", default=DEFAULT_ARCH)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    # one intra-op thread, as the tiny MUVA configs: on the shared 2-core machine a second one mostly waits
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s]: %(message)s", datefmt="%H:%M:%S")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    pairs = caption_pairs(a.datasets, a.root)
    meta = pretrain(pairs, a.output, a.arch, a.epochs, a.batch, a.lr, a.weight_decay, seed=a.seed, workers=a.workers)
    meta["datasets"] = list(a.datasets)
    print(json.dumps({k: v for k, v in meta.items() if k != "history"} | {"last": meta["history"][-1]}))
    return meta


if __name__ == "__main__":
    main()
