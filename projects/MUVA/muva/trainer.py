"""MUVATrainer: the two training stages on reid_plugins' PluginTrainer (fast-reid's DefaultTrainer).

Stage 1 (prompt learning, Algorithm 1 lines 2-10): the training set is encoded once by the untrained image encoder
(eval mode, test transforms, VGE masks, BN-neck input); the L2-normalised identity centroids are the fixed VPM-1; the
prompt learner alone is trained with L_cmp on PK batches of identities. Skipped when MODEL.MUVA.STAGE1.PRETRAIN names a
stage-1 checkpoint, when the model is vision-only, or when a resumed checkpoint says it is done.
Stage 2 (fast-reid's training loop, hooks, evaluator and checkpointer): the text features of all identities are
encoded once from the learned prompts (TPM, `model.text_memory`); the VPM-2 memory is rebuilt from the training set
with VGE masks before every epoch (`MemoryHook`); losses of the meta-architecture.

Every checkpoint carries `muva_stage` ({"stage": 1 once stage 1 is done, 2 during stage 2}); `--resume` from a
stage-2 checkpoint continues stage 2 at the next epoch (PluginTrainer also restores the sampler and RNG states),
from the end-of-stage-1 checkpoint (`model_stage1.pth`) it starts stage 2. An interrupted stage 1 restarts.
"""
from __future__ import annotations

import logging
import os
from typing import Tuple

import torch
import torch.nn.functional as F
from fastreid.data.samplers import NaiveIdentitySampler
from fastreid.engine import hooks
from fastreid.utils import comm
from tqdm import tqdm

from reid_plugins.engine import PluginTrainer
from reid_plugins.engine.checkpoint import checkpoint_rows
from reid_plugins.engine.guards import check_eval_weights, check_identity_batch
from reid_plugins.utils.modules import unwrap_model

from . import data, solver
from .losses import cmp_loss
from .prompt import encode_prompts

logger = logging.getLogger("fastreid." + __name__)  # under fast-reid's configured logger


class StageState:
    """Checkpointable record of the training stage."""

    def __init__(self):
        self.stage = 0

    def state_dict(self):
        return {"stage": int(self.stage)}

    def load_state_dict(self, state):
        stage = int(state.get("stage", 0))
        if stage not in (0, 1, 2):
            raise ValueError(f"checkpoint entry muva_stage={state!r}: expected stage 0, 1 or 2")
        self.stage = stage


class MemoryHook(hooks.HookBase):
    """Rebuilds the VPM-2 memory at the start of every stage-2 epoch."""

    def before_epoch(self):
        self.trainer.rebuild_memory()


