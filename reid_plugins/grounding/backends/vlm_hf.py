"""`hf` backend: a local transformers image-text-to-text model directory (Qwen2.5-VL, LLaVA, InternVL-hf, ...).

Loaded with AutoProcessor / AutoModelForImageTextToText from the directory only (local_files_only, nothing is
downloaded); `trust_remote_code` only when the user passes --trust-remote-code (CogVLM's checkpoints need it and a
generic chat template does not fit them: serve CogVLM behind an OpenAI-compatible server and use `openai`).
Each part: the processor's chat template with one image and the paper's prompt, greedy decoding, the new tokens
decoded and parsed. `model` / `processor` objects may be passed directly (tests, models already in memory).
"""
from __future__ import annotations

import os
from typing import Tuple

from PIL import Image

from ...utils.extras import require
from ..parts import PARTS, PROMPTS
from .base import Answers, VLMBackend, check_image


class HFBackend(VLMBackend):
    name = "hf"

    def __init__(self, model_dir: str = "", trust_remote_code: bool = False, device: str = "cpu",
                 max_new_tokens: int = 64, model=None, processor=None, **parse_options):
        super().__init__(**parse_options)
        self.model_dir = model_dir
        if model is None or processor is None:
            if not model_dir or not os.path.isdir(model_dir):
                raise FileNotFoundError(f"--model-dir {model_dir!r} is not a directory (a transformers model saved "
                                        f"with save_pretrained: config.json, weights, processor files)")
            transformers = require("transformers", "The grounding backend 'hf'")
            processor = transformers.AutoProcessor.from_pretrained(model_dir, trust_remote_code=trust_remote_code,
                                                                   local_files_only=True)
            model = transformers.AutoModelForImageTextToText.from_pretrained(
                model_dir, trust_remote_code=trust_remote_code, local_files_only=True)
            model = model.to(device).eval()
        if getattr(processor, "chat_template", None) is None:
            raise ValueError(f"the processor of {model_dir or type(model).__name__!r} has no chat template, so the "
                             f"image and prompt cannot be laid out generically; use a chat model's directory or serve "
                             f"the model behind an OpenAI-compatible server (--backend openai)")
        self.model, self.processor = model, processor
        self.device = device
        self.max_new_tokens = int(max_new_tokens)

    @property
    def backend_id(self) -> str:
        return f"hf:{os.path.basename(os.path.normpath(self.model_dir)) or type(self.model).__name__}"

    def ask(self, image: Image.Image, prompt: str) -> str:
        import torch

        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(text=[text], images=[image], return_tensors="pt")
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = out[:, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()

    def ground(self, image_path: str) -> Tuple[Tuple[int, int], Answers]:
        check_image(image_path)
        with Image.open(image_path) as im:
            image = im.convert("RGB")
        return image.size, {p: self.parse(self.ask(image, PROMPTS[p]), image.size) for p in PARTS}
