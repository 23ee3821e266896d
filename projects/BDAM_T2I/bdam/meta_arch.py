"""BDAMT2I meta-architecture: ViT image encoder + BERT text encoder + BDAM + Mamba fusion head.

Training forward: a batch of (image, identity text, clothing text, pid) -> dict of task losses ("loss_<name>"),
each already multiplied by its SCALE; the trainer weights them with GradNorm.
Eval forward: an image batch -> {"img_emb", "img_id", "gate"}; a text batch -> {"txt_emb", "txt_id"}
(see bdam/evaluator.py for how retrieval and re-ranking use them).
"""
from __future__ import annotations

import logging
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from fastreid.modeling.meta_arch import META_ARCH_REGISTRY
from torch import nn

from reid_plugins.modeling.hf_encoders import build_bert_encoder, build_vit_encoder

from .config import ALL_LOSSES
from .decoupling import BDAM
from .fusion import MambaFusion
from .losses import get_loss

logger = logging.getLogger(__name__)

NEEDS_BDAM = ("Adversarial", "HSIC")


class TextEncoder(nn.Module):
    """BertModel -> one vector per text ([CLS] or masked mean). Frozen: no_grad, eval mode, and a feature cache
    keyed by the token ids (a frozen encoder maps a text to the same vector every time)."""

    def __init__(self, bert: nn.Module, pool: str = "cls", freeze: bool = False, cache_size: int = 500_000):
        super().__init__()
        if pool not in ("cls", "mean"):
            raise ValueError(f"MODEL.BDAM.TEXT.POOL must be 'cls' or 'mean', got {pool!r}")
        self.bert, self.pool, self.freeze = bert, pool, freeze
        self.out_dim = bert.config.hidden_size
        self.cache_size = cache_size
        self._cache: Dict[bytes, torch.Tensor] = {}
        if freeze:
            self.bert.requires_grad_(False)
            self.bert.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.bert.eval()
        return self

    def _encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.pool == "cls":
            return hidden[:, 0]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)

    def _key(self, ids: torch.Tensor, n: int) -> bytes:
        return ids[:n].cpu().numpy().tobytes()

    @torch.no_grad()
    def warm_cache(self, ids: torch.Tensor, mask: torch.Tensor, batch_size: int = 128, progress: bool = True) -> int:
        """Frozen encoder: encode every not-yet-cached text once, shortest first (little padding per batch), with a
        progress bar. Returns how many texts were encoded."""
        if not self.freeze:
            return 0
        lengths = mask.sum(1)
        seen, todo = set(self._cache), []
        for i in lengths.argsort().tolist():
            k = self._key(ids[i], int(lengths[i]))
            if k not in seen:
                seen.add(k)
                todo.append(i)
        if len(self._cache) + len(todo) > self.cache_size:
            raise ValueError(f"{len(todo)} texts exceed the text-feature cache ({self.cache_size})")
        from tqdm import tqdm

        device = next(self.bert.parameters()).device
        bar = tqdm(total=len(todo), desc="text features (frozen encoder)", unit="text", disable=not progress)
        for s in range(0, len(todo), batch_size):
            rows = todo[s:s + batch_size]
            width = int(lengths[rows].max())
            feats = self._encode(ids[rows, :width].to(device), mask[rows, :width].to(device))
            for i, f in zip(rows, feats):
                self._cache[self._key(ids[i], int(lengths[i]))] = f
            bar.update(len(rows))
        bar.close()
        return len(todo)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.freeze:
            return self._encode(ids, mask)
        lengths = mask.sum(1).tolist()
        keys = [self._key(ids[i], n) for i, n in enumerate(lengths)]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        if todo:
            # trim the padding shared by the rows to encode (BERT with an attention mask ignores it anyway)
            width = max(lengths[i] for i in todo)
            with torch.no_grad():
                feats = self._encode(ids[todo, :width], mask[todo, :width])
            if len(self._cache) + len(todo) > self.cache_size:
                self._cache.clear()
            for i, f in zip(todo, feats):
                self._cache[keys[i]] = f
        return torch.stack([self._cache[k] for k in keys]).to(ids.device)


def _feature_norm(branch: str, kind: str, dim: int) -> nn.Module:
    """MODEL.BDAM.<branch>.FEAT_NORM: "bn" (BatchNorm1d before the retrieval embedding) or "none"."""
    if kind not in ("none", "bn"):
        raise ValueError(f"MODEL.BDAM.{branch}.FEAT_NORM must be 'none' or 'bn', got {kind!r}")
    return nn.BatchNorm1d(dim) if kind == "bn" else nn.Identity()


