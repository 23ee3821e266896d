"""The openai backend end to end through the CLI against a loopback server: formats, retries, fallbacks, resume,
and the API key never written or logged."""
import json
import logging
import os

import pytest
from grounding_fake_server import FakeGroundingServer, image_hash
from grounding_fixtures import HEAD, LEGS, PERSON, UPPER, mask_cfg, rows_cols, write_domain

from reid_plugins.grounding import PROMPTS, PartMaskProvider
from reid_plugins.grounding.cache import JOURNAL_FILE, MASKS_FILE, read_mask_cache
from reid_plugins.grounding.cli import build_parser, main, run_label

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

KEY_ENV = "GROUNDING_TEST_KEY"
KEY = "sk-test-4f9a1c77e2b0d5-do-not-leak"
BOXES = {"head": HEAD, "upper": UPPER, "legs": LEGS}
PLAN = ["cogvlm", "cogvlm", "cogvlm", "cogvlm", "qwen", "garbage", "malformed", "flaky429", "flaky500", "slow",
        "down", "cogvlm"]


def make_synth_dataset(root, n):
    """A registered-dataset-shaped folder (SynthPedA) with n training images; returns the training paths."""
    entries = {f"{k + 1:04d}_c{k % 2 + 1}s1_{k:06d}_00.jpg": {"head": HEAD, "upper": UPPER, "legs": LEGS,
                                                             "person": PERSON} for k in range(n)}
    paths = write_domain(root, "domain_A", entries)
    for split, color in (("query", (10, 10, 10)), ("bounding_box_test", (20, 20, 20))):
        write_domain(root, "domain_A", {"0001_c2s1_000100_00.jpg": entries[next(iter(entries))]}, split, color)
    with open(os.path.join(root, "synthped", "manifest.json"), "w") as f:
        json.dump({"complete": True}, f)
    with open(os.path.join(root, "synthped", "domain_A", "domain.json"), "w") as f:
        json.dump({}, f)
    return paths


def hashes(paths):
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(image_hash(f.read()))
    return out


def label_argv(root, server, *extra):
    return ["label", "--dataset", "SynthPedA", "--root", root, "--backend", "openai", "--model", "fake-grounder",
            "--base-url", server.url, "--api-key-env", KEY_ENV, "--timeout", "0.5", "--max-retries", "2", "--quiet",
            *extra]


def files_under(folder):
    for dirpath, _, files in os.walk(folder):
        for f in files:
            yield os.path.join(dirpath, f)


