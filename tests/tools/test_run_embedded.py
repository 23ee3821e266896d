"""tools/run_embedded.py end to end on the tiny preset: generates the benchmark, trains fast-reid's BoT through our
plugin path, evaluates on the source and unseen domains, tabulates, and does not retrain on a second call."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOMAINS = ["SynthPedA", "SynthPedB", "SynthPedC", "SynthPedD"]


def test_main_job_generates_trains_evaluates_and_resumes(tmp_path):
    spec = {"protocol": "tiny A -> BCD", "output_root": str(tmp_path / "out"), "sources": ["SynthPedA"],
            "targets": DOMAINS,
            "methods": [{"name": "BoT", "entry": "tools/train_net.py", "config": "configs/Synth/bagtricks_A.yml",
                         "opts": ["SOLVER.MAX_EPOCH", 2, "SOLVER.IMS_PER_BATCH", 16, "SOLVER.WARMUP_ITERS", 2,
                                  "SOLVER.STEPS", "[1]", "SOLVER.CHECKPOINT_PERIOD", 2, "TEST.EVAL_PERIOD", 2,
                                  "DATALOADER.NUM_WORKERS", 0, "TEST.NUM_WORKERS", 0]}]}
    spec_path = tmp_path / "spec.yml"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, os.path.join(ROOT, "tools", "run_embedded.py"), "--root", str(tmp_path / "data"),
           "--preset", "tiny", "--spec", str(spec_path)]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    assert json.load(open(tmp_path / "data" / "synthped" / "manifest.json"))["complete"] is True
    table = json.load(open(tmp_path / "out" / "comparison.json"))
    assert table["status"] == {"BoT": "ran"}
    results = table["results"]["BoT"]
    assert sorted(results) == DOMAINS
    for domain in DOMAINS:
        assert 0.0 < results[domain]["mAP"] <= 100.0 and 0.0 <= results[domain]["Rank-1"] <= 100.0
    assert (tmp_path / "out" / "comparison.png").stat().st_size > 0
    assert "| BoT |" in first.stdout

    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.load(open(tmp_path / "out" / "comparison.json"))["status"] == {"BoT": "collected"}
    assert json.load(open(tmp_path / "out" / "comparison.json"))["results"] == table["results"]


FAKE_ENTRY = '''
import json, os, sys
args = sys.argv[1:]
kv = dict(zip(args[args.index("--config-file") + 2::2], args[args.index("--config-file") + 3::2]))
os.makedirs(kv["OUTPUT_DIR"], exist_ok=True)
json.dump({"SynthPedA": {"mAP": 1.0, "Rank-1": 2.0}}, open(os.path.join(kv["OUTPUT_DIR"], "results.json"), "w"))
'''


def fake_spec(tmp_path):
    entry = tmp_path / "fake_entry.py"
    entry.write_text(FAKE_ENTRY)
    (tmp_path / "cfg.yml").write_text("SEED: 1\n")
    spec = {"protocol": "fake", "output_root": str(tmp_path / "out"), "sources": ["SynthPedA"],
            "targets": ["SynthPedA"],
            "methods": [{"name": "BoT", "entry": str(entry), "config": str(tmp_path / "cfg.yml")}]}
    path = tmp_path / "spec.yml"
    path.write_text(json.dumps(spec))
    return str(path)


def run_embedded(tmp_path, *args):
    cmd = [sys.executable, os.path.join(ROOT, "tools", "run_embedded.py"), "--root", str(tmp_path / "data"),
           "--spec", fake_spec(tmp_path), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_an_unknown_only_name_is_an_error_before_anything_runs(tmp_path):
    run = run_embedded(tmp_path, "--only", "BOT")
    assert run.returncode == 2
    assert "--only ['BOT']: no such method (have ['BoT'])" in run.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()


def test_force_regenerates_a_benchmark_of_another_configuration(tmp_path):
    from reid_plugins.data.synthetic import ensure_generated

    ensure_generated(str(tmp_path / "data"), preset="tiny", seed=0, workers=1, progress=False, preview=False)
    manifest = tmp_path / "data" / "synthped" / "manifest.json"
    made = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(dict(made, seed=7)))  # as if generated with another seed
    refused = run_embedded(tmp_path, "--preset", "tiny")
    assert refused.returncode == 2 and "Re-run with --force" in refused.stderr
    assert not (tmp_path / "out").exists()
    forced = run_embedded(tmp_path, "--preset", "tiny", "--force")  # the hint works
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert json.loads(manifest.read_text())["seed"] == 0
    assert json.load(open(tmp_path / "out" / "comparison.json"))["status"] == {"BoT": "ran"}


def test_another_benchmark_draw_keeps_its_data_and_outputs_apart(tmp_path):
    run = run_embedded(tmp_path, "--preset", "tiny", "--seed", "1")
    assert run.returncode == 0, run.stderr[-2000:]
    manifest = json.loads((tmp_path / "data" / "benchmark-seed1" / "synthped" / "manifest.json").read_text())
    assert manifest["seed"] == 1 and not (tmp_path / "data" / "synthped").exists()
    table = json.load(open(tmp_path / "out" / "benchmark-seed1" / "comparison.json"))
    assert table["status"] == {"BoT": "ran"} and not (tmp_path / "out" / "BoT").exists()
    record = json.load(open(tmp_path / "out" / "benchmark-seed1" / "BoT" / "run_record.json"))
    argv = record["argv"]
    assert argv[argv.index("DATASETS.ROOT") + 1] == str(tmp_path / "data" / "benchmark-seed1")