@META_ARCH_REGISTRY.register()
class BDAMT2I(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        B = cfg.MODEL.BDAM
        drop = B.DROPOUT
        attn_drop = drop if B.ATTN_DROPOUT < 0 else B.ATTN_DROPOUT
        size = tuple(cfg.INPUT.SIZE_TRAIN)
        if tuple(cfg.INPUT.SIZE_TEST) != size:
            raise ValueError(f"INPUT.SIZE_TEST {list(cfg.INPUT.SIZE_TEST)} must equal INPUT.SIZE_TRAIN "
                             f"{list(size)}: the ViT position embeddings are not interpolated")
        image_size = size[0] if size[0] == size[1] else size
        self.image_encoder = build_vit_encoder(
            B.IMAGE.PRETRAINED_DIR, image_size=image_size, patch_size=B.IMAGE.PATCH_SIZE,
            hidden_size=B.IMAGE.HIDDEN_SIZE, num_layers=B.IMAGE.NUM_LAYERS, num_heads=B.IMAGE.NUM_HEADS,
            dropout=drop, attn_dropout=attn_drop)
        text_dir = B.TEXT.PRETRAINED_DIR
        if text_dir == "minilm":
            from reid_plugins.modeling.pretrained import minilm_dir

            text_dir = minilm_dir()
        bert = build_bert_encoder(text_dir, hidden_size=B.TEXT.HIDDEN_SIZE, num_layers=B.TEXT.NUM_LAYERS,
                                  num_heads=B.TEXT.NUM_HEADS, max_position_embeddings=max(512, B.TEXT.LENGTH),
                                  dropout=drop, attn_dropout=attn_drop,
                                  keep_layers=B.TEXT.KEEP_LAYERS if text_dir else 0)
        if B.TEXT.LENGTH > bert.config.max_position_embeddings:
            raise ValueError(f"MODEL.BDAM.TEXT.LENGTH={B.TEXT.LENGTH} exceeds the text encoder's "
                             f"max_position_embeddings={bert.config.max_position_embeddings}")
        self.text_encoder = TextEncoder(bert, B.TEXT.POOL, B.TEXT.FREEZE)
        vit_dim = self.image_encoder.config.hidden_size
        txt_dim = self.text_encoder.out_dim
        self.txt_norm = _feature_norm("TEXT", B.TEXT.FEAT_NORM, txt_dim)

        M = B.MODULE
        if M.ENABLED:
            self.bdam = BDAM(vit_dim, M.DIM, M.NUM_LAYERS, M.NUM_HEADS, M.MLP_RATIO, drop, M.CROSS_ATTN,
                             M.CROSS_LAYERS, M.GATE, attn_dropout=attn_drop)
            feat_dim = M.DIM
            self.clo_proj = nn.Linear(M.DIM, txt_dim)  # "clothing features are linearly projected to the text dim"
        else:  # Table 1 baseline: average of the patch tokens, linearly mapped
            self.bdam = None
            self.base_proj = nn.Linear(vit_dim, M.DIM)
            feat_dim = M.DIM
        self.img_norm = _feature_norm("IMAGE", B.IMAGE.FEAT_NORM, feat_dim)
        self.img_embed = nn.Linear(feat_dim, B.EMBED_DIM)
        self.txt_embed = nn.Linear(txt_dim, B.EMBED_DIM)

        Fu = B.FUSION
        self.fusion: Optional[MambaFusion] = None
        if Fu.ENABLED:
            self.fusion = MambaFusion(feat_dim, txt_dim, Fu.DIM, Fu.ALIGN, Fu.GATE, Fu.MAMBA_LAYERS, Fu.D_STATE,
                                      Fu.D_CONV, Fu.EXPAND, Fu.OUT_DIM, drop)

        self.loss_cfg = B.LOSSES
        self.loss_names = tuple(B.LOSSES.NAME)
        for name in self.loss_names:
            get_loss(name)
            if name not in ALL_LOSSES:
                raise KeyError(f"MODEL.BDAM.LOSSES.NAME: unknown loss {name!r}; known: {ALL_LOSSES}")
            if name in NEEDS_BDAM and self.bdam is None:
                raise ValueError(f"MODEL.BDAM.LOSSES.NAME has {name!r}, which needs the clothing branch, but "
                                 f"MODEL.BDAM.MODULE.ENABLED is False")
            if name == "FusionMatch" and self.fusion is None:
                raise ValueError("MODEL.BDAM.LOSSES.NAME has 'FusionMatch' but MODEL.BDAM.FUSION.ENABLED is False")
        if not self.loss_names:
            raise ValueError("MODEL.BDAM.LOSSES.NAME is empty")
        self.num_negatives = B.LOSSES.FUSION.NUM_NEGATIVES
        self.detach_fusion_inputs = B.FUSION.DETACH_INPUTS
        self.register_buffer("pixel_mean", torch.tensor(cfg.MODEL.PIXEL_MEAN).view(1, -1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(cfg.MODEL.PIXEL_STD).view(1, -1, 1, 1), False)

    @property
    def device(self):
        return self.pixel_mean.device

    def gradnorm_shared_parameter(self, name: str = "auto") -> nn.Parameter:
        """The layer GradNorm measures task gradients on: the last layer every task's loss reaches."""
        if name == "auto":
            enc = self.image_encoder
            layers = enc.layers if hasattr(enc, "layers") else enc.encoder.layer  # transformers 5 / 4 layouts
            return [m for m in layers[-1].modules() if isinstance(m, nn.Linear)][-1].weight  # MLP output proj
        params = dict(self.named_parameters())
        if name not in params:
            raise KeyError(f"MODEL.BDAM.GRADNORM.SHARED_PARAM: no parameter {name!r} in BDAMT2I (e.g. "
                           f"{list(params)[-3:]})")
        return params[name]

    # ------------------------------------------------------------------------------------------------------------
    def encode_image(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = (images.to(self.device) - self.pixel_mean) / self.pixel_std
        tokens = self.image_encoder(pixel_values=x).last_hidden_state[:, 1:]  # all patch tokens, no [CLS]
        if self.bdam is not None:
            out = self.bdam(tokens)
        else:
            out = {"f_id_gate": self.base_proj(tokens.mean(dim=1)), "gate": None}
        out["img_emb"] = F.normalize(self.img_embed(self.img_norm(out["f_id_gate"])), dim=1)
        return out

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        f = self.txt_norm(self.text_encoder(ids.to(self.device), mask.to(self.device)))
        return {"txt_id": f, "txt_emb": F.normalize(self.txt_embed(f), dim=1)}

    def forward(self, batched_inputs):
        if not self.training:
            if "images" in batched_inputs:
                out = self.encode_image(batched_inputs["images"])
                res = {"img_emb": out["img_emb"], "img_id": out["f_id_gate"]}
                if out.get("gate") is not None:
                    res["gate"] = out["gate"]
                return res
            t = self.encode_text(batched_inputs["input_ids"], batched_inputs["attention_mask"])
            return {"txt_emb": t["txt_emb"], "txt_id": t["txt_id"]}
        state = self.encode_image(batched_inputs["images"])
        text = self.encode_text(batched_inputs["id_input_ids"], batched_inputs["id_attention_mask"])
        state.update(text)
        state["pids"] = batched_inputs["targets"].to(self.device)
        if "Adversarial" in self.loss_names:
            clo = self.txt_norm(self.text_encoder(batched_inputs["clo_input_ids"].to(self.device),
                                                  batched_inputs["clo_attention_mask"].to(self.device)))
            # the clothing text is the target of L_adv, not something it may move: pushing the shared text encoder
            # away from its own clothing descriptions would corrupt the identity text features
            state["clo_txt"] = F.normalize(clo.detach(), dim=1)
            state["clo_img"] = F.normalize(self.clo_proj(state["f_clo_hat"]), dim=1)
        if self.fusion is not None and ("FusionMatch" in self.loss_names or "GateReg" in self.loss_names):
            fused = self._fusion_candidates(state)
            state["fusion_scores"] = fused["score"]
            state["fusion_weights"] = fused["weights"]
        return {f"loss_{name.lower()}": get_loss(name)(state, self.loss_cfg) for name in self.loss_names}

    def _fusion_candidates(self, state) -> Dict[str, torch.Tensor]:
        """Per text: its own image and the M images of other identities the dual encoder ranks highest."""
        pids = state["pids"]
        b = len(pids)
        with torch.no_grad():
            sim = state["txt_emb"] @ state["img_emb"].t()
            sim = sim.masked_fill(pids.view(-1, 1) == pids.view(1, -1), float("-inf"))
            m = min(self.num_negatives, int((pids.view(-1, 1) != pids.view(1, -1)).sum(1).min()))
            neg = sim.topk(m, dim=1).indices if m > 0 else sim.new_zeros((b, 0), dtype=torch.long)
        img_idx = torch.cat([torch.arange(b, device=pids.device).view(-1, 1), neg], dim=1)  # [B, 1 + M]
        txt_idx = torch.arange(b, device=pids.device).view(-1, 1).expand_as(img_idx)
        f_img, f_txt = state["f_id_gate"], state["txt_id"]
        if self.detach_fusion_inputs:
            f_img, f_txt = f_img.detach(), f_txt.detach()
        f_img, f_txt = self.fusion.align_img(f_img), self.fusion.align_txt(f_txt)
        out = self.fusion.fuse(f_img[img_idx.reshape(-1)], f_txt[txt_idx.reshape(-1)])
        return {"score": out["score"].view(b, -1), "weights": out["weights"]}
