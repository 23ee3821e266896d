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


def info_nce(img: torch.Tensor, txt: torch.Tensor, pids: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 3, symmetric (image->text and text->image averaged), on L2-normalised features [B, E].

    Target distribution of row i: uniform over the batch entries with pid_i (only j = i when pids are distinct)."""
    logits = img @ txt.t() / tau
    pos = _same_pid(pids).float()
    target = pos / pos.sum(dim=1, keepdim=True)
    i2t = -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    t2i = -(target.t() * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return (i2t + t2i) / 2


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


def clothing_adversarial(clo_img: torch.Tensor, clo_txt: torch.Tensor, pids: torch.Tensor,
                         tau: float) -> torch.Tensor:
    """Eq. 1: E_i[-log(1 - P_pos(i))] with P_pos(i) the softmax probability (over the batch's clothing texts, logits
    = dot products of L2-normalised features / tau) that visual clothing feature i matches its own clothing text.

    Computed as logsumexp(all) - logsumexp(negatives), which is -log(1 - P_pos) without the cancellation near
    P_pos = 1. Rows without a negative in the batch are skipped."""
    logits = clo_img @ clo_txt.t() / tau
    neg = ~_same_pid(pids)
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


# ---------------------------------------------------------------------------------------------------------------
# Name -> loss on the meta-architecture's forward state
# ---------------------------------------------------------------------------------------------------------------
@LOSS_REGISTRY.register()
def InfoNCE(s, cfg):
    return info_nce(s["img_emb"], s["txt_emb"], s["pids"], cfg.INFONCE.TAU) * cfg.INFONCE.SCALE


@LOSS_REGISTRY.register()
def Triplet(s, cfg):
    return batch_hard_triplet(s["img_emb"], s["pids"], cfg.TRIPLET.MARGIN) * cfg.TRIPLET.SCALE


@LOSS_REGISTRY.register()
def Adversarial(s, cfg):
    return clothing_adversarial(s["clo_img"], s["clo_txt"], s["pids"], cfg.ADV.TAU) * cfg.ADV.SCALE


@LOSS_REGISTRY.register()
def HSIC(s, cfg):
    from reid_plugins.losses import hsic_linear

    return hsic_linear(s["f_id_gate"], s["f_clo_gate"]) * cfg.HSIC.SCALE


@LOSS_REGISTRY.register()
def GateReg(s, cfg):
    return gate_regularizer(s.get("gate"), s.get("fusion_weights")) * cfg.GATE_REG.SCALE


@LOSS_REGISTRY.register()
def FusionMatch(s, cfg):
    return fusion_matching(s["fusion_scores"]) * cfg.FUSION.SCALE


def get_loss(name: str) -> Callable[[Dict[str, torch.Tensor], object], torch.Tensor]:
    try:
        return LOSS_REGISTRY.get(name)
    except KeyError:
        raise KeyError(f"MODEL.BDAM.LOSSES.NAME: unknown loss {name!r}; known: {sorted(LOSS_REGISTRY._obj_map)}")