def class_centroids(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """L2-normalised mean feature of every class [C, D]; every class must have at least one sample."""
    counts = torch.bincount(labels, minlength=num_classes)
    if len(counts) > num_classes or bool((counts == 0).any()):
        raise ValueError(f"centroids need samples of each of the {num_classes} classes; counts per class: "
                         f"min {int(counts.min())}, {len(counts)} classes seen")
    sums = torch.zeros(num_classes, features.shape[1], dtype=torch.float32).index_add_(0, labels, features.float())
    return F.normalize(sums / counts.unsqueeze(1).float(), dim=1)


def load_stage1_prompts(model, path: str) -> None:
    """Copy the prompt learner's context from a stage-1 checkpoint: ours ({"model": state}) or the authors'
    (a bare state dict with `prompt_learner.learnable_ctx`), read with torch.load(weights_only=True)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MODEL.MUVA.STAGE1.PRETRAIN={path!r}: file not found")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("model", state) if isinstance(state, dict) else state
    key = "prompt_learner.learnable_ctx"
    own = model.prompt_learner.learnable_ctx
    if not isinstance(state, dict) or key not in state:
        raise KeyError(f"MODEL.MUVA.STAGE1.PRETRAIN={path!r} has no {key!r} (keys e.g. "
                       f"{list(state)[:5] if isinstance(state, dict) else type(state)}); expected a stage-1 checkpoint")
    if tuple(state[key].shape) != tuple(own.shape):
        raise ValueError(f"MODEL.MUVA.STAGE1.PRETRAIN={path!r}: {key} has shape {tuple(state[key].shape)}, the model "
                         f"{tuple(own.shape)} (identities x granularities x N_CTX x width); wrong source dataset or "
                         f"MODEL.MUVA.PARTS?")
    with torch.no_grad():
        own.copy_(state[key])
    logger.info("Stage 1 skipped: prompt context loaded from %s", path)


def checkpoint_num_classes(path: str) -> int:
    check_eval_weights(path)
    num_classes = checkpoint_rows(path, MUVATrainer.classifier_key)
    if not num_classes:
        raise KeyError(f"MODEL.WEIGHTS={path!r} has no model/{MUVATrainer.classifier_key}: not a MUVA checkpoint")
    return num_classes


class MUVATrainer(PluginTrainer):
    classifier_key = "classifier.weight"

    def __init__(self, cfg):
        super().__init__(cfg)
        if unwrap_model(self.model).has_text and not cfg.MODEL.MUVA.STAGE1.PRETRAIN:
            # stage 1 draws PK batches of identities with fast-reid's sampler too: check it before training
            check_identity_batch(unwrap_model(self.model).num_classes, cfg.MODEL.MUVA.STAGE1.IMS_PER_BATCH,
                                 cfg.DATALOADER.NUM_INSTANCE, comm.get_world_size(),
                                 batch_key="MODEL.MUVA.STAGE1.IMS_PER_BATCH", batch_per_process=True)
        self.stage_state = StageState()
        self.checkpointer.checkpointables["muva_stage"] = self.stage_state
        self._feature_loader = None
        self._untrained_features = None  # stage-1 pass, reused for the first VPM-2 memory

    # ------------------------------------------------------------------------------------------------ builders
    @classmethod
    def build_train_loader(cls, cfg):
        return data.build_train_loader(cfg, data.TrainData(cfg))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return data.build_test_loader(cfg, dataset_name)

    @classmethod
    def build_optimizer(cls, cfg, model):
        return solver.build_stage2_optimizer(cfg, model), None

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer, iters_per_epoch):
        return {"lr_sched": solver.build_stage2_scheduler(cfg, optimizer)}

    def build_hooks(self):
        return [MemoryHook()] + super().build_hooks()

    @property
    def feature_loader(self):
        if self._feature_loader is None:
            self._feature_loader = data.build_feature_loader(self.cfg, self.data_loader.muva_train_data)
        return self._feature_loader

    # ------------------------------------------------------------------------------------------------ training
    def train(self):
        model = unwrap_model(self.model)
        if self.stage_state.stage < 2 and model.has_text:
            if self.cfg.MODEL.MUVA.STAGE1.PRETRAIN:
                load_stage1_prompts(model, self.cfg.MODEL.MUVA.STAGE1.PRETRAIN)
            elif self.stage_state.stage < 1:
                self.train_stage1()
                self.stage_state.stage = 1
                self.checkpointer.save("model_stage1")
        self.stage_state.stage = 2
        if model.has_text:
            self.build_text_memory()
        return super().train()

    @torch.no_grad()
    def extract_train_features(self, after_bn: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        """Training set through the model in eval mode with the VGE masks -> (features [N, D], labels [N])."""
        model = unwrap_model(self.model)
        was_training = model.training
        model.eval()
        feats, labels = [], []
        for batch in tqdm(self.feature_loader, desc="MUVA features (VGE masks)", disable=not comm.is_main_process(),
                          leave=False):
            images = model.preprocess_image(batch)
            out = model.features(images, model.part_masks(batch["masks"]))
            feats.append((out["bn_feat"] if after_bn else out["feat"]).float().cpu())
            labels.append(batch["targets"].long().cpu())
        model.train(was_training)
        feats, labels = torch.cat(feats), torch.cat(labels)
        if comm.get_world_size() > 1:  # the inference sampler shards the set over the processes
            gathered = comm.all_gather((feats, labels))
            feats, labels = torch.cat([g[0] for g in gathered]), torch.cat([g[1] for g in gathered])
        return feats, labels

    def train_stage1(self) -> None:
        model = unwrap_model(self.model)
        s = self.cfg.MODEL.MUVA.STAGE1
        feats, labels = self.extract_train_features(after_bn=False)
        self._untrained_features = (feats, labels)
        centroids = class_centroids(feats, labels, model.num_classes).to(model.device)  # VPM-1, fixed
        ctx = model.prompt_learner.learnable_ctx
        ctx.requires_grad_(True)
        optimizer, scheduler = solver.build_stage1_optimizer(self.cfg, model)
        world = comm.get_world_size()
        items = [(i, int(y), 0) for i, y in enumerate(labels.tolist())]
        seed = self.cfg.SEED if self.cfg.SEED >= 0 else None
        sampler = iter(NaiveIdentitySampler(items, s.IMS_PER_BATCH, self.cfg.DATALOADER.NUM_INSTANCE, seed=seed))
        iters = max(1, len(items) // s.IMS_PER_BATCH)
        logger.info("Stage 1: %d identities, %d images, %d epochs x %d iterations", model.num_classes, len(items),
                    s.MAX_EPOCH, iters)
        for epoch in tqdm(range(1, s.MAX_EPOCH + 1), desc="MUVA stage 1", disable=not comm.is_main_process()):
            scheduler.step(epoch)
            total, correct, seen = 0.0, 0, 0
            for _ in range(iters):
                batch_labels = labels[[next(sampler) for _ in range(s.IMS_PER_BATCH)]].to(model.device)
                # A PK batch repeats each identity K times and the text of an identity does not depend on the
                # image: encode each identity once and weight its loss by its count (same loss and gradient).
                uniq, counts = torch.unique(batch_labels, return_counts=True)
                text = encode_prompts(model.text_encoder, model.prompt_learner, uniq)
                loss = cmp_loss(text, centroids, uniq, s.TEMP, weights=counts)
                optimizer.zero_grad()
                loss.backward()
                if world > 1:  # each process drew its own identities: average the prompt gradients
                    torch.distributed.all_reduce(ctx.grad)
                    ctx.grad /= world
                optimizer.step()
                with torch.no_grad():
                    pred = (F.normalize(text, dim=1) @ centroids.t()).argmax(1)
                total += float(loss.detach()) * len(batch_labels)
                correct += int(((pred == uniq).long() * counts).sum())
                seen += len(batch_labels)
            if epoch == 1 or epoch % max(1, s.MAX_EPOCH // 10) == 0 or epoch == s.MAX_EPOCH:
                logger.info("Stage 1 epoch %d/%d: L_cmp %.4f, text->centroid accuracy %.1f%%, lr %.2e", epoch,
                            s.MAX_EPOCH, total / seen, 100.0 * correct / seen, optimizer.param_groups[0]["lr"])
        ctx.requires_grad_(False)

    @torch.no_grad()
    def build_text_memory(self) -> None:
        """TPM: the (frozen) multi-grained text feature of every identity."""
        model = unwrap_model(self.model)
        labels = torch.arange(model.num_classes, device=model.device)
        feats = [model.text_features(chunk) for chunk in labels.split(self.cfg.MODEL.MUVA.FEATURE_BATCH)]
        model.text_memory.copy_(torch.cat(feats))
        logger.info("Text memory (TPM): %s", tuple(model.text_memory.shape))

    @torch.no_grad()
    def rebuild_memory(self) -> None:
        model = unwrap_model(self.model)
        if "ImpLoss" not in model.loss_names:
            return
        if self._untrained_features is not None and self.iter == 0:
            # Before the first stage-2 step the image side is still the one stage 1 encoded (stage 1 trains only the
            # prompts): apply the BN neck (eval mode) to those features instead of a second pass over the set.
            feats, labels = self._untrained_features
            was_training = model.bottleneck.training
            model.bottleneck.eval()
            feats = model.bottleneck(feats.to(model.device)).cpu()
            model.bottleneck.train(was_training)
        else:
            feats, labels = self.extract_train_features(after_bn=True)
        self._untrained_features = None
        model.memory.reset(class_centroids(F.normalize(feats, dim=1), labels, model.num_classes).to(model.device))

    # ------------------------------------------------------------------------------------------------ testing
    @classmethod
    def load_for_eval(cls, cfg):
        """--eval-only: the number of identities (classifier, prompts) comes from the checkpoint when the config
        does not set MODEL.HEADS.NUM_CLASSES; the CLIP weights are not read (the checkpoint has them all)."""
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.BACKBONE.PRETRAIN = False
        if cfg.MODEL.HEADS.NUM_CLASSES <= 0:
            cfg.MODEL.HEADS.NUM_CLASSES = checkpoint_num_classes(cfg.MODEL.WEIGHTS)
        return super().load_for_eval(cfg)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_dir=None):
        """PluginTrainer's; with TEST.VIS.ENABLED, MUVA's figure is its part-mask one (test()), not the rank list of
        the Re-ID baselines."""
        loader, evaluator = super().build_evaluator(cfg, dataset_name, output_dir)
        evaluator.rank_list = False
        return loader, evaluator

    @classmethod
    def test(cls, cfg, model):
        results = super().test(cfg, model)
        if cfg.TEST.VIS.ENABLED and comm.is_main_process() and cfg.OUTPUT_DIR:
            from .visualize import save_part_mask_figures

            save_part_mask_figures(cfg, unwrap_model(model))
        return results
