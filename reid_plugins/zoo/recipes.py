"""How each zoo entry is trained, exported and sanity-checked.

Two recipes, both plain PyTorch loops (no Re-ID framework fits pretraining: fast-reid trains identity models on one
split, open_clip's trainer needs webdataset shards and a launcher):

- "clip": open_clip's CLIP (random init) with CLIP's symmetric contrastive loss (open_clip.loss.ClipLoss) over one
  (image, caption) pair of each of `batch` distinct W identities per step (two captions of one person are never
  each other's negatives); AdamW with open_clip's weight-decay rule, learnable temperature clamped at 100.
- "supervised": a backbone (transformers ViT or fast-reid's OSNet) + BatchNorm neck + one softmax per person
  attribute (and, when id_weight > 0, an identity classifier over the W training identities); loss = attr_weight *
  mean_k CE_attr_k + id_weight * CE_id (label smoothing). Only the backbone is exported, as ImageNet checkpoints
  ship without their head. The shipped entries use attributes only (entries.py says why).

Both: linear warm-up from lr/100, then cosine decay to lr/100; batches are a function of (seed, step)
(corpus.StepBatches) and nothing in the models is random after initialisation (no dropout), so a resumed build
continues exactly and `zoo verify` can replay the first steps.
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.extras import require
from .corpus import IGNORE, StepBatches, WebCorpus, images_tensor, read_domain
from .entries import ZooEntry

logger = logging.getLogger(__name__)

FIRST_STEPS = 10          # losses recorded for `zoo verify`
LOGIT_SCALE_MAX = math.log(100.0)
BENCHMARK_TEST_DOMAINS = ("domain_A", "domain_B", "domain_C", "domain_D", "domain_E")


def lr_at(step: int, recipe: dict) -> float:
    lr, warmup, steps = float(recipe["lr"]), int(recipe["warmup"]), int(recipe["steps"])
    low = lr / 100
    if step < warmup:
        return low + (lr - low) * step / max(1, warmup)
    progress = (step - warmup) / max(1, steps - warmup)
    return low + 0.5 * (lr - low) * (1 + math.cos(math.pi * min(1.0, progress)))


def param_groups(model: nn.Module, weight_decay: float) -> List[Dict]:
    """open_clip's rule: weight decay on weight matrices only (not on gains, biases, norms or the temperature)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exclude = p.ndim < 2 or "bn" in name or "ln" in name or "norm" in name or "bias" in name \
            or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def _normalize(images: torch.Tensor, recipe: dict) -> torch.Tensor:
    mean = torch.tensor(recipe["mean"], dtype=images.dtype).view(1, 3, 1, 1)
    std = torch.tensor(recipe["std"], dtype=images.dtype).view(1, 3, 1, 1)
    return (images - mean) / std


# ------------------------------------------------------------------------------------------------ models
def build_clip_model(entry: ZooEntry) -> nn.Module:
    from reid_plugins.modeling.clip import build_clip

    return build_clip(entry.recipe["arch"], image_size=entry.recipe["size"])


def build_backbone(entry: ZooEntry) -> Tuple[nn.Module, int]:
    """The backbone that is exported, as the fine-tuning configs build it (random init), and its feature width."""
    arch, recipe = entry.arch, entry.recipe
    if recipe["backbone"] == "vit":
        from reid_plugins.modeling.hf_encoders import build_vit_encoder

        vit = build_vit_encoder("", image_size=tuple(recipe["size"]), patch_size=arch["MODEL.BDAM.IMAGE.PATCH_SIZE"],
                                hidden_size=arch["MODEL.BDAM.IMAGE.HIDDEN_SIZE"],
                                num_layers=arch["MODEL.BDAM.IMAGE.NUM_LAYERS"],
                                num_heads=arch["MODEL.BDAM.IMAGE.NUM_HEADS"], dropout=0.0)
        return vit, int(arch["MODEL.BDAM.IMAGE.HIDDEN_SIZE"])
    if recipe["backbone"] == "osnet":
        from fastreid.config import get_cfg
        from fastreid.modeling.backbones import build_backbone as fastreid_backbone

        from .store import set_key

        cfg = get_cfg()
        for key, value in arch.items():
            set_key(cfg, key, value)
        cfg.MODEL.BACKBONE.PRETRAIN = False
        return fastreid_backbone(cfg), {"x0_25": 128, "x0_5": 256, "x0_75": 384, "x1_0": 512}[
            arch["MODEL.BACKBONE.DEPTH"]]
    raise ValueError(f"zoo entry {entry.name}: unknown backbone {recipe['backbone']!r}")


