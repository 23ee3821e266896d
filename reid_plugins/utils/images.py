"""Images as data: URLs, the form in which OpenAI-compatible chat servers accept image input (MLLM captioning and
VLM grounding both send them)."""
from __future__ import annotations

import base64
import mimetypes
import os


def image_data_url(path: str) -> str:
    """The image file as a base64 ``data:<mime>;base64,...`` URL; the MIME type comes from the extension."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist (check the image root and the entry's file path)")
    mime = mimetypes.guess_type(path)[0]
    if not mime or not mime.startswith("image/"):
        raise ValueError(f"image {path!r}: cannot tell its image type from the extension (expected .jpg/.png/...)")
    with open(path, "rb") as f:
        return f"data:{mime};base64,{base64.b64encode(f.read()).decode('ascii')}"
