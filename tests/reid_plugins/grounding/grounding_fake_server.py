"""A loopback OpenAI-compatible grounding server for the tests (127.0.0.1, port 0, a thread of the test process).

Each request is identified by (sha1 of the image bytes, part); the test's `plan` maps an image hash to a scenario:

    cogvlm      200, CogVLM text "[[x0,y0,x1,y1]]" in 0-1000 coordinates (box from `boxes`)
    qwen        200, Qwen2.5-VL fenced JSON with bbox_2d in pixels
    garbage     200, a chat completion whose text holds no box (-> unparsed)
    malformed   200, a body that is not JSON
    flaky429    429 (Retry-After 10 ms) on the first attempt, then cogvlm
    flaky500    500 on the first attempt, then qwen
    slow        the first attempt answers after 1.5 s (past the client's timeout), then cogvlm
    down        always 500, its body echoing the request's Authorization header (must never reach a file / log)
    refused     always 401 (a wrong key: the run must stop at once)

The server counts and records every request, answers at most `max_requests`, and shuts itself down after
`max_seconds` whatever happens.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Tuple

PART_OF_PROMPT = {"head": "head", "upper body": "upper", "legs": "legs"}


def image_hash(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class FakeGroundingServer:
    def __init__(self, plan: Dict[str, str], boxes: Dict[str, Tuple[int, int, int, int]], image_wh=(128, 256),
                 max_requests: int = 400, max_seconds: float = 120.0):
        self.plan, self.boxes, self.image_wh = plan, boxes, image_wh
        self.max_requests = max_requests
        self.attempts: Counter = Counter()        # (image hash, part) -> requests
        self.log: List[dict] = []                 # every request: hash, part, status, model, auth
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(max_seconds, self.stop)
        self._timer.daemon = True

    def __enter__(self):
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests_for(self, h: str) -> int:
        return sum(1 for r in self.log if r["hash"] == h)

    # --- answers ----------------------------------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler):
        body = json.loads(req.rfile.read(int(req.headers.get("Content-Length", 0))))
        content = body["messages"][0]["content"]
        url = next(c["image_url"]["url"] for c in content if c["type"] == "image_url")
        prompt = next(c["text"] for c in content if c["type"] == "text")
        part = next(v for k, v in PART_OF_PROMPT.items() if f"the {k} of the person" in prompt)
        h = image_hash(base64.b64decode(url.split(",", 1)[1]))
        with self._lock:
            self.attempts[(h, part)] += 1
            attempt = self.attempts[(h, part)]
            over = len(self.log) >= self.max_requests
            entry = {"hash": h, "part": part, "attempt": attempt, "model": body.get("model"),
                     "auth": req.headers.get("Authorization", ""), "prompt": prompt}
            self.log.append(entry)
        scenario = "down" if over else self.plan.get(h, "cogvlm")
        status, payload, headers, delay = self._answer(scenario, part, attempt, entry["auth"])
        entry["status"] = status
        if delay:
            time.sleep(delay)
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json")
            for k, v in headers.items():
                req.send_header(k, v)
            req.send_header("Content-Length", str(len(payload)))
            req.end_headers()
            req.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (the "slow" scenario)
            pass

    def _answer(self, scenario: str, part: str, attempt: int, auth: str):
        if scenario == "flaky429" and attempt == 1:
            return 429, b'{"error": {"message": "rate limited"}}', {"retry-after-ms": "10"}, 0.0
        if scenario == "flaky500" and attempt == 1:
            return 500, b'{"error": {"message": "overloaded"}}', {"retry-after-ms": "10"}, 0.0
        if scenario == "down":
            msg = json.dumps({"error": {"message": f"backend down; request had Authorization: {auth}"}})
            return 500, msg.encode(), {"retry-after-ms": "10"}, 0.0
        if scenario == "refused":
            return 401, b'{"error": {"message": "invalid api key"}}', {}, 0.0
        if scenario == "malformed":
            return 200, b"<html>gateway says hi", {}, 0.0
        delay = 1.5 if scenario == "slow" and attempt == 1 else 0.0
        x0, y0, x1, y1 = self.boxes[part]
        W, H = self.image_wh
        if scenario in ("qwen", "flaky500"):
            text = f'```json\n[{{"bbox_2d": [{x0}, {y0}, {x1}, {y1}], "label": "{part}"}}]\n```'
        elif scenario == "garbage":
            text = "I am sorry, I cannot determine that."
        else:
            c = [round(1000 * v / s) for v, s in zip((x0, y0, x1, y1), (W, H, W, H))]
            text = f"The {part} of the person[[{c[0]:03d},{c[1]:03d},{c[2]:03d},{c[3]:03d}]]"
        completion = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "fake-grounder",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                   "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        return 200, json.dumps(completion).encode(), {}, delay