class SupervisedNet(nn.Module):
    """backbone -> pooled feature -> BatchNorm -> identity logits and attribute logits."""

    def __init__(self, entry: ZooEntry, num_ids: int, attr_sizes: Sequence[int]):
        super().__init__()
        self.backbone, dim = build_backbone(entry)
        self.is_vit = entry.recipe["backbone"] == "vit"
        self.recipe = entry.recipe
        self.neck = nn.BatchNorm1d(dim)
        # no identity classifier when the recipe does not weight it (the ImageNet-like attribute-only recipe)
        self.id_head = nn.Linear(dim, num_ids, bias=False) if entry.recipe["id_weight"] > 0 else None
        self.attr_head = nn.Linear(dim, int(sum(attr_sizes)))
        self.attr_sizes = list(attr_sizes)
        if self.id_head is not None:
            nn.init.normal_(self.id_head.weight, std=0.01)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = _normalize(images, self.recipe)
        if self.is_vit:   # BDAM reads the patch tokens, not [CLS]
            return self.backbone(pixel_values=x).last_hidden_state[:, 1:].mean(dim=1)
        return self.backbone(x).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor):
        g = self.neck(self.features(images))
        ids = self.id_head(g) if self.id_head is not None else None
        return ids, self.attr_head(g).split(self.attr_sizes, dim=1)


def supervised_loss(model: SupervisedNet, batch: dict, recipe: dict) -> torch.Tensor:
    id_logits, attr_logits = model(batch["images"])
    attrs = batch["attrs"]
    loss = recipe["attr_weight"] * torch.stack([F.cross_entropy(logits, attrs[:, k], ignore_index=IGNORE)
                                                for k, logits in enumerate(attr_logits)
                                                if bool((attrs[:, k] != IGNORE).any())]).mean()
    if id_logits is not None:
        loss = loss + recipe["id_weight"] * F.cross_entropy(id_logits, batch["ids"],
                                                            label_smoothing=float(recipe["label_smoothing"]))
    return loss


def clip_loss_fn():
    loss = require("open_clip.loss", "The zoo's CLIP pretraining").ClipLoss()

    def step_loss(model, batch: dict, recipe: dict) -> torch.Tensor:
        image_features, text_features, logit_scale = model(_normalize(batch["images"], recipe), batch["tokens"])
        return loss(image_features, text_features, logit_scale)

    return step_loss


# ------------------------------------------------------------------------------------------------ the loop
def train(entry: ZooEntry, corpus: WebCorpus, work_dir: str, steps: Optional[int] = None, workers: int = 1,
          save_every: int = 200, progress: bool = True) -> Tuple[nn.Module, List[float], float]:
    """Train `entry` for `steps` (default: the recipe's) steps, resuming from <work_dir>/state.pt when it holds a
    partial run of the same recipe. Returns (model, losses of every step, wall seconds over all sessions)."""
    from tqdm import tqdm

    from reid_plugins.utils.io import torch_save_atomic

    recipe = entry.recipe
    total = int(recipe["steps"] if steps is None else steps)
    threads = int(recipe.get("threads", 0))
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(int(recipe["seed"]))
    tokenizer = None
    if entry.kind == "clip":
        from reid_plugins.modeling.clip import get_tokenizer

        model = build_clip_model(entry)
        step_loss: Callable = clip_loss_fn()
        tokenizer = get_tokenizer(recipe["arch"])
    else:
        model = SupervisedNet(entry, corpus.num_ids, corpus.attribute_sizes())
        step_loss = supervised_loss
    model.train()
    optimizer = torch.optim.AdamW(param_groups(model, float(recipe["weight_decay"])), lr=float(recipe["lr"]))
    state_path = os.path.join(work_dir, "state.pt")
    start, losses, wall = 0, [], 0.0
    if os.path.isfile(state_path):
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if state.get("recipe_hash") == entry.recipe_hash() and state.get("total") == total \
                and state.get("num_ids") == corpus.num_ids:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start, losses, wall = int(state["step"]), list(state["losses"]), float(state["wall"])
            logger.info("%s: resuming at step %d of %d from %s", entry.name, start, total, state_path)
        else:
            logger.info("%s: %s belongs to another recipe or corpus; starting over", entry.name, state_path)
    data = StepBatches(corpus, entry.kind, recipe["batch"], recipe["size"], recipe["seed"], total, tokenizer)
    loader = torch.utils.data.DataLoader(data, batch_size=None, sampler=range(start, total), num_workers=workers,
                                         persistent_workers=False)
    bar = tqdm(total=total, initial=start, desc=f"zoo {entry.name}", unit="step", disable=not progress,
               dynamic_ncols=True)
    t0 = time.time()

    def save(step: int) -> None:
        torch_save_atomic({"recipe_hash": entry.recipe_hash(), "total": total, "num_ids": corpus.num_ids,
                           "step": step, "losses": losses, "wall": wall + time.time() - t0,
                           "model": model.state_dict(), "optimizer": optimizer.state_dict()}, state_path)

    for batch in loader:
        step = int(batch["step"])
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, recipe)
        loss = step_loss(model, batch, recipe)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if entry.kind == "clip":
            with torch.no_grad():
                model.logit_scale.clamp_(0, LOGIT_SCALE_MAX)
        losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if (step + 1) % save_every == 0 and step + 1 < total:
            save(step + 1)
    bar.close()
    wall += time.time() - t0
    if losses and len(losses) == total:
        save(total)
    return model, losses, wall


