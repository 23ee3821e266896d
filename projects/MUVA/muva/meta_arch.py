"""The MUVA meta-architecture (fast-reid META_ARCH_REGISTRY "MUVA").

Image side: CLIP ViT with part tokens and AM-MSA (backbone "build_muva_clip_backbone"); the projected CLS and part
tokens are concatenated ((1+R) * E = 2048-d for ViT-B/16), then a BN neck (weight 1, bias 0 and frozen) and a
bias-free classifier (normal std 0.001). Text side (unless MODEL.MUVA.PROMPT.ENABLED is off): the multi-grained prompt
learner and CLIP's text tower. Losses are chosen by name in MODEL.LOSSES.NAME:

    IDLoss      L_id    cross-entropy with label smoothing on the classifier logits
    ImpLoss     L_imp   BN'd, normalised feature against the VPM-2 memory (temperature 0.01, hardest-sample update)
    I2TCELoss   L_i2tce pre-BN feature against the frozen text features of all identities (TPM), label smoothing
    MaskBCELoss L_bce   accumulated RMP logits of all layers against the VGE masks
    MaskDiceLoss L_dice RMP probabilities of all layers against the VGE masks

Inference (eval mode) returns the test feature of the code: the BN'd concatenation (MODEL.MUVA.TEST_AFTER_BN), computed
with predicted masks. The trainer drives stage 1 (`text_features`, L_cmp) and fills `text_memory` / `memory`.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn as nn
from fastreid.config import configurable
from fastreid.modeling.backbones import BACKBONE_REGISTRY
from fastreid.modeling.meta_arch import META_ARCH_REGISTRY

from reid_plugins.modeling.clip import CLIPTextEncoder, build_clip_from_cfg, get_tokenizer

from . import losses as L
from .ammsa import select_parts
from .config import LOSS_NAMES, PART_NAMES
from .memory import PrototypeMemory
from .prompt import MultiGrainedPromptLearner, encode_prompts, prompt_texts


@META_ARCH_REGISTRY.register()
class MUVA(nn.Module):
    @configurable
    def __init__(self, *, backbone, num_classes: int, pixel_mean, pixel_std, loss_names, loss_cfg,
                 text_encoder: Optional[nn.Module] = None, prompt_learner: Optional[nn.Module] = None,
                 test_after_bn: bool = True):
        super().__init__()
        unknown = [n for n in loss_names if n not in LOSS_NAMES]
        if unknown:
            raise ValueError(f"MODEL.LOSSES.NAME has unknown loss(es) {unknown}; MUVA knows {LOSS_NAMES}")
        if "I2TCELoss" in loss_names and text_encoder is None:
            raise ValueError("MODEL.LOSSES.NAME contains I2TCELoss but MODEL.MUVA.PROMPT.ENABLED is False (vision-only); "
                             "remove it from the loss list")
        if {"MaskBCELoss", "MaskDiceLoss"} & set(loss_names) and backbone.mask_predictor is None:
            raise ValueError("MODEL.LOSSES.NAME contains a mask loss but the model has no mask predictor "
                             f"(MODEL.MUVA.PARTS={backbone.num_parts} parts, MODEL.MUVA.ATTENTION_MASKS={backbone.attention_masks!r}); "
                             "remove MaskBCELoss / MaskDiceLoss")
        self.backbone = backbone
        self.num_classes = int(num_classes)
        self.loss_names = tuple(loss_names)
        self.loss_cfg = loss_cfg
        self.test_after_bn = bool(test_after_bn)
        feat_dim = backbone.feat_dim
        self.bottleneck = nn.BatchNorm1d(feat_dim)
        nn.init.ones_(self.bottleneck.weight)
        nn.init.zeros_(self.bottleneck.bias)
        self.bottleneck.bias.requires_grad_(False)
        self.classifier = nn.Linear(feat_dim, self.num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        imp = loss_cfg.IMP
        self.memory = PrototypeMemory(self.num_classes, feat_dim, imp.TEMP, imp.MOMENTUM, imp.HARD)
        self.text_encoder = text_encoder
        self.prompt_learner = prompt_learner
        if text_encoder is not None:
            text_dim = prompt_learner.num_granularities * text_encoder.output_dim
            self.register_buffer("text_memory", torch.zeros(self.num_classes, text_dim))  # TPM
            for p in text_encoder.parameters():  # the text tower is never trained
                p.requires_grad_(False)
            # The prompts are trained only in stage 1, which switches this on for its duration; off otherwise, so
            # that DistributedDataParallel (built with the trainer) does not wait for their gradients in stage 2.
            prompt_learner.learnable_ctx.requires_grad_(False)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, -1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, -1, 1, 1), False)

    @classmethod
    def from_config(cls, cfg):
        num_classes = int(cfg.MODEL.HEADS.NUM_CLASSES)
        if num_classes <= 0:
            raise ValueError(f"MODEL.HEADS.NUM_CLASSES={num_classes}: the trainer sets it from the training set; set "
                             f"it explicitly when building MUVA without one")
        clip_model = build_clip_from_cfg(cfg)
        backbone = BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.NAME)(cfg, clip_model)
        text_encoder = prompt_learner = None
        if cfg.MODEL.MUVA.PROMPT.ENABLED:
            parts = [PART_NAMES[i] for i in backbone.part_index]
            p = cfg.MODEL.MUVA.PROMPT
            texts = prompt_texts(parts, p.N_CTX, p.TEMPLATE, p.DOMAIN_CONTEXT)
            prompt_learner = MultiGrainedPromptLearner(num_classes, texts, get_tokenizer(cfg.MODEL.BACKBONE.CLIP_ARCH),
                                                       clip_model.token_embedding, p.N_CTX, p.CTX_STD)
            text_encoder = CLIPTextEncoder(clip_model)
        return {"backbone": backbone, "num_classes": num_classes, "pixel_mean": cfg.MODEL.PIXEL_MEAN,
                "pixel_std": cfg.MODEL.PIXEL_STD, "loss_names": tuple(cfg.MODEL.LOSSES.NAME),
                "loss_cfg": cfg.MODEL.LOSSES, "text_encoder": text_encoder, "prompt_learner": prompt_learner,
                "test_after_bn": cfg.MODEL.MUVA.TEST_AFTER_BN}

    @property
    def device(self):
        return self.pixel_mean.device

    @property
    def has_text(self) -> bool:
        return self.text_encoder is not None

    def preprocess_image(self, batched_inputs) -> torch.Tensor:
        images = batched_inputs["images"] if isinstance(batched_inputs, dict) else batched_inputs
        # out of place: fast-reid's flip-test passes a tensor that must stay unnormalised
        return (images.to(self.device, torch.float32) - self.pixel_mean) / self.pixel_std

    def part_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """[B, 3, L] VGE masks of the data loader -> the configured parts [B, R, L] (bool)."""
        return select_parts(masks.to(self.device), self.backbone.part_index) > 0.5

    def features(self, images: torch.Tensor, gt_masks: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Normalised images -> {"feat": [B, (1+R)E] concatenation, "bn_feat", masks of the backbone}."""
        out = self.backbone(images, gt_masks)
        out["feat"] = out["tokens"].flatten(1)
        out["bn_feat"] = self.bottleneck(out["feat"])
        return out

    @torch.no_grad()
    def text_features(self, labels: torch.Tensor) -> torch.Tensor:
        return encode_prompts(self.text_encoder, self.prompt_learner, labels.to(self.device))

    def forward(self, batched_inputs):
        images = self.preprocess_image(batched_inputs)
        if not self.training:
            out = self.features(images)
            return out["bn_feat"] if self.test_after_bn else out["feat"]
        targets = batched_inputs["targets"].to(self.device)
        out = self.features(images)  # predicted masks (the GT masks only supervise them)
        return self.losses(out, targets, batched_inputs.get("masks"))

    def losses(self, out: Dict[str, torch.Tensor], targets: torch.Tensor, masks: Optional[torch.Tensor]
               ) -> Dict[str, torch.Tensor]:
        c = self.loss_cfg
        result = {}
        if "IDLoss" in self.loss_names:
            result["loss_id"] = L.id_loss(self.classifier(out["bn_feat"]), targets, c.ID.EPSILON) * c.ID.SCALE
        if "ImpLoss" in self.loss_names:
            result["loss_imp"] = self.memory(out["bn_feat"], targets) * c.IMP.SCALE
        if "I2TCELoss" in self.loss_names:
            result["loss_i2tce"] = L.i2tce_loss(out["feat"], self.text_memory, targets, c.I2TCE.EPSILON,
                                                c.I2TCE.TAU, c.I2TCE.NORM) * c.I2TCE.SCALE
        if {"MaskBCELoss", "MaskDiceLoss"} & set(self.loss_names):
            if masks is None:
                raise ValueError("mask losses need batched_inputs['masks'] (the VGE part masks of the batch)")
            gt = self.part_masks(masks)
            if "MaskBCELoss" in self.loss_names:
                result["loss_mask_bce"] = L.mask_bce_loss(out["mask_logits"], gt) * c.MASK.BCE_SCALE
            if "MaskDiceLoss" in self.loss_names:
                result["loss_mask_dice"] = L.mask_dice_loss(out["mask_probs"], gt, c.MASK.DICE_SMOOTH) * \
                    c.MASK.DICE_SCALE
        return result
