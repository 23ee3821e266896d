"""Grounding backends behind one interface (backends.base.Backend): openai, hf, oracle, oracle-noisy, stripes."""
from __future__ import annotations

from ..parts import LABEL_BACKENDS as BACKENDS
from .base import Answers, Backend, PartAnswer, VLMBackend


def build_backend(name: str, settings, *, model: str = "", base_url: str = "", api_key_env: str = "OPENAI_API_KEY",
                  timeout: float = 60.0, max_retries: int = 5, max_tokens: int = 128, model_dir: str = "",
                  trust_remote_code: bool = False, device: str = "cpu", multi_box: str = "union",
                  json_coords: str = "pixels", plain_coords: str = "auto") -> Backend:
    """`settings`: a config.MaskSettings (image size, stripes and noise rates of the reference backends)."""
    parse = {"multi_box": multi_box, "json_coords": json_coords, "plain_coords": plain_coords}
    if name == "openai":
        from .vlm_openai import OpenAIBackend

        return OpenAIBackend(model, base_url=base_url or None, api_key_env=api_key_env, timeout=timeout,
                             max_retries=max_retries, max_tokens=max_tokens, **parse)
    if name == "hf":
        from .vlm_hf import HFBackend

        return HFBackend(model_dir, trust_remote_code=trust_remote_code, device=device, max_new_tokens=max_tokens,
                         **parse)
    from .reference import OracleBackend, StripesBackend

    if name == "oracle":
        return OracleBackend(settings.image_size)
    if name == "oracle-noisy":
        return OracleBackend(settings.image_size, settings.noise)
    if name == "stripes":
        return StripesBackend(settings.image_size, settings.calibration.stripes)
    raise ValueError(f"--backend {name!r}: expected one of {BACKENDS}")


__all__ = ["Answers", "Backend", "PartAnswer", "VLMBackend", "BACKENDS", "build_backend"]
