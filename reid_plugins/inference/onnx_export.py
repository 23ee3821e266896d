"""ONNX export of a loaded model's inference path, checked against PyTorch with onnxruntime.

    image_encoder.onnx   images float32 [N, 3, H, W] (RGB, 0-255, H x W = INPUT.SIZE_TEST: the output of the test
                         transform, see export.json) -> features float32 [N, D], unit-norm rows: exactly
                         ReidModel.embed_batch, i.e. the project's evaluation feature (MUVA: CLIP ViT with part tokens,
                         the residual mask predictor of every layer and its gated AM-MSA masks; fast-reid's flip
                         averaging when TEST.FLIP.ENABLED)
    text_encoder.onnx    (BDAMT2I) input_ids, attention_mask int64 [N, MODEL.BDAM.TEXT.LENGTH] (the tokenizer's
                         output) -> features float32 [N, D], unit-norm rows, in the image features' space
    export.json          inputs, outputs, preprocessing (size, tokenizer length), the model, and the parity check:
                         max |onnxruntime - PyTorch| on random inputs at two batch sizes (must be <= 1e-4)

BDAM's fusion re-ranker (Mamba over the dual encoders' top-K pairs) is not exported: retrieval with the exported
encoders is the dual-encoder stage. Uses torch.onnx.export(dynamo=True) (onnxscript), dynamic batch size.
"""
from __future__ import annotations

import contextlib
import os
from typing import Dict, List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils.io import atomic_path, write_json_atomic

PARITY_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """The exported graph does not reproduce PyTorch's features."""


class ImageEncoder(nn.Module):
    def __init__(self, reid_model):
        super().__init__()
        self.model = reid_model.model
        self._features = reid_model.support.image_features
        self._cfg = reid_model.cfg

    def forward(self, images):
        return F.normalize(self._features(self.model, images, self._cfg).float(), dim=1)


class TextEncoder(nn.Module):
    def __init__(self, reid_model):
        super().__init__()
        self.model = reid_model.model
        self._features = reid_model.support.text_features

    def forward(self, input_ids, attention_mask):
        return F.normalize(self._features(self.model, input_ids, attention_mask).float(), dim=1)


@contextlib.contextmanager
def _without_text_cache(model):
    """BDAM's frozen text encoder keeps a Python dict of features keyed by token ids; the graph computes them."""
    encoder = getattr(model, "text_encoder", None)
    frozen = getattr(encoder, "freeze", False)
    if frozen:
        encoder.freeze = False
    try:
        yield
    finally:
        if frozen:
            encoder.freeze = True


def export_onnx(reid_model, out_dir: str, check_batches=(1, 3), seed: int = 0) -> Dict[str, str]:
    """Write image_encoder.onnx (+ text_encoder.onnx for text models) and export.json into out_dir; raise
    ExportError when onnxruntime's features differ from PyTorch's by more than PARITY_TOLERANCE."""
    os.makedirs(out_dir, exist_ok=True)
    reid_model.model.eval()
    h, w = reid_model.image_size
    gen = torch.Generator().manual_seed(seed)
    written, parity = {}, {}
    image_path = os.path.join(out_dir, "image_encoder.onnx")
    _export(ImageEncoder(reid_model), (torch.rand(2, 3, h, w, generator=gen) * 255,), ["images"], image_path)
    parity["image_encoder"] = _parity(ImageEncoder(reid_model), image_path,
                                      [(torch.rand(b, 3, h, w, generator=gen) * 255,) for b in check_batches],
                                      ["images"])
    written["image_encoder"] = image_path
    meta = {"image_encoder": {"inputs": {"images": ["N", 3, h, w]}, "outputs": {"features": ["N", "D"]},
                              "preprocessing": f"RGB image through the config's test transform (resize to {h}x{w} "
                                               f"as INPUT.SIZE_TEST), float 0-255, no normalisation (the graph "
                                               f"normalises with MODEL.PIXEL_MEAN / PIXEL_STD)"}}
    if reid_model.has_text:
        length = int(reid_model.cfg.MODEL.BDAM.TEXT.LENGTH)
        texts = ["a person in a red jacket", "a woman with a black bag and white shoes", "a man"]
        tokenizer = reid_model.support.tokenizer(reid_model.cfg)
        text_path = os.path.join(out_dir, "text_encoder.onnx")
        with _without_text_cache(reid_model.model):
            _export(TextEncoder(reid_model), tuple(tokenizer(texts[:2])), ["input_ids", "attention_mask"], text_path)
            parity["text_encoder"] = _parity(TextEncoder(reid_model), text_path,
                                             [tuple(tokenizer(texts[:b])) for b in (1, 3)],
                                             ["input_ids", "attention_mask"])
        written["text_encoder"] = text_path
        meta["text_encoder"] = {"inputs": {"input_ids": ["N", length], "attention_mask": ["N", length]},
                                "outputs": {"features": ["N", "D"]},
                                "preprocessing": f"BERT WordPiece tokenizer of the config (MODEL.BDAM.TEXT.VOCAB), "
                                                 f"[CLS] ... [SEP] padded / truncated to {length} tokens"}
    meta.update(model=reid_model.describe(), parity_max_abs_diff=parity, tolerance=PARITY_TOLERANCE)
    written["meta"] = os.path.join(out_dir, "export.json")
    write_json_atomic(written["meta"], meta, indent=1)
    bad = {k: v for k, v in parity.items() if v > PARITY_TOLERANCE}
    if bad:
        raise ExportError(f"onnxruntime differs from PyTorch by {bad} (max abs, tolerance {PARITY_TOLERANCE}); the "
                          f"files are in {out_dir} for inspection")
    return written


def _export(module: nn.Module, example: tuple, input_names: List[str], path: str) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad():
        program = torch.onnx.export(module.eval(), example, dynamo=True, input_names=input_names,
                                    output_names=["features"],
                                    dynamic_shapes={name: {0: batch} for name in input_names}, verbose=False)
    with atomic_path(path, ".onnx") as tmp:
        program.save(tmp)


def _parity(module: nn.Module, path: str, examples: List[tuple], input_names: List[str]) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    worst = 0.0
    for example in examples:
        got = session.run(None, {n: x.numpy() for n, x in zip(input_names, example)})[0]
        with torch.no_grad():
            expected = module(*example).numpy()
        if got.shape != expected.shape:
            raise ExportError(f"{path}: onnxruntime gives shape {got.shape}, PyTorch {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst
