"""load_model(config_file, weights, opts): a trained model of any meta-architecture here, as an embedding function.

    model = load_model("configs/MUVA/Synth/MUVA_tiny_A.yml", "logs/synth/muva_tiny_A/model_final.pth")
    feats = model.embed_images(["a.jpg", "b.jpg"])         # float32 [2, D], rows L2-normalised
    model = load_model("configs/BDAM_T2I/Synth-T2I.yml", "logs/.../model_final.pth")
    texts = model.embed_texts(["a man in a red jacket"])    # same space as BDAM's image embeddings

The model is built and loaded exactly as the project's `--eval-only` does (its trainer's `load_for_eval`: no
pretrained backbone read, number of identities from the checkpoint, PluginCheckpointer: weights_only, refuses the
checkpoint of another model), and an image goes through the project's own test transform (INPUT.SIZE_TEST, the
project's interpolation, fast-reid's 0-255 ToTensor; the model normalises with MODEL.PIXEL_MEAN / PIXEL_STD).
The feature is what the project's evaluation computes, L2-normalised:

    Baseline (fast-reid)  model(images) (MODEL.HEADS.NECK_FEAT), averaged with the mirrored image's when
                          TEST.FLIP.ENABLED (fast-reid's inference_on_dataset), as the cosine evaluator sees it
    MUVA                  the same (MODEL.MUVA.TEST_AFTER_BN picks the BN'd or raw concatenation; predicted AM-MSA masks)
    BDAMT2I               encode_image(...)["img_emb"] / encode_text(...)["txt_emb"] (no flip: BDAM's test has none)

tests/reid_plugins/inference/test_inference_model.py runs each project's test loader through fast-reid's
inference_on_dataset and checks these features against it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..projects import PROJECTS, config_adders, config_meta_architecture, import_project


class UnsupportedModelError(ValueError):
    """The config's meta-architecture is not one reid_plugins.inference knows how to apply."""


class NoTextEncoderError(ValueError):
    """A text query (embed_texts, search --text) for a model without a text side."""


def _baseline_transform(cfg):
    from fastreid.data.transforms import build_transforms

    return build_transforms(cfg, is_train=False)


def _muva_transform(cfg):
    from muva.data import test_transforms

    return test_transforms(cfg)


def _forward_features(model, images: torch.Tensor, flip: bool) -> torch.Tensor:
    """fast-reid's inference_on_dataset: model(images), averaged with the mirrored images' when flip-testing."""
    out = model(images)
    if flip:
        out = (out + model(images.flip(dims=[3]))) / 2
    return out


@dataclass(frozen=True)
class Support:
    """How one meta-architecture is loaded, preprocessed and embedded."""

    trainer: Callable[[], type]  # the class whose load_for_eval the project's --eval-only uses
    image_transform: Callable  # cfg -> PIL -> float [3, H, W] in 0-255
    image_features: Callable  # (model, images [N, 3, H, W] 0-255, cfg) -> [N, D]
    text_features: Optional[Callable] = None  # (model, input_ids, attention_mask) -> [N, D]
    tokenizer: Optional[Callable] = None  # cfg -> callable(texts) -> (ids, mask)
    eval_only_opts: Sequence[str] = ()  # as tools/train_net.py: no ImageNet weights before MODEL.WEIGHTS


def _plugin_trainer():
    from ..engine import PluginTrainer

    return PluginTrainer


SUPPORTED = {
    "Baseline": Support(
        trainer=_plugin_trainer, image_transform=_baseline_transform,
        image_features=lambda model, x, cfg: _forward_features(model, x, cfg.TEST.FLIP.ENABLED),
        eval_only_opts=("MODEL.BACKBONE.PRETRAIN", False)),
    "MUVA": Support(
        trainer=lambda: import_project("MUVA").MUVATrainer, image_transform=_muva_transform,
        image_features=lambda model, x, cfg: _forward_features(model, x, cfg.TEST.FLIP.ENABLED)),
    "BDAMT2I": Support(
        trainer=lambda: import_project("BDAMT2I").BDAMTrainer, image_transform=_baseline_transform,
        image_features=lambda model, x, cfg: model.encode_image(x)["img_emb"],
        text_features=lambda model, ids, mask: model.encode_text(ids, mask)["txt_emb"],
        tokenizer=lambda cfg: import_project("BDAMT2I").data.build_tokenizer(cfg)),
}


def check_supported(meta_architecture: str) -> Support:
    if meta_architecture not in SUPPORTED:
        raise UnsupportedModelError(
            f"MODEL.META_ARCHITECTURE={meta_architecture!r} is not supported by reid_plugins.inference; supported: "
            f"{sorted(SUPPORTED)} (fast-reid's Baseline and the projects {sorted(PROJECTS)})")
    return SUPPORTED[meta_architecture]


def load_model(config_file: str, weights: str, opts: Sequence[str] = ()) -> "ReidModel":
    """Build the config's model (its project found from MODEL.META_ARCHITECTURE) and load `weights` into it."""
    from ..config import build_cfg

    user_opts = [str(o) for o in opts]
    meta = config_meta_architecture(config_file, user_opts)
    support = check_supported(meta)
    if not weights:
        raise ValueError(f"no weights given for {config_file!r}: pass the checkpoint of the trained model "
                         "(MODEL.WEIGHTS path/to/model_final.pth); a randomly initialised model embeds nothing useful")
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"weights file {weights!r} does not exist")
    opts = user_opts + list(support.eval_only_opts) + ["MODEL.WEIGHTS", weights]
    cfg = build_cfg(config_file, opts, config_adders(config_file, opts))
    cfg.freeze()
    model = support.trainer().load_for_eval(cfg)
    model.eval()
    return ReidModel(cfg, model, support, config_file=config_file, weights=weights, opts=user_opts)


