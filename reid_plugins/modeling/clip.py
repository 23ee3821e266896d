"""CLIP image and text encoders for Re-ID, built with open_clip.

Model configurations are data (open_clip JSON files in `clip_configs/`, registered with `open_clip.add_model_config`):

- `ViT-B-16-reid`: OpenAI CLIP ViT-B/16 (QuickGELU, 512-d embedding, 12-layer 768-wide image tower, 12-layer 512-wide
  text tower, context 77) at the Re-ID input size 256x128: stride-16 patches on a 16x8 grid, so the image tower's
  positional embedding has 1 + 128 rows. 86.14M image-tower parameters.
- `ViT-T-16-reid`: the same code, tiny (2 image layers of width 128 with 4 heads, 2 text layers of width 128 with 4
  heads, 128-d embedding, GELU), for the embedded synthetic benchmark and tests.

Weights: `build_clip(arch, pretrain_path)` starts from open_clip's random initialisation and, when a path is given,
loads a local checkpoint (nothing is ever downloaded). Accepted checkpoint formats:

- OpenAI's original CLIP release (`ViT-B-16.pt`): a TorchScript archive. It is opened with
  `torch.jit.load(path, map_location="cpu")` and only its `state_dict()` is used (TorchScript cannot run arbitrary
  Python, unlike unpickling);
- a `.safetensors` file holding a CLIP state dict (open_clip names = OpenAI names);
- a torch file read with `torch.load(..., weights_only=True)`: a CLIP state dict, or a dict with that state dict under
  `state_dict` / `model` (open_clip training checkpoints); a leading `module.` is stripped.

A 224x224 checkpoint's 14x14 positional grid is interpolated (bilinear, as CLIP-ReID and MUVA do) to the model's grid.
The tokenizer is open_clip's BPE tokenizer (its vocabulary ships with the package, so it works offline).
"""
from __future__ import annotations

import contextlib
import logging
import os
import zipfile
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..utils.extras import require
from .vit import patch_grid, resize_pos_embed

logger = logging.getLogger(__name__)

CLIP_CONFIG_DIR = Path(__file__).resolve().parent / "clip_configs"
DEFAULT_ARCH = "ViT-B-16-reid"
# OpenAI TorchScript archives carry these scalars next to the weights.
_TORCHSCRIPT_EXTRAS = ("input_resolution", "context_length", "vocab_size")

__all__ = ["CLIP_CONFIG_DIR", "DEFAULT_ARCH", "CLIPWeightsError", "add_clip_config", "register_clip_configs",
           "build_clip", "build_clip_from_cfg", "clip_patch_grid", "load_clip_state_dict", "load_clip_weights", "get_tokenizer",
           "CLIPTextEncoder"]


class CLIPWeightsError(ValueError):
    """A CLIP checkpoint that cannot be read or does not fit the architecture."""


def add_clip_config(cfg) -> None:
    """MODEL.BACKBONE.CLIP_ARCH: open_clip architecture name (ours in clip_configs/ or any open_clip one).
    The weights come from fast-reid's MODEL.BACKBONE.PRETRAIN_PATH (empty: random initialisation)."""
    cfg.MODEL.BACKBONE.CLIP_ARCH = DEFAULT_ARCH


_registered = False


def _open_clip():
    return require("open_clip", "CLIP (reid_plugins.modeling.clip: MUVA, the zoo's CLIP models)")


def register_clip_configs() -> None:
    """Make the JSON configs in clip_configs/ known to open_clip (idempotent)."""
    global _registered
    if _registered:
        return
    open_clip = _open_clip()
    open_clip.add_model_config(CLIP_CONFIG_DIR)
    _registered = True


