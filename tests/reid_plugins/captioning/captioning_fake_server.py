"""A real HTTP server in the test process that answers like an OpenAI-compatible chat-completions endpoint.

Binds 127.0.0.1 port 0. `respond(body, n)` decides each answer (n = how many requests the same item has had,
counting this one); the server records every request, serves at most `max_requests`, and shuts itself down after
`max_seconds` whatever happens.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: Dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow server)
    hold: Optional[threading.Event] = None  # wait for this event (bounded) before answering


def completion(content: Optional[str], finish_reason: str = "stop", refusal: Optional[str] = None) -> Reply:
    msg = {"role": "assistant", "content": content}
    if refusal is not None:
        msg["refusal"] = refusal
    body = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "test-model",
            "choices": [{"index": 0, "message": msg, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    return Reply(body=json.dumps(body).encode())


def descriptions(identity: str, clothing: str) -> Reply:
    return completion(json.dumps({"identity_description": identity, "clothing_description": clothing}))


def error(status: int, headers: Optional[Dict[str, str]] = None) -> Reply:
    body = json.dumps({"error": {"message": f"test error {status}", "type": "test", "code": status}}).encode()
    return Reply(status=status, body=body, headers=headers or {})


def image_digest(body: dict) -> Optional[str]:
    """sha1 of the image bytes sent in the request (None for text-only requests)."""
    for m in body.get("messages", []):
        if isinstance(m.get("content"), list):
            for part in m["content"]:
                if part.get("type") == "image_url":
                    b64 = part["image_url"]["url"].split(",", 1)[1]
                    return hashlib.sha1(base64.b64decode(b64)).hexdigest()
    return None


def all_text(body: dict) -> str:
    out = []
    for m in body.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out += [p["text"] for p in c if p.get("type") == "text"]
    return "\n".join(out)


class FakeChatServer:
    def __init__(self, respond: Callable[[dict, int], Reply], item_of: Callable[[dict], str] = image_digest,
                 max_requests: int = 200, max_seconds: float = 120.0):
        self.respond = respond
        self.item_of = item_of
        self.max_requests = max_requests
        self.requests: List[dict] = []
        self.headers: List[Dict[str, str]] = []
        self.per_item: Counter = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    key = server.item_of(body)
                    server.per_item[key] += 1
                    n, total = server.per_item[key], len(server.requests)
                reply = server.respond(body, n) if total <= server.max_requests else error(503)
                if reply.hold is not None:
                    reply.hold.wait(timeout=60)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout) or was killed

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._watchdog = threading.Timer(max_seconds, self.stop)
        self._watchdog.daemon = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "FakeChatServer":
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self) -> None:
        self._watchdog.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FakeChatServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