class ReidModel:
    """A loaded model in eval mode. embed_images / embed_texts give float32 numpy arrays with unit-norm rows."""

    def __init__(self, cfg, model, support: Support, config_file: str = "", weights: str = "",
                 opts: Sequence[str] = ()):
        self.cfg, self.model, self.support = cfg, model, support
        self.config_file, self.weights, self.opts = config_file, weights, list(opts)
        self.meta_architecture = cfg.MODEL.META_ARCHITECTURE
        self.transform = support.image_transform(cfg)
        self.image_size = tuple(int(s) for s in cfg.INPUT.SIZE_TEST)
        self._tokenizer = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def has_text(self) -> bool:
        return self.support.text_features is not None

    # ------------------------------------------------------------------------------------------------ images
    def preprocess(self, image) -> torch.Tensor:
        """One image (path, PIL image, HWC uint8 array, or a [3, H, W] 0-255 tensor at INPUT.SIZE_TEST) -> the model's
        input [3, H, W], float 0-255, exactly as the project's test loader makes it."""
        from PIL import Image

        if isinstance(image, (str, os.PathLike)):
            from fastreid.data.data_utils import read_image  # RGB, errors name the file (reid_plugins.compat)

            image = read_image(os.fspath(image))
        elif isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"a numpy image must be HxWx3 uint8 RGB, got shape {image.shape} {image.dtype}")
            image = Image.fromarray(image)
        elif isinstance(image, torch.Tensor):
            return self._check_tensor(image.unsqueeze(0) if image.dim() == 3 else image)[0]
        if not isinstance(image, Image.Image):
            raise TypeError(f"an image must be a path, a PIL image, a HxWx3 uint8 array or a [3, H, W] tensor, got "
                            f"{type(image).__name__}")
        return self.transform(image.convert("RGB"))

    def _check_tensor(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != self.image_size:
            raise ValueError(f"image tensors must be [N, 3, {self.image_size[0]}, {self.image_size[1]}] (INPUT."
                             f"SIZE_TEST, values 0-255 as fast-reid's ToTensor gives), got {tuple(images.shape)}; "
                             f"pass paths or PIL images to have them resized by the config's test transform")
        return images.float()

    @torch.no_grad()
    def embed_batch(self, images: torch.Tensor) -> np.ndarray:
        """Preprocessed images [N, 3, H, W] -> float32 [N, D], rows L2-normalised."""
        images = self._check_tensor(images).to(self.device)
        feats = self.support.image_features(self.model, images, self.cfg)
        return F.normalize(feats.float(), dim=1).cpu().numpy()

    def embed_images(self, images, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Paths, PIL images, HxWx3 uint8 arrays or tensors ([N, 3, H, W] or [3, H, W], at INPUT.SIZE_TEST, 0-255)
        -> float32 [N, D] with L2-normalised rows. An unreadable file raises OSError naming it."""
        if isinstance(images, torch.Tensor) and images.dim() == 4:
            items: List = list(images)
        elif isinstance(images, (str, os.PathLike, torch.Tensor, np.ndarray)) or not isinstance(images, Sequence):
            items = [images]
        else:
            items = list(images)
        if not items:
            raise ValueError("embed_images got no images")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        from tqdm import tqdm

        out = []
        bar = tqdm(total=len(items), desc="embedding images", unit="img", disable=not progress)
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            out.append(self.embed_batch(torch.stack([self.preprocess(x) for x in chunk])))
            bar.update(len(chunk))
        bar.close()
        return np.concatenate(out)

    # ------------------------------------------------------------------------------------------------ texts
    def check_text(self) -> None:
        if not self.has_text:
            raise NoTextEncoderError(
                f"{self.meta_architecture} ({self.config_file or 'this config'}) has no text encoder for free text: "
                f"text queries need a text-to-image model ({[m for m, s in SUPPORTED.items() if s.text_features]})")

    @torch.no_grad()
    def embed_texts(self, texts, batch_size: int = 128) -> np.ndarray:
        """Strings -> float32 [N, D] with L2-normalised rows, tokenised as the config says (MODEL.BDAM.TEXT.LENGTH,
        VOCAB)."""
        self.check_text()
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("embed_texts got no texts")
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if bad:
            raise ValueError(f"texts must be non-empty strings; entries {bad[:5]} are not")
        if self._tokenizer is None:
            self._tokenizer = self.support.tokenizer(self.cfg)
        out = []
        for start in range(0, len(texts), batch_size):
            ids, mask = self._tokenizer(texts[start:start + batch_size])
            feats = self.support.text_features(self.model, ids.to(self.device), mask.to(self.device))
            out.append(F.normalize(feats.float(), dim=1).cpu().numpy())
        return np.concatenate(out)

    def describe(self) -> dict:
        """What a feature file records about the model that made it (so that search can embed its queries)."""
        return {"meta_architecture": self.meta_architecture, "config_file": os.path.abspath(self.config_file)
                if self.config_file else "", "weights": os.path.abspath(self.weights) if self.weights else "",
                "opts": list(self.opts), "image_size": list(self.image_size), "has_text": self.has_text}