def _is_torchscript(path: str) -> bool:
    """TorchScript archives are zip files with a code/ folder and constants.pkl (torch.save zips have neither)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any(n.endswith("/constants.pkl") for n in names) or any("/code/" in n for n in names)


def load_clip_state_dict(path: str, key: str = "MODEL.BACKBONE.PRETRAIN_PATH") -> Dict[str, torch.Tensor]:
    """Read a CLIP state dict from one of the formats in the module docstring (CPU tensors, open_clip names)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{key}={path!r}: file not found; expected a local CLIP checkpoint (OpenAI TorchScript "
                                f".pt, .safetensors, or a torch state dict); nothing is downloaded")
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path, device="cpu")
        elif _is_torchscript(path):
            state = torch.jit.load(path, map_location="cpu").state_dict()
            state = {k: v for k, v in state.items() if k not in _TORCHSCRIPT_EXTRAS}
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (each reader raises its own types for corrupt / unsafe files)
        raise CLIPWeightsError(f"{key}={path!r}: cannot read it as a CLIP checkpoint ({type(e).__name__}: {e}). "
                               f"Accepted: OpenAI TorchScript .pt, .safetensors, torch state dict "
                               f"(weights_only)") from e
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CLIPWeightsError(f"{key}={path!r}: expected a dict of tensors (a CLIP state dict), got "
                               f"{type(state).__name__}")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def load_clip_weights(model: nn.Module, path: str, key: str = "MODEL.BACKBONE.PRETRAIN_PATH") -> None:
    """Load a checkpoint into an open_clip CLIP, resizing the image positional grid; every model tensor must be
    present with a matching shape, otherwise CLIPWeightsError names the file and the offending keys."""
    state = load_clip_state_dict(path, key)
    own = model.state_dict()
    pe_key = "visual.positional_embedding"
    if pe_key in state and pe_key in own and state[pe_key].shape != own[pe_key].shape:
        grid = tuple(model.visual.grid_size)
        logger.info("Resizing %s from %s to the %sx%s patch grid", pe_key, tuple(state[pe_key].shape), *grid)
        state[pe_key] = resize_pos_embed(state[pe_key], grid, num_extra_tokens=1)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise CLIPWeightsError(
            f"{key}={path!r} does not fit the CLIP architecture ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} mis-shaped tensors). Missing e.g. {missing[:4]}; unexpected e.g. {unexpected[:4]}; "
            f"mis-shaped e.g. {wrong[:3]}. Check MODEL.BACKBONE.CLIP_ARCH.")
    model.load_state_dict(state, strict=True)
    logger.info("Loaded CLIP weights from %s (%d tensors)", path, len(state))


def build_clip(arch: str = DEFAULT_ARCH, pretrain_path: str = "", image_size: Optional[Sequence[int]] = None,
               key: str = "MODEL.BACKBONE.PRETRAIN_PATH", device: str = "cpu") -> nn.Module:
    """open_clip CLIP of architecture `arch` (fp32), random init or weights from `pretrain_path`.

    image_size: (H, W) overriding the config's (the positional grid follows it). device "meta": shapes only (no
    memory, no initialisation; for parameter counts)."""
    open_clip = _open_clip()
    register_clip_configs()
    if arch not in open_clip.list_models():
        raise ValueError(f"MODEL.BACKBONE.CLIP_ARCH={arch!r} is not an open_clip architecture; ours are "
                         f"{sorted(p.stem for p in CLIP_CONFIG_DIR.glob('*.json'))}")
    kwargs = {"force_image_size": tuple(int(s) for s in image_size)} if image_size is not None else {}
    if str(device) == "meta":
        if pretrain_path:
            raise ValueError("a meta-device CLIP cannot load weights")
        with torch.device("meta"):
            return open_clip.create_model(arch, pretrained=None, load_weights=False, device="meta", **kwargs)
    with _without_random_init_warning() if pretrain_path else contextlib.nullcontext():
        model = open_clip.create_model(arch, pretrained=None, load_weights=False, device=device, **kwargs)
    if pretrain_path:
        load_clip_weights(model, pretrain_path, key)
    return model


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No pretrained weights loaded for model")


