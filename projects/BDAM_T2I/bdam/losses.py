"""BDAM losses (paper Sec. 3.2 and 3.5), chosen by name through MODEL.BDAM.LOSSES.NAME.

Written here because no library has them in this form: fast-reid's triplet loss uses un-squared distances (eq. 4
squares them) and has no cross-modal terms. HSIC is the shared reid_plugins.losses.hsic_linear (eq. 2).

Positives are decided by person id throughout (batches hold K captions of each of P identities), which reduces to
the paper's one-positive formulas when every pid in the batch is distinct.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F
from fastreid.utils.registry import Registry

LOSS_REGISTRY = Registry("BDAM_LOSS")
LOSS_REGISTRY.__doc__ = "fn(state: dict of forward tensors, cfg: MODEL.BDAM.LOSSES node) -> scalar loss"


def _same_pid(pids: torch.Tensor) -> torch.Tensor:
    return pids.view(-1, 1) == pids.view(1, -1)


def contrastive(a: torch.Tensor, b: torch.Tensor, positives: torch.Tensor, tau: float) -> torch.Tensor:
    """Symmetric InfoNCE (a -> b and b -> a averaged) on L2-normalised features [B, E]; positives [B, B] (bool)
    marks the pairs that match. Target distribution of row i: uniform over its positives (only j = i when they are
    distinct), which is eq. 3 when every row has one positive."""
    logits = a @ b.t() / tau
    pos = positives.float()
    target = pos / pos.sum(dim=1, keepdim=True)
    target_t = pos.t() / pos.t().sum(dim=1, keepdim=True)
    a2b = -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    b2a = -(target_t * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return (a2b + b2a) / 2


def info_nce(img: torch.Tensor, txt: torch.Tensor, pids: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 3, symmetric, with the same-pid pairs of the P x K batch as positives."""
    return contrastive(img, txt, _same_pid(pids), tau)