def test_openai_backend_end_to_end(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    root = str(tmp_path / "data")
    paths = make_synth_dataset(root, len(PLAN))
    hs = hashes(paths)
    assert len(set(hs)) == len(hs)
    caplog.set_level(logging.DEBUG)
    with FakeGroundingServer(dict(zip(hs, PLAN)), BOXES) as server:
        # 2 of 12 images fail (malformed, down): accepted as stripes up to a fifth
        assert main(label_argv(root, server, "--workers", "3", "--visualize", "4",
                               "--max-failed-fraction", "0.2")) == 0
        out = capsys.readouterr()
        summary = json.load(open(os.path.join(root, "part_masks", "SynthPedA", "summary.json")))
        # retries: 429 / 500 / timeout once per part (3 x 3), "down" twice per part (6); 12 images x 3 parts asked
        assert summary["retries"] == 15 and summary["http_requests"] == 12 * 3 + 15
        assert summary["failed_images"] == 2 and summary["failed_parts"] == 6  # malformed + down
        assert summary["parsers"]["legs"] == {"cogvlm": 7, "qwen_json": 2, "unparsed": 1, "error": 2}
        assert summary["replacements"]["head"] == {"kept": 9, "missing": 3, "too_small": 0, "too_large": 0}
        assert summary["calibration_rate"] == {"head": 0.25, "upper": 0.25, "legs": 0.25}
        assert "HTTP requests 51 (retries 15)" in out.out and "failed images (parts fall back to calibrated " \
            "stripes): 2 of 12 (6 parts)" in out.out
        assert {r["prompt"] for r in server.log} == set(PROMPTS.values())
        assert PROMPTS["upper"] == ("Guide me to the location of the upper body of the person within the image by "
                                    "providing its bounding boxes")
        assert {r["model"] for r in server.log} == {"fake-grounder"} and {r["auth"] for r in server.log} == {
            f"Bearer {KEY}"}

        provider = PartMaskProvider.from_config(mask_cfg(root, backend="cache"), ["SynthPedA"])
        for i in (0, 4, 7, 8, 9):  # cogvlm / qwen / after retries: the same patches as the true boxes
            m = provider(paths[i])
            assert rows_cols(m[0]) == ([1, 2], [3, 4]) and rows_cols(m[2]) == (list(range(8, 15)), [2, 3, 4, 5]), i
        for i in (5, 6, 10):  # unparsed / malformed / down: the top third (too few boxes to fit a stripe)
            assert provider(paths[i])[0].reshape(16, 8)[:5].all() and provider(paths[i])[0].sum() == 40
        cache = read_mask_cache(os.path.join(root, "part_masks", "SynthPedA", MASKS_FILE))
        assert cache.header["backend_id"] == "openai:fake-grounder"
        assert f"--base-url {server.url} --api-key-env {KEY_ENV}" in cache.header["command"]
        png = os.path.join(root, "part_masks", "SynthPedA", "visualize.png")
        assert open(png, "rb").read(4) == b"\x89PNG"

        # rerun: only the two failed images are asked again, and now they answer
        server.plan.update({hs[6]: "cogvlm", hs[10]: "qwen"})
        before = len(server.log)
        assert main(label_argv(root, server)) == 0
        asked = server.log[before:]
        assert sorted({r["hash"] for r in asked}) == sorted({hs[6], hs[10]}) and len(asked) == 6
        summary = json.load(open(os.path.join(root, "part_masks", "SynthPedA", "summary.json")))
        assert summary["failed_images"] == 0 and summary["reused_from_journal"] == 10
        assert summary["parsers"]["head"] == {"cogvlm": 8, "qwen_json": 3, "unparsed": 1}

    # the key: sent to the server, never written under the dataset root, never printed or logged
    for path in files_under(str(tmp_path)):
        with open(path, "rb") as f:
            assert KEY.encode() not in f.read(), path
    text = out.out + out.err + capsys.readouterr().err + caplog.text
    assert KEY not in text
    assert "request had Authorization: Bearer ***" in caplog.text  # the echoed error was logged, scrubbed


def test_interrupted_run_resumes_without_asking_again(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    root = str(tmp_path / "data")
    paths = make_synth_dataset(root, 8)
    hs = hashes(paths)
    out_dir = os.path.join(root, "part_masks", "SynthPedA")
    with FakeGroundingServer({h: "cogvlm" for h in hs}, BOXES) as server:
        done = []

        def stop_after_three(relpath):
            done.append(relpath)
            if len(done) == 3:
                raise KeyboardInterrupt

        args = build_parser().parse_args(label_argv(root, server, "--workers", "1"))
        with pytest.raises(KeyboardInterrupt):
            run_label(args, on_image=stop_after_three)
        assert not os.path.exists(os.path.join(out_dir, MASKS_FILE))
        with open(os.path.join(out_dir, JOURNAL_FILE)) as f:
            first_run = len(f.readlines())
        # the hook fired after the 3rd image; with one worker no 4th request had been sent
        assert first_run == 3 and len({r["hash"] for r in server.log}) == 3

        assert main(label_argv(root, server, "--workers", "2")) == 0
        assert {h: server.requests_for(h) for h in hs} == {h: 3 for h in hs}  # nobody asked twice
        journaled = [json.loads(line)["relpath"] for line in open(os.path.join(out_dir, JOURNAL_FILE))]
        assert len(journaled) == 8 and len(set(journaled)) == 8
        summary = json.load(open(os.path.join(out_dir, "summary.json")))
        assert summary["reused_from_journal"] == first_run and summary["requested_now"] == 8 - first_run
        masks = PartMaskProvider.from_config(mask_cfg(root, backend="cache"), ["SynthPedA"]).masks(paths)
        assert masks.shape == (8, 3, 128) and (masks[:, 0].sum(1) == 4).all()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_refused_key_stops_the_run(tmp_path, monkeypatch, capsys, workers):
    monkeypatch.setenv(KEY_ENV, KEY)
    root = str(tmp_path / "data")
    paths = make_synth_dataset(root, 6)
    with FakeGroundingServer({h: "refused" for h in hashes(paths)}, BOXES) as server:
        assert main(label_argv(root, server, "--workers", str(workers))) == 2
        # no retries on 401, and no image is sent after it: only the `workers` requests already running
        assert len(server.log) == workers
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "--api-key-env" in err and KEY not in err
    assert not os.path.exists(os.path.join(root, "part_masks", "SynthPedA", MASKS_FILE))


def test_limit_labels_part_of_the_set_and_missing_key_for_a_cloud_url_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    root = str(tmp_path / "data")
    make_synth_dataset(root, 4)
    with FakeGroundingServer({}, BOXES) as server:
        assert main(label_argv(root, server, "--limit", "2")) == 0
        assert len(server.log) == 6
        assert not os.path.exists(os.path.join(root, "part_masks", "SynthPedA", MASKS_FILE))
        assert main(label_argv(root, server, "--limit", "5")) == 0
        assert len(server.log) == 12 and os.path.exists(os.path.join(root, "part_masks", "SynthPedA", MASKS_FILE))
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["label", "--dataset", "SynthPedA", "--root", root, "--backend", "openai", "--model", "m",
                 "--api-key-env", KEY_ENV, "--quiet"]) == 2
    assert f"error: no API key: the environment variable {KEY_ENV} is unset" in capsys.readouterr().err


def test_every_image_failing_exits_non_zero_and_writes_no_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    root = str(tmp_path / "data")
    paths = make_synth_dataset(root, 3)
    out_dir = os.path.join(root, "part_masks", "SynthPedA")
    with FakeGroundingServer({h: "down" for h in hashes(paths)}, BOXES) as server:
        assert main(label_argv(root, server, "--max-retries", "0", "--visualize", "2")) == 1
        out = capsys.readouterr()
        assert "error: 3 of 3 images failed" in out.err and "masks.npz not written" in out.err
        assert "cache:" not in out.out and "overlays:" not in out.out  # nothing advertised
        assert not os.path.exists(os.path.join(out_dir, MASKS_FILE))
        assert json.load(open(os.path.join(out_dir, "summary.json")))["cache_written"] is False
        # a threshold flag accepts partial results: 3 of 3 is within 1.0
        assert main(label_argv(root, server, "--max-retries", "0", "--max-failed-fraction", "1")) == 0
        assert os.path.exists(os.path.join(out_dir, MASKS_FILE))


def test_a_truncated_image_is_a_named_failure_and_the_overlays_skip_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    root = str(tmp_path / "data")
    paths = make_synth_dataset(root, 3)
    with FakeGroundingServer({h: "cogvlm" for h in hashes(paths)}, BOXES) as server:
        with open(paths[1], "r+b") as f:  # the header stays decodable
            f.truncate(os.path.getsize(paths[1]) // 2)
        assert main(label_argv(root, server, "--max-failed-fraction", "0.5", "--visualize", "3")) == 0
        out = capsys.readouterr()
        assert len(server.log) == 6  # the truncated image was never sent
    summary = json.load(open(os.path.join(root, "part_masks", "SynthPedA", "summary.json")))
    assert summary["failed_images"] == 1
    assert f"cannot read image {paths[1]!r}" in out.err  # the failure names the file
    assert f"warning: overlays not written: cannot read image {paths[1]!r}" in out.err


def test_a_missing_model_is_an_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    root = str(tmp_path / "data")
    make_synth_dataset(root, 1)
    assert main(["label", "--dataset", "SynthPedA", "--root", root, "--backend", "openai", "--base-url",
                 "http://127.0.0.1:9/v1", "--api-key-env", KEY_ENV, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error: no model name: pass --model or set OPENAI_MODEL" in err and "Traceback" not in err


def test_quiet_runs_log_no_line_per_request(tmp_path, monkeypatch, capsys):
    import subprocess
    import sys

    root = str(tmp_path / "data")
    paths = make_synth_dataset(root, 2)
    with FakeGroundingServer({h: "cogvlm" for h in hashes(paths)}, BOXES) as server:
        env = dict(os.environ, PYTHONPATH=REPO, **{KEY_ENV: KEY})
        run = subprocess.run([sys.executable, "-m", "reid_plugins.grounding", *label_argv(root, server)], cwd=REPO,
                             env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(server.log) == 6
    assert "HTTP Request" not in run.stderr  # httpx logs one INFO line per request
    assert "CUDA is unavailable" not in run.stderr
