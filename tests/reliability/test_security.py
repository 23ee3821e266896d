"""Security invariants of the whole repository.

- Every torch.load in the repository's Python passes weights_only=True (a pickled checkpoint can run code).
- trust_remote_code is never switched on by the package, projects or tools themselves: it is absent, False, or a
  value that comes from the user's --trust-remote-code flag (tests may pass True to check that plumbing).
- The captioning and grounding CLIs, run as real processes against loopback servers with an API key in the
  environment, send the key to the server and write it nowhere: not in any file they create (outputs, caches,
  journals, summaries, anything under HOME / TMPDIR) and not in their stdout / stderr logs, even when the server
  echoes the Authorization header back in its error messages.
"""
import ast
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from reliability_runs import REPO

sys.path.insert(0, os.path.join(REPO, "tests", "reid_plugins", "captioning"))
sys.path.insert(0, os.path.join(REPO, "tests", "reid_plugins", "grounding"))

from captioning_fake_server import FakeChatServer, Reply, descriptions, image_digest  # noqa: E402
from captioning_fixtures import good_descriptions, index_of, make_dataset  # noqa: E402
from grounding_fake_server import FakeGroundingServer, image_hash  # noqa: E402
from grounding_fixtures import HEAD, LEGS, UPPER  # noqa: E402

SKIP_DIRS = {"__pycache__", "logs", "datasets", "node_modules", "build", "dist"}
KEY_ENV = "RELIABILITY_TEST_API_KEY"
KEY = "sk-reliability-7d1e0c5a9b3f-never-on-disk"


def repository_python_files():
    for dirpath, dirnames, filenames in os.walk(REPO):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS
                       and not d.endswith(".egg-info")]
        for name in filenames:
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


def calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def is_torch_load(call, torch_load_names):
    f = call.func
    if isinstance(f, ast.Attribute) and f.attr == "load" and isinstance(f.value, ast.Name) and f.value.id == "torch":
        return True
    return isinstance(f, ast.Name) and f.id in torch_load_names


def torch_load_aliases(tree):
    """Names bound by `from torch import load [as x]`."""
    return {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "torch"
            for a in node.names if a.name == "load"}


def keyword(call, name):
    return next((k for k in call.keywords if k.arg == name), None)


def is_true(node):
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_loads_and_remote_code(source, path):
    """(torch.load calls without weights_only=True, trust_remote_code switched on by the code) as 'path:line'."""
    tree = ast.parse(source, path)
    aliases = torch_load_aliases(tree)
    loads, remote = [], []
    for call in calls(tree):
        if is_torch_load(call, aliases):
            kw = keyword(call, "weights_only")
            if kw is None or not is_true(kw.value):
                loads.append(f"{path}:{call.lineno}")
        kw = keyword(call, "trust_remote_code")
        if kw is not None and is_true(kw.value):
            remote.append(f"{path}:{call.lineno}")
    for node in ast.walk(tree):  # defaults: def f(..., trust_remote_code=True) and add_argument(default=True)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.args + node.args.kwonlyargs
            defaults = [None] * (len(node.args.args) - len(node.args.defaults)) + node.args.defaults \
                + node.args.kw_defaults
            for arg, default in zip(args, defaults):
                if arg.arg == "trust_remote_code" and default is not None and is_true(default):
                    remote.append(f"{path}:{node.lineno}")
    for call in calls(tree):
        if isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument" and any(
                isinstance(a, ast.Constant) and a.value == "--trust-remote-code" for a in call.args):
            action, default = keyword(call, "action"), keyword(call, "default")
            if not (action is not None and action.value.value == "store_true") or (default and is_true(default.value)):
                remote.append(f"{path}:{call.lineno}")
    return loads, remote


def test_the_scanner_finds_what_it_must():
    bad = ("import torch\nfrom torch import load as tl\n"
           "a = torch.load('x')\nb = torch.load('x', weights_only=False)\nc = tl('x', map_location='cpu')\n"
           "d = torch.load('x',\n    weights_only=True)\n"
           "m = Auto.from_pretrained('d', trust_remote_code=True)\n"
           "n = Auto.from_pretrained('d', trust_remote_code=args.trust_remote_code)\n"
           "def build(trust_remote_code=True):\n    pass\n"
           "p.add_argument('--trust-remote-code', action='store_false')\n")
    loads, remote = unsafe_loads_and_remote_code(bad, "bad.py")
    assert loads == ["bad.py:3", "bad.py:4", "bad.py:5"]
    assert remote == ["bad.py:8", "bad.py:10", "bad.py:12"]


