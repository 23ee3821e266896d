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