def same_outfit(clo_input_ids: torch.Tensor, clo_attention_mask: torch.Tensor,
                image_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
    """[B, B] bool: sample j's clothing text describes sample i's outfit, i.e. it is the clothing text of the same
    image or the very same text (the captions of one image share its clothing description; on the synthetic
    clothes-changing domain an outfit's description is the same string in every image of it). Other clothing texts
    of the same person count as other outfits."""
    ids = clo_input_ids * clo_attention_mask
    same = (ids.unsqueeze(1) == ids.unsqueeze(0)).all(dim=2)
    if image_ids is not None:
        same = same | (image_ids.view(-1, 1) == image_ids.view(1, -1))
    return same


def batch_hard_triplet(feats: torch.Tensor, pids: torch.Tensor, margin: float) -> torch.Tensor:
    """Eq. 4 with batch-hard mining: mean_a max(max_p |f_a - f_p|^2 - min_n |f_a - f_n|^2 + m, 0).

    Anchors without a positive or a negative in the batch are skipped (0 if none is left)."""
    dist = torch.cdist(feats, feats).pow(2)
    same = _same_pid(pids)
    eye = torch.eye(len(pids), dtype=torch.bool, device=feats.device)
    pos_mask, neg_mask = same & ~eye, ~same
    valid = pos_mask.any(dim=1) & neg_mask.any(dim=1)
    if not valid.any():
        return feats.sum() * 0
    hardest_pos = dist.masked_fill(~pos_mask, float("-inf")).max(dim=1).values
    hardest_neg = dist.masked_fill(~neg_mask, float("inf")).min(dim=1).values
    return F.relu(hardest_pos - hardest_neg + margin)[valid].mean()


def clothing_adversarial(clo_img: torch.Tensor, clo_txt: torch.Tensor, positives: torch.Tensor,
                         tau: float) -> torch.Tensor:
    """Eq. 1: E_i[-log(1 - P_pos(i))] with P_pos(i) the softmax probability (over the batch's clothing texts, logits
    = dot products of L2-normalised features / tau) that visual clothing feature i matches its own clothing text;
    positives [B, B] (bool) marks the texts that count as its own (``same_outfit``, or same pid).

    Computed as logsumexp(all) - logsumexp(negatives), which is -log(1 - P_pos) without the cancellation near
    P_pos = 1. Rows without a negative in the batch are skipped."""
    logits = clo_img @ clo_txt.t() / tau
    neg = ~positives
    valid = neg.any(dim=1)
    if not valid.any():
        return logits.sum() * 0
    lse_all = torch.logsumexp(logits, dim=1)
    lse_neg = torch.logsumexp(logits.masked_fill(~neg, float("-inf")), dim=1)
    return (lse_all - lse_neg)[valid].mean()


def _bernoulli_entropy(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-6, 1 - 1e-6)
    return -(p * p.log() + (1 - p) * (1 - p).log())


def gate_regularizer(gate: Optional[torch.Tensor], fusion_weights: Optional[torch.Tensor]) -> torch.Tensor:
    """Gate regulariser (the paper names it, Sec. 4.2 / Table 3, without a formula). Our choice:

        L_gate = [log 2 - H_b(mean(g))] + [log 2 - H(mean_b(w))]

    the KL divergence of the *average* BDAM gate (a Bernoulli) and of the average fusion-gate distribution (2-way
    categorical) from the uniform one. Why: HSIC on the gated features and the adversarial loss are both minimised
    trivially by a saturated gate (g -> 1 zeroes f_clo^gate), which would collapse the decoupling; this term
    penalises that collapse and modality dominance in the fusion gate while leaving every sample and dimension
    free (it is flat near 0.5: the paper's Fig. 3 means 0.62 / 0.53 cost 0.029 / 0.0018 nats)."""
    terms = []
    if gate is not None:
        terms.append(math.log(2) - _bernoulli_entropy(gate.mean()))
    if fusion_weights is not None:
        w = fusion_weights.mean(dim=0).clamp_min(1e-6)
        terms.append(math.log(2) + (w * w.log()).sum())
    if not terms:
        raise ValueError("GateReg needs the BDAM gate or the fusion gate; both are disabled in this config")
    return sum(terms)


def fusion_matching(scores: torch.Tensor) -> torch.Tensor:
    """Listwise matching loss of the fusion head: scores [N, 1 + M] hold, per text, the logit of its positive image
    (column 0) and of its M hardest in-batch negatives; cross-entropy towards column 0. The paper gives the fused
    feature no objective; this trains the head for the top-K re-scoring it is used for."""
    return F.cross_entropy(scores, scores.new_zeros(scores.shape[0], dtype=torch.long))


def image_text_matching(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ITM (ALBEF): binary cross-entropy of the matching logits of N (image, text) pairs against labels [N] (1: the
    pair matches); the meta-architecture supplies each text's own image, one negative image per text and one
    negative text per image, negatives drawn from the dual encoder's similarity."""
    return F.binary_cross_entropy_with_logits(scores, labels.to(scores.dtype))


# ---------------------------------------------------------------------------------------------------------------
# Name -> loss on the meta-architecture's forward state
# ---------------------------------------------------------------------------------------------------------------
@LOSS_REGISTRY.register()
def InfoNCE(s, cfg):
    return info_nce(s["img_emb"], s["txt_emb"], s["pids"], cfg.INFONCE.TAU) * cfg.INFONCE.SCALE


@LOSS_REGISTRY.register()
def Triplet(s, cfg):
    return batch_hard_triplet(s["img_emb"], s["pids"], cfg.TRIPLET.MARGIN) * cfg.TRIPLET.SCALE


def _clothing_positives(s, mode: str) -> torch.Tensor:
    if mode == "outfit":
        return s["same_outfit"]
    if mode == "pid":
        return _same_pid(s["pids"])
    raise ValueError(f"MODEL.BDAM.LOSSES.ADV.POSITIVES must be 'outfit' or 'pid', got {mode!r}")


@LOSS_REGISTRY.register()
def Adversarial(s, cfg):
    positives = _clothing_positives(s, cfg.ADV.POSITIVES)
    return clothing_adversarial(s["clo_img"], s["clo_txt"].detach(), positives, cfg.ADV.TAU) * cfg.ADV.SCALE


@LOSS_REGISTRY.register()
def ClothingMatch(s, cfg):
    """Clothing matching (paper Sec. 4.3 / Fig. 1b: the clothing branch is "guided by matching and adversarial
    losses"; no formula given): eq. 3's symmetric InfoNCE between the clothing feature, through its own projection,
    and the clothing description, with the same-outfit texts as positives."""
    return contrastive(s["clo_match_img"], s["clo_txt"], s["same_outfit"], cfg.CLO_MATCH.TAU) * cfg.CLO_MATCH.SCALE


@LOSS_REGISTRY.register()
def HSIC(s, cfg):
    from reid_plugins.losses import hsic_linear

    return hsic_linear(s["f_id_gate"], s["f_clo_gate"]) * cfg.HSIC.SCALE


@LOSS_REGISTRY.register()
def GateReg(s, cfg):
    return gate_regularizer(s.get("gate"), s.get("fusion_weights")) * cfg.GATE_REG.SCALE


@LOSS_REGISTRY.register()
def FusionMatch(s, cfg):
    if cfg.FUSION.OBJECTIVE == "itm":
        return image_text_matching(s["fusion_scores"], s["fusion_labels"]) * cfg.FUSION.SCALE
    return fusion_matching(s["fusion_scores"]) * cfg.FUSION.SCALE


def get_loss(name: str) -> Callable[[Dict[str, torch.Tensor], object], torch.Tensor]:
    try:
        return LOSS_REGISTRY.get(name)
    except KeyError:
        raise KeyError(f"MODEL.BDAM.LOSSES.NAME: unknown loss {name!r}; known: {sorted(LOSS_REGISTRY._obj_map)}")