def test_repository_loads_weights_only_and_never_trusts_remote_code_by_itself():
    files = list(repository_python_files())
    assert os.path.join(REPO, "reid_plugins", "engine", "checkpoint.py") in files
    loads, remote, n_loads = [], [], 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        n_loads += source.count("torch.load(")
        found = unsafe_loads_and_remote_code(source, os.path.relpath(path, REPO))
        loads += found[0]
        if not path.startswith(os.path.join(REPO, "tests") + os.sep):  # tests pass True to check the flag's plumbing
            remote += found[1]
    assert n_loads > 5  # the scan saw the repository's checkpoint loading
    assert loads == [], f"torch.load without weights_only=True: {loads}"
    assert remote == [], f"trust_remote_code switched on without the user's flag: {remote}"


def _isolated_env(tmp_path):
    home = tmp_path / "home"
    for sub in ("home", "tmp", "cache"):
        (tmp_path / sub).mkdir()
    return dict(os.environ, PYTHONPATH=REPO, HOME=str(home), TMPDIR=str(tmp_path / "tmp"),
                XDG_CACHE_HOME=str(tmp_path / "cache"), HF_HUB_OFFLINE="1", MPLBACKEND="Agg", **{KEY_ENV: KEY})


def _run_cli(module, args, env):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def _files_with_key(folder):
    hits, count = [], 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            count += 1
            with open(os.path.join(dirpath, name), "rb") as f:
                if KEY.encode() in f.read():
                    hits.append(os.path.join(dirpath, name))
    return hits, count


def test_cli_api_keys_reach_the_server_and_nothing_else(tmp_path):
    env = _isolated_env(tmp_path)

    # captioning: one image's server is down and echoes the Authorization header in its 500 body on every attempt,
    # so the request still fails after its retries and its error reaches the log and the summary's failed_items
    data = tmp_path / "captions"
    data.mkdir()
    ann, digests = make_dataset(str(data), n=3)
    down = next(d for d, key in digests.items() if index_of(key) == 0)

    def respond(body, n):
        if image_digest(body) == down:
            auth = server.headers[-1]["authorization"]  # workers 1: the request being answered
            echo = f'{{"error": {{"message": "proxy error; request had Authorization: {auth}"}}}}'
            return Reply(status=500, body=echo.encode(), headers={"retry-after-ms": "10"})
        return descriptions(*good_descriptions(index_of(digests[image_digest(body)])))

    with FakeChatServer(respond, item_of=lambda b: digests.get(image_digest(b))) as server:
        captioning = _run_cli("reid_plugins.captioning", [
            "generate", "--annotations", ann, "--output", str(data / "out" / "described.json"), "--no-styles",
            "--model", "test-model", "--base-url", server.url, "--api-key-env", KEY_ENV, "--max-retries", "2",
            "--workers", "1", "--no-progress"], env)
    assert captioning.returncode == 2, captioning.stderr[-3000:]  # one image unfinished
    assert {h["authorization"] for h in server.headers} == {f"Bearer {KEY}"} and len(server.headers) == 3 + 2
    summary = (data / "out" / "described.summary.json").read_text()
    assert "request had Authorization: Bearer ***" in summary  # the echo is stored under failed_items, scrubbed

    # grounding: one image's server is down and echoes the header in every error; the others answer
    images = tmp_path / "grounding" / "imgs"
    images.mkdir(parents=True)
    plan = {}
    for i in range(3):
        path = images / f"{i:04d}.jpg"
        Image.fromarray(np.full((256, 128, 3), 40 * i + 30, np.uint8)).save(path)
        plan[image_hash(path.read_bytes())] = "down" if i == 0 else "cogvlm"
    with FakeGroundingServer(plan, {"head": HEAD, "upper": UPPER, "legs": LEGS}) as gserver:
        grounding = _run_cli("reid_plugins.grounding", [
            "label", "--images", str(images), "--backend", "openai", "--model", "fake-grounder", "--base-url",
            gserver.url, "--api-key-env", KEY_ENV, "--timeout", "5", "--max-retries", "1", "--workers", "1",
            "--visualize", "2", "--max-failed-fraction", "0.5"], env)
    assert grounding.returncode == 0, grounding.stderr[-3000:]
    assert {r["auth"] for r in gserver.log} == {f"Bearer {KEY}"}
    assert sorted(r["status"] for r in gserver.log) == [200] * 6 + [500] * 6  # down: 3 parts x (1 + 1 retry)

    hits, count = _files_with_key(str(tmp_path))
    assert count >= 8  # outputs, journals, summaries, caches and the PNG were all scanned
    assert hits == []
    for proc in (captioning, grounding):
        assert KEY not in proc.stdout + proc.stderr
        assert "Authorization: Bearer ***" in proc.stdout + proc.stderr  # the echo was logged, scrubbed