# ------------------------------------------------------------------------------------------------ export
def export(entry: ZooEntry, model: nn.Module, out_dir: str) -> None:
    """Write the entry's files into out_dir (each atomically)."""
    from reid_plugins.utils.io import torch_save_atomic, write_atomic, write_bytes_atomic

    os.makedirs(out_dir, exist_ok=True)
    if entry.kind == "clip":
        from safetensors.torch import save

        state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
        write_atomic(os.path.join(out_dir, "model.safetensors"), lambda f: f.write(save(state)), binary=True)
    elif entry.recipe["backbone"] == "vit":
        import tempfile

        # save_pretrained writes a folder of files; each is then committed atomically by the shared writer
        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            model.backbone.save_pretrained(tmp, safe_serialization=True)
            for name in entry.files:
                with open(os.path.join(tmp, name), "rb") as f:
                    write_bytes_atomic(os.path.join(out_dir, name), f.read())
    else:
        torch_save_atomic({k: v.detach().clone() for k, v in model.backbone.state_dict().items()},
                          os.path.join(out_dir, "model.pth"))


# ------------------------------------------------------------------------------------------------ sanity metrics
@torch.no_grad()
def _embed(fn: Callable[[torch.Tensor], torch.Tensor], paths: Sequence[str], size, batch: int = 128) -> torch.Tensor:
    return torch.cat([fn(images_tensor(paths, size, s, s + batch)) for s in range(0, len(paths), batch)])


def _domains(root: str, corpus: WebCorpus):
    """[(name, query split, gallery split)]: W's held-out identities, then every generated benchmark domain."""
    out = [("W held-out", corpus.query, corpus.gallery)]
    for d in BENCHMARK_TEST_DOMAINS:
        if os.path.isfile(os.path.join(root, "synthped", d, "captions.json")):
            _, q, g = read_domain(root, d)
            out.append((d.replace("domain_", ""), q, g))
    return out


@torch.no_grad()
def sanity(entry: ZooEntry, model: nn.Module, corpus: WebCorpus, root: str) -> Dict[str, Dict[str, float]]:
    """CLIP: zero-shot text-to-image retrieval (every caption of a test image queries all test images; R1 / mAP)
    and zero-shot image Re-ID with its image features. Backbones: zero-shot image Re-ID (Market protocol; mAP / Rank-1) and, on W, attribute accuracy. On W's
    held-out identities and on the test split of every generated benchmark domain (reported, never tuned on)."""
    from reid_plugins.evaluation import rank_features, retrieval_metrics_from_features

    model.eval()
    recipe, size = entry.recipe, entry.recipe["size"]
    out: Dict[str, Dict[str, float]] = {}
    if entry.kind == "clip":
        from reid_plugins.modeling.clip import get_tokenizer

        tokenizer = get_tokenizer(recipe["arch"])
        image_fn = lambda x: model.encode_image(_normalize(x, recipe), normalize=True)  # noqa: E731
        for name, q, g in _domains(root, corpus):
            paths, pids = q.paths + g.paths, q.pids + g.pids
            captions = [(c, p) for caps, p in zip(q.captions + g.captions, pids) for c in caps]
            img = _embed(image_fn, paths, size)
            txt = torch.cat([model.encode_text(tokenizer([c for c, _ in captions[s:s + 256]]), normalize=True)
                             for s in range(0, len(captions), 256)])
            m = retrieval_metrics_from_features(txt, img, [p for _, p in captions], pids)
            r = rank_features(img[:len(q.paths)], img[len(q.paths):], q.pids, g.pids, q.camids, g.camids)
            out[name] = {"t2i_R1": round(float(m["R1"]), 2), "t2i_mAP": round(float(m["mAP"]), 2),
                         "mAP": round(float(r["mAP"]), 2), "Rank-1": round(float(r["Rank-1"]), 2)}
        return out
    feat_fn = lambda x: F.normalize(model.features(x), dim=1)  # noqa: E731
    for name, q, g in _domains(root, corpus):
        m = rank_features(_embed(feat_fn, q.paths, size), _embed(feat_fn, g.paths, size), q.pids, g.pids, q.camids,
                          g.camids)
        out[name] = {"mAP": round(float(m["mAP"]), 2), "Rank-1": round(float(m["Rank-1"]), 2)}
    # attribute accuracy on W's held-out gallery (identities never seen in training)
    g = corpus.gallery
    correct = total = 0
    for s in range(0, len(g.paths), 128):
        _, logits = model(images_tensor(g.paths, size, s, s + 128))
        labels = torch.as_tensor([corpus.attr_labels[p] for p in g.pids[s:s + 128]])
        for k, lk in enumerate(logits):
            valid = labels[:, k] != IGNORE
            correct += int((lk.argmax(1)[valid] == labels[valid, k]).sum())
            total += int(valid.sum())
    out["W held-out"]["attr_acc"] = round(100.0 * correct / max(1, total), 2)
    return out
