"""`openai` backend: any OpenAI-compatible chat-completions server with image input (vLLM, LMDeploy, Ollama, SGLang
serving CogVLM, Qwen2.5-VL, InternVL, ...).

One request per (image, part): the image as a base64 data URL and the paper's prompt, temperature 0. Transport
retries (429 / 5xx / timeouts / connection errors, exponential backoff with jitter, Retry-After honoured) are the
`openai` package's own, through reid_plugins.utils.mllm_client.MLLMClient, which also counts the HTTP requests
really sent. A part whose request still fails is returned as parser "error" (the run falls back to the calibrated
stripe and reports it); a refused key / unknown model stops the run (every image would fail the same way).
The API key comes from the environment variable named by `api_key_env`; error texts are scrubbed of it
(reid_plugins.utils.redaction, shared with the captioning CLI) before they are stored or logged.
"""
from __future__ import annotations

import threading
from typing import Optional, Tuple

from ...utils.extras import require
from ...utils.images import image_data_url
from ...utils.mllm_client import FATAL_ERRORS, MalformedResponse, MLLMClient
from ...utils.redaction import redact
from ..parts import PARTS, PROMPTS
from .base import Answers, PartAnswer, VLMBackend, check_image, image_size

openai = require("openai", "The grounding backend 'openai'")


class OpenAIBackend(VLMBackend):
    name = "openai"
    concurrent = True

    def __init__(self, model: str, base_url: Optional[str] = None, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 60.0, max_retries: int = 5, max_tokens: int = 128, **parse_options):
        super().__init__(**parse_options)
        self.api_key_env = api_key_env
        self.client = MLLMClient(model, base_url=base_url, api_key_env=api_key_env, timeout=timeout,
                                 max_retries=max_retries)
        self.model = model
        self.max_tokens = int(max_tokens)
        self.calls = 0  # logical requests (one per part); client.requests_sent - calls = transport retries
        self._lock = threading.Lock()

    @property
    def backend_id(self) -> str:
        return f"openai:{self.model}"

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent

    def ground(self, image_path: str) -> Tuple[Tuple[int, int], Answers]:
        check_image(image_path)
        wh = image_size(image_path)
        url = image_data_url(image_path)
        out = {}
        for part in PARTS:
            messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                     {"type": "text", "text": PROMPTS[part]}]}]
            with self._lock:
                self.calls += 1
            try:
                reply = self.client.chat(messages, temperature=0.0, max_tokens=self.max_tokens)
            except FATAL_ERRORS:
                raise
            except (openai.APIError, MalformedResponse) as e:
                out[part] = PartAnswer(None, "error", error=redact(f"{type(e).__name__}: {e}")[:300])
                continue
            out[part] = self.parse(reply.text, wh)
        return wh, out

    def close(self) -> None:
        self.client.close()
