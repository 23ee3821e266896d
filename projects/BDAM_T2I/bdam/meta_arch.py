"""BDAMT2I meta-architecture: ViT image encoder + BERT text encoder + BDAM + Mamba fusion head.

Training forward: a batch of (image, identity text, clothing text, pid) -> dict of task losses ("loss_<name>"),
each already multiplied by its SCALE; the trainer weights them with GradNorm.
Eval forward: an image batch -> {"img_emb", "img_id", "gate"}; a text batch -> {"txt_emb", "txt_id"}; with a fusion
head also its aligned inputs "fusion_img" / "fusion_txt" (+ "fusion_txt_mask" for the token-level "sequence" variant)
(see bdam/evaluator.py for how retrieval and re-ranking use them).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from fastreid.config import configurable
from fastreid.modeling.meta_arch import META_ARCH_REGISTRY
from torch import nn

from reid_plugins.modeling.hf_encoders import build_bert_encoder, build_vit_encoder

from .config import ALL_LOSSES
from .decoupling import BDAM
from .fusion import MambaFusion
from .losses import get_loss, same_outfit

logger = logging.getLogger(__name__)

NEEDS_BDAM = ("Adversarial", "HSIC", "ClothingMatch")
FUSION_OBJECTIVES = ("listwise", "itm")


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

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pool == "cls":
            return hidden[:, 0]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)

    def _encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._pool(self.bert(input_ids=ids, attention_mask=mask).last_hidden_state, mask)

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

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, return_tokens: bool = False):
        """Pooled features [B, D]; with ``return_tokens`` also the last hidden states [B, W, D] (W <= L: a frozen
        encoder trims the padding all rows share; they are computed afresh, only the pooled features are cached,
        since token states of every training text would not fit in memory at CUHK-PEDES scale)."""
        if not self.freeze:
            hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            pooled = self._pool(hidden, mask)
            return (pooled, hidden) if return_tokens else pooled
        pooled = self._cached(ids, mask)
        if not return_tokens:
            return pooled
        width = int(mask.sum(1).max())
        with torch.no_grad():
            hidden = self.bert(input_ids=ids[:, :width], attention_mask=mask[:, :width]).last_hidden_state
        return pooled, hidden

    def _cached(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
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
    @configurable
    def __init__(self, *, image_encoder: nn.Module, text_encoder: TextEncoder, pixel_mean, pixel_std, embed_dim: int,
                 feat_dim: int, bdam: Optional[Dict[str, Any]], fusion: Optional[Dict[str, Any]], loss_names,
                 loss_cfg, dropout: float = 0.1, attn_dropout: float = 0.1, image_feat_norm: str = "none",
                 text_feat_norm: str = "none", detach_fusion_inputs: bool = True):
        """``bdam``: keyword arguments of :class:`BDAM` beyond its sizes and dropouts (None: the Table 1 baseline,
        mean patch token -> linear); ``fusion``: those of :class:`MambaFusion` (None: no fusion head); ``loss_cfg``:
        cfg.MODEL.BDAM.LOSSES (each loss reads its own keys). Modules are created in the order that fixes their
        random initialisation: the encoders (from_config), then the heads below."""
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        vit_dim = self.image_encoder.config.hidden_size
        txt_dim = self.text_encoder.out_dim
        self.txt_norm = _feature_norm("TEXT", text_feat_norm, txt_dim)
        if bdam is not None:
            self.bdam = BDAM(vit_dim, feat_dim, dropout=dropout, attn_dropout=attn_dropout, **bdam)
            self.clo_proj = nn.Linear(feat_dim, txt_dim)  # "clothing features are linearly projected to the text dim"
        else:  # Table 1 baseline: average of the patch tokens, linearly mapped
            self.bdam = None
            self.base_proj = nn.Linear(vit_dim, feat_dim)
        self.img_norm = _feature_norm("IMAGE", image_feat_norm, feat_dim)
        self.img_embed = nn.Linear(feat_dim, embed_dim)
        self.txt_embed = nn.Linear(txt_dim, embed_dim)

        self.fusion: Optional[MambaFusion] = None
        if fusion is not None:
            self.fusion = MambaFusion(feat_dim, txt_dim, dropout=dropout, **fusion)
        if "ClothingMatch" in loss_names and self.bdam is not None:
            # its own projection: eq. 1 pushes clo_proj's output away from the clothing text, matching pulls this one
            # towards it; on one shared projection the two would cancel (their sum is minimal at P_pos = 1/2)
            self.clo_match_proj = nn.Linear(feat_dim, txt_dim)

        self.loss_cfg = loss_cfg
        self.loss_names = tuple(loss_names)
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
        if loss_cfg.FUSION.OBJECTIVE not in FUSION_OBJECTIVES:
            raise ValueError(f"MODEL.BDAM.LOSSES.FUSION.OBJECTIVE must be one of {FUSION_OBJECTIVES}, got "
                             f"{loss_cfg.FUSION.OBJECTIVE!r}")
        if loss_cfg.ADV.POSITIVES not in ("outfit", "pid"):
            raise ValueError(f"MODEL.BDAM.LOSSES.ADV.POSITIVES must be 'outfit' or 'pid', got "
                             f"{loss_cfg.ADV.POSITIVES!r}")
        self.fusion_objective = loss_cfg.FUSION.OBJECTIVE
        self.itm_tau = loss_cfg.FUSION.ITM_TAU
        self.num_negatives = loss_cfg.FUSION.NUM_NEGATIVES
        self.detach_fusion_inputs = detach_fusion_inputs
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, -1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, -1, 1, 1), False)

    @classmethod
    def from_config(cls, cfg) -> Dict[str, Any]:
        """cfg.MODEL.BDAM.* -> the encoders (built here, in this order) and the keyword arguments of __init__."""
        bdam_cfg = cfg.MODEL.BDAM
        dropout = bdam_cfg.DROPOUT
        attn_dropout = dropout if bdam_cfg.ATTN_DROPOUT < 0 else bdam_cfg.ATTN_DROPOUT
        size = tuple(cfg.INPUT.SIZE_TRAIN)
        if tuple(cfg.INPUT.SIZE_TEST) != size:
            raise ValueError(f"INPUT.SIZE_TEST {list(cfg.INPUT.SIZE_TEST)} must equal INPUT.SIZE_TRAIN "
                             f"{list(size)}: the ViT position embeddings are not interpolated")
        image, text, module, fusion = bdam_cfg.IMAGE, bdam_cfg.TEXT, bdam_cfg.MODULE, bdam_cfg.FUSION
        image_encoder = build_vit_encoder(
            image.PRETRAINED_DIR, image_size=size[0] if size[0] == size[1] else size, patch_size=image.PATCH_SIZE,
            hidden_size=image.HIDDEN_SIZE, num_layers=image.NUM_LAYERS, num_heads=image.NUM_HEADS, dropout=dropout,
            attn_dropout=attn_dropout)
        text_dir = text.PRETRAINED_DIR
        if text_dir == "minilm":
            from reid_plugins.modeling.pretrained import minilm_dir

            text_dir = minilm_dir()
        bert = build_bert_encoder(text_dir, hidden_size=text.HIDDEN_SIZE, num_layers=text.NUM_LAYERS,
                                  num_heads=text.NUM_HEADS, max_position_embeddings=max(512, text.LENGTH),
                                  dropout=dropout, attn_dropout=attn_dropout,
                                  keep_layers=text.KEEP_LAYERS if text_dir else 0)
        if text.LENGTH > bert.config.max_position_embeddings:
            raise ValueError(f"MODEL.BDAM.TEXT.LENGTH={text.LENGTH} exceeds the text encoder's "
                             f"max_position_embeddings={bert.config.max_position_embeddings}")
        return {
            "image_encoder": image_encoder, "text_encoder": TextEncoder(bert, text.POOL, text.FREEZE),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN, "pixel_std": cfg.MODEL.PIXEL_STD, "embed_dim": bdam_cfg.EMBED_DIM,
            "feat_dim": module.DIM, "dropout": dropout, "attn_dropout": attn_dropout,
            "bdam": dict(num_layers=module.NUM_LAYERS, num_heads=module.NUM_HEADS, mlp_ratio=module.MLP_RATIO,
                         cross_attention=module.CROSS_ATTN, cross_layers=module.CROSS_LAYERS, gate=module.GATE)
            if module.ENABLED else None,
            "fusion": dict(dim=fusion.DIM, align=fusion.ALIGN, gate=fusion.GATE, mamba_layers=fusion.MAMBA_LAYERS,
                           d_state=fusion.D_STATE, d_conv=fusion.D_CONV, expand=fusion.EXPAND,
                           out_dim=fusion.OUT_DIM, variant=fusion.VARIANT, input_norm=fusion.INPUT_NORM,
                           bidirectional=fusion.BIDIRECTIONAL) if fusion.ENABLED else None,
            "image_feat_norm": image.FEAT_NORM, "text_feat_norm": text.FEAT_NORM,
            "loss_names": tuple(bdam_cfg.LOSSES.NAME), "loss_cfg": bdam_cfg.LOSSES,
            "detach_fusion_inputs": fusion.DETACH_INPUTS,
        }

    @property
    def device(self):
        return self.pixel_mean.device

    def gradnorm_shared_parameters(self, name: str = "auto", losses=None):
        """(label, parameters) GradNorm measures the task gradients on. "auto": the last parameterised layer, in
        forward order, that every loss in ``losses`` reaches (found from their autograd graphs); otherwise a module
        name (its own parameters) or a parameter name."""
        if name == "auto":
            if losses is None:
                raise ValueError("GradNorm's shared layer 'auto' is found from the task losses of a training step")
            from reid_plugins.solver.gradnorm import last_shared_layer

            return last_shared_layer(losses, self.named_parameters())
        modules, params = dict(self.named_modules()), dict(self.named_parameters())
        if name in params:
            return name, [params[name]]
        if name in modules and name:
            own = [p for p in modules[name].parameters(recurse=False) if p.requires_grad]
            if own:
                return name, own
        raise KeyError(f"MODEL.BDAM.GRADNORM.SHARED_PARAM: no parameter or parameterised module {name!r} in BDAMT2I "
                       f"(e.g. {list(params)[-3:]}, or 'auto')")

    # ------------------------------------------------------------------------------------------------------------
    def encode_image(self, images: torch.Tensor, tokens: bool = False) -> Dict[str, torch.Tensor]:
        """Image features; ``tokens``: also the gated identity tokens [B, L, D] ("id_tokens_gate", mean f_id^gate)
        for the token-level fusion."""
        x = (images.to(self.device) - self.pixel_mean) / self.pixel_std
        patches = self.image_encoder(pixel_values=x).last_hidden_state[:, 1:]  # all patch tokens, no [CLS]
        if self.bdam is not None:
            out = self.bdam(patches)
            id_tokens = out.pop("id_tokens")
            if tokens:
                gate = out["gate"]
                out["id_tokens_gate"] = id_tokens if gate is None else gate.unsqueeze(1) * id_tokens
        else:
            out = {"f_id_gate": self.base_proj(patches.mean(dim=1)), "gate": None}
            if tokens:  # a linear map commutes with the mean: these tokens average to f_id_gate
                out["id_tokens_gate"] = self.base_proj(patches)
        out["img_emb"] = F.normalize(self.img_embed(self.img_norm(out["f_id_gate"])), dim=1)
        return out

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor, tokens: bool = False) -> Dict[str, torch.Tensor]:
        """Text features; ``tokens``: also the token states "txt_tokens" [B, W, D] and their mask "txt_mask"."""
        ids, mask = ids.to(self.device), mask.to(self.device)
        out = {}
        if tokens:
            f, hidden = self.text_encoder(ids, mask, return_tokens=True)
            out.update(txt_tokens=hidden, txt_mask=mask[:, :hidden.shape[1]])
        else:
            f = self.text_encoder(ids, mask)
        f = self.txt_norm(f)
        out.update(txt_id=f, txt_emb=F.normalize(self.txt_embed(f), dim=1))
        return out

    @property
    def fusion_uses_tokens(self) -> bool:
        return self.fusion is not None and self.fusion.uses_tokens

    def forward(self, batched_inputs):
        if not self.training:
            return self._inference(batched_inputs)
        use_tokens = self.fusion_uses_tokens and "FusionMatch" in self.loss_names
        state = self.encode_image(batched_inputs["images"], tokens=use_tokens)
        state.update(self.encode_text(batched_inputs["id_input_ids"], batched_inputs["id_attention_mask"],
                                      tokens=use_tokens))
        state["pids"] = batched_inputs["targets"].to(self.device)
        if any(n in self.loss_names for n in ("Adversarial", "ClothingMatch")):
            clo_ids = batched_inputs["clo_input_ids"].to(self.device)
            clo_mask = batched_inputs["clo_attention_mask"].to(self.device)
            clo = self.txt_norm(self.text_encoder(clo_ids, clo_mask))
            # L_adv uses it detached (losses.py): the clothing text is the target of eq. 1, not something it may
            # move; pushing the shared text encoder away from its own clothing descriptions would corrupt the
            # identity text features. Clothing matching may move it (both sides are aligned, Fig. 1b)
            state["clo_txt"] = F.normalize(clo, dim=1)
            image_ids = batched_inputs.get("image_ids")
            state["same_outfit"] = same_outfit(clo_ids, clo_mask,
                                               None if image_ids is None else torch.as_tensor(image_ids).to(self.device))
            if "Adversarial" in self.loss_names:
                state["clo_img"] = F.normalize(self.clo_proj(state["f_clo_hat"]), dim=1)
            if "ClothingMatch" in self.loss_names:
                state["clo_match_img"] = F.normalize(self.clo_match_proj(state["f_clo_hat"]), dim=1)
        if self.fusion is not None and ("FusionMatch" in self.loss_names or "GateReg" in self.loss_names):
            state.update(self._fusion_candidates(state))
        return {f"loss_{name.lower()}": get_loss(name)(state, self.loss_cfg) for name in self.loss_names}

    def _inference(self, batched_inputs) -> Dict[str, torch.Tensor]:
        tokens = self.fusion_uses_tokens
        if "images" in batched_inputs:
            out = self.encode_image(batched_inputs["images"], tokens=tokens)
            res = {"img_emb": out["img_emb"], "img_id": out["f_id_gate"]}
            if out.get("gate") is not None:
                res["gate"] = out["gate"]
            if self.fusion is not None:
                res["fusion_img"] = self.fusion.align_images(out["id_tokens_gate"] if tokens else out["f_id_gate"])
            return res
        t = self.encode_text(batched_inputs["input_ids"], batched_inputs["attention_mask"], tokens=tokens)
        res = {"txt_emb": t["txt_emb"], "txt_id": t["txt_id"]}
        if self.fusion is not None:
            if tokens:
                res["fusion_txt"] = self.fusion.align_texts(t["txt_tokens"], t["txt_mask"])
                res["fusion_txt_mask"] = t["txt_mask"]
            else:
                res["fusion_txt"] = self.fusion.align_texts(t["txt_id"])
        return res

    # ------------------------------------------------------------------------------------------------ fusion
    def _fusion_inputs(self, state):
        """The head's aligned inputs for every image and text of the batch (detached from the encoders by default)."""
        if self.fusion.uses_tokens:
            f_img, f_txt, mask = state["id_tokens_gate"], state["txt_tokens"], state["txt_mask"]
        else:
            f_img, f_txt, mask = state["f_id_gate"], state["txt_id"], None
        if self.detach_fusion_inputs:
            f_img, f_txt = f_img.detach(), f_txt.detach()
        return self.fusion.align_images(f_img), self.fusion.align_texts(f_txt, mask), mask

    def _fuse_pairs(self, a_img, a_txt, mask, img_idx, txt_idx):
        return self.fusion.fuse(a_img[img_idx], a_txt[txt_idx], None if mask is None else mask[txt_idx])

    def _fusion_candidates(self, state) -> Dict[str, torch.Tensor]:
        """Listwise: per text, its own image and the M images of other identities the dual encoder ranks highest
        (scores [B, 1 + M]). ITM: each text's own image, one negative image per text and one negative text per
        image, drawn with probability softmax(similarity / ITM_TAU) over other identities (scores and labels [3B])."""
        pids = state["pids"]
        b = len(pids)
        arange = torch.arange(b, device=pids.device)
        other = pids.view(-1, 1) != pids.view(1, -1)
        a_img, a_txt, mask = self._fusion_inputs(state)
        with torch.no_grad():
            sim = state["txt_emb"] @ state["img_emb"].t()                      # [text, image]
        if self.fusion_objective == "itm":
            with torch.no_grad():
                logits = (sim / self.itm_tau).masked_fill(~other, float("-inf"))
                usable = other.any(dim=1)
                if not bool(usable.all()):
                    raise ValueError("ITM needs an image of another identity for every text of the batch")
                neg_img = torch.multinomial(torch.softmax(logits, dim=1), 1).squeeze(1)      # per text
                neg_txt = torch.multinomial(torch.softmax(logits.t(), dim=1), 1).squeeze(1)  # per image
            img_idx = torch.cat([arange, neg_img, arange])
            txt_idx = torch.cat([arange, arange, neg_txt])
            out = self._fuse_pairs(a_img, a_txt, mask, img_idx, txt_idx)
            labels = torch.cat([torch.ones(b, device=pids.device), torch.zeros(2 * b, device=pids.device)])
            return {"fusion_scores": out["score"], "fusion_labels": labels, "fusion_weights": out["weights"]}
        with torch.no_grad():
            m = min(self.num_negatives, int(other.sum(1).min()))
            neg = (sim.masked_fill(~other, float("-inf")).topk(m, dim=1).indices if m > 0
                   else sim.new_zeros((b, 0), dtype=torch.long))
        img_idx = torch.cat([arange.view(-1, 1), neg], dim=1)  # [B, 1 + M]
        txt_idx = arange.view(-1, 1).expand_as(img_idx)
        out = self._fuse_pairs(a_img, a_txt, mask, img_idx.reshape(-1), txt_idx.reshape(-1))
        return {"fusion_scores": out["score"].view(b, -1), "fusion_weights": out["weights"]}
