"""The CLI end to end: a `generate` child process killed by SIGKILL mid-run, then resumed by
`python -m reid_plugins.captioning` (no finished image re-sent, counted at the server); the summary; bad input;
`validate`."""
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading

from captioning_fake_server import FakeChatServer, descriptions, image_digest
from captioning_fixtures import good_descriptions, index_of, make_dataset
from reid_plugins.captioning.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
KEY_ENV = "CAPTIONING_CLI_TEST_KEY"
SECRET = "sk-cli-secret-never-written-42"


def _cli(args, env_extra=None):
    env = dict(os.environ, PYTHONPATH=ROOT, HF_HUB_OFFLINE="1", **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-m", "reid_plugins.captioning", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _forked_cli(args, env_extra):
    # A forked child skips the interpreter start and `import reid_plugins` (seconds on a shared CPU). It is forked
    # while this process runs no other thread (the server's threads start afterwards).
    def run():
        os.environ.update(env_extra)
        os._exit(main(args))

    proc = multiprocessing.get_context("fork").Process(target=run, daemon=True)
    proc.start()
    return proc


def _journal_items(path):
    with open(path) as f:
        return [json.loads(line) for line in f if '"type": "item"' in line]


def test_killed_run_resumes_without_resending_finished_images(tmp_path):
    ann, digests = make_dataset(str(tmp_path), n=8, n_test=2)
    out = str(tmp_path / "out" / "described.json")
    journal = str(tmp_path / "out" / "described.journal.jsonl")
    hold_at = 4  # the 4th request is held until the client has been killed
    arrived, release = threading.Event(), threading.Event()
    phase = {"kill": True}

    def respond(body, n):
        rel = digests[image_digest(body)]
        reply = descriptions(*good_descriptions(index_of(rel)))
        if phase["kill"] and len(server.requests) == hold_at:
            arrived.set()
            reply.hold = release
        return reply

    args = ["generate", "--annotations", ann, "--output", out, "--no-styles", "--model", "test-model",
            "--api-key-env", KEY_ENV, "--workers", "1", "--no-progress"]
    server = FakeChatServer(respond, item_of=lambda b: digests.get(image_digest(b)), max_seconds=240)
    child = _forked_cli(args + ["--base-url", server.url], {KEY_ENV: SECRET})
    with server:
        try:
            assert arrived.wait(timeout=120), f"the child did not get to request {hold_at} (exit {child.exitcode})"
            finished_before_kill = [r["key"] for r in _journal_items(journal)]
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=30)
        finally:
            release.set()
            if child.is_alive():
                child.kill()
        assert child.exitcode == -signal.SIGKILL
        assert len(finished_before_kill) == hold_at - 1  # each finished image was journaled before the next request
        held = digests[image_digest(server.requests[hold_at - 1])]
        assert held not in finished_before_kill
        assert not os.path.exists(out)

        phase["kill"] = False
        proc = _cli(args + ["--base-url", server.url], {KEY_ENV: SECRET})
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr

    for rel in finished_before_kill:
        assert server.per_item[rel] == 1, f"{rel} was finished before the kill but sent again"
    assert server.per_item[held] == 2  # in flight at the kill: not finished, so sent again
    assert len(server.requests) == 8 + 1
    assert "generated 8, retried 0, rejected 0, unfinished 0 of 8 images" in stdout
    assert "this run: 5 finished, 3 already done, 0 failed, 5 HTTP requests" in stdout

    described = json.load(open(out))
    assert len(described) == 10
    for e in described:
        i = index_of(e["file_path"])
        if e["split"] == "train":
            assert (e["identity_description"], e["clothing_description"]) == good_descriptions(i)
        else:
            assert "identity_description" not in e  # only --splits train was described
    summary = json.load(open(str(tmp_path / "out" / "described.summary.json")))
    assert (summary["generated"], summary["rejected"], summary["this_run"]["skipped_as_done"]) == (8, 0, 3)
    assert len(_journal_items(journal)) == 8
    for path in (out, journal, str(tmp_path / "out" / "described.summary.json")):
        assert SECRET not in open(path).read()
    assert SECRET not in stdout + stderr


def test_bad_annotation_file_is_named_in_the_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"split": "train", "file_path": "a.png", "id": "seven", "captions": ["x"]}]))
    rc = main(["generate", "--annotations", str(bad), "--output", str(tmp_path / "o.json"), "--no-styles",
               "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and str(bad) in err and "entry 0" in err and "'id'" in err and "'seven'" in err
    assert not os.path.exists(tmp_path / "o.json")


def test_output_may_not_overwrite_the_input(tmp_path, capsys):
    ann, _ = make_dataset(str(tmp_path), n=2)
    before = open(ann).read()
    rc = main(["generate", "--annotations", ann, "--output", ann, "--no-styles", "--model", "m",
               "--base-url", "http://127.0.0.1:9/v1", "--no-progress"])
    assert rc == 1 and "is the input annotation file" in capsys.readouterr().err and open(ann).read() == before


def test_missing_images_fail_before_any_request(tmp_path, capsys):
    ann, digests = make_dataset(str(tmp_path), n=4)
    os.remove(os.path.join(str(tmp_path), "imgs/train/0002.png"))
    with FakeChatServer(lambda b, n: descriptions("x", "y")) as server:
        rc = main(["generate", "--annotations", ann, "--output", str(tmp_path / "o.json"), "--no-styles",
                   "--model", "m", "--base-url", server.url, "--no-progress"])
    assert rc == 1 and "1 of 4 images are missing" in capsys.readouterr().err
    assert server.requests == []


def test_unknown_config_key_is_named(tmp_path, capsys):
    ann, _ = make_dataset(str(tmp_path), n=2)
    rc = main(["validate", "--annotations", ann, "STYLE.NO_SUCH_KEY", "1"])
    assert rc == 1 and "NO_SUCH_KEY" in capsys.readouterr().err


def test_validate_reports_failing_descriptions(tmp_path, capsys):
    ann, _ = make_dataset(str(tmp_path), n=4)
    entries = json.load(open(ann))
    for i, e in enumerate(entries):
        e["identity_description"], e["clothing_description"] = good_descriptions(i)
    entries[1]["identity_description"] = "A tall man in a grey coat."  # clothing in the identity description
    entries[2]["clothing_description"] = "i cannot describe this"
    json.dump(entries, open(ann, "w"))
    report = tmp_path / "report.json"
    assert main(["validate", "--annotations", ann, "--report", str(report)]) == 0
    assert "4 described, 2 pass, 2 fail" in capsys.readouterr().out
    r = json.load(open(report))
    assert [p["code"] for p in r["problems"]["imgs/train/0001.png"]] == ["clothing_in_identity"]
    assert [p["code"] for p in r["problems"]["imgs/train/0002.png"]] == ["refusal"]