@contextlib.contextmanager
def _without_random_init_warning():
    """open_clip warns on the root logger that the model is "initialized randomly" whenever it loads no weights
    itself; when our own loader fills the weights on the next line, that warning is false."""
    root, drop = logging.getLogger(), _DropRandomInitWarning()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def clip_patch_grid(cfg) -> Tuple[int, int]:
    """(rows, cols): the patch grid of MODEL.BACKBONE.CLIP_ARCH's image tower on INPUT.SIZE_TRAIN (256x128 with
    16-pixel patches -> 16x8), read from the architecture's config without building the model. The one definition
    of the grid: the model is built on it and part masks are voted on it."""
    open_clip = _open_clip()
    register_clip_configs()
    arch = cfg.MODEL.BACKBONE.CLIP_ARCH
    config = open_clip.get_model_config(arch)
    if config is None:
        raise ValueError(f"MODEL.BACKBONE.CLIP_ARCH={arch!r} is not an open_clip architecture; ours are "
                         f"{sorted(p.stem for p in CLIP_CONFIG_DIR.glob('*.json'))}")
    return patch_grid(cfg.INPUT.SIZE_TRAIN, config["vision_cfg"]["patch_size"])


def build_clip_from_cfg(cfg) -> nn.Module:
    """CLIP for a fast-reid config: CLIP_ARCH, PRETRAIN_PATH (when PRETRAIN is on), INPUT.SIZE_TRAIN; MODEL.DEVICE
    "meta" builds shapes only."""
    path = cfg.MODEL.BACKBONE.PRETRAIN_PATH if cfg.MODEL.BACKBONE.PRETRAIN else ""
    meta = str(cfg.MODEL.DEVICE) == "meta"  # shapes only (parameter counting)
    model = build_clip(cfg.MODEL.BACKBONE.CLIP_ARCH, "" if meta else path, image_size=cfg.INPUT.SIZE_TRAIN,
                       device="meta" if meta else "cpu")
    grid = clip_patch_grid(cfg)
    if tuple(model.visual.grid_size) != grid:  # open_clip derives the same grid; a change there must not go unseen
        raise ValueError(f"INPUT.SIZE_TRAIN={list(cfg.INPUT.SIZE_TRAIN)} gives a {grid} patch grid but open_clip "
                         f"built a {tuple(model.visual.grid_size)} one")
    return model


def get_tokenizer(arch: str = DEFAULT_ARCH):
    """open_clip's tokenizer for `arch` (SimpleTokenizer, context 77 for the configs here)."""
    open_clip = _open_clip()
    register_clip_configs()
    return open_clip.get_tokenizer(arch)


class CLIPTextEncoder(nn.Module):
    """CLIP's text transformer applied to token *embeddings* (prompt learning: learnable vectors replace some
    tokens), pooled at the end-of-text position and projected. The token-embedding table itself is not part of this
    module (prompt learners embed their fixed tokens once)."""

    def __init__(self, clip_model: nn.Module):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.register_buffer("attn_mask", clip_model.attn_mask.clone(), persistent=False)

    @property
    def width(self) -> int:
        return int(self.positional_embedding.shape[1])

    @property
    def output_dim(self) -> int:
        proj = self.text_projection
        return int(proj.out_features if isinstance(proj, nn.Linear) else proj.shape[1])

    def forward(self, embeddings: torch.Tensor, eot_index: torch.Tensor) -> torch.Tensor:
        """embeddings [B, L, width] (L = context length), eot_index [B] -> [B, output_dim].

        Attention is causal, so the end-of-text feature only depends on the tokens up to it: the sequence is cut after
        the last end-of-text position (exactly the same result, a fraction of the cost for short prompts)."""
        n = int(eot_index.max()) + 1
        x = embeddings[:, :n] + self.positional_embedding[:n].to(embeddings.dtype)
        x = self.transformer(x, attn_mask=self.attn_mask[:n, :n])
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot_index]
        proj = self.text_projection
        return proj(x) if isinstance(proj, nn.Linear) else x @ proj
