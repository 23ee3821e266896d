"""tools/compare.py (a CLI over reid_plugins.experiments) with a fake entry script: commands, resume, Markdown table,
chart, failures, spec errors."""
import importlib.util
import json
import os
import re
import sys

import pytest
from PIL import Image

from reid_plugins.experiments import checks, report, runner, statistics
from reid_plugins.experiments import spec as specs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("compare_tool", os.path.join(ROOT, "tools", "compare.py"))
compare = importlib.util.module_from_spec(_spec)
sys.modules["compare_tool"] = compare  # dataclasses look their module up there
_spec.loader.exec_module(compare)

FAKE_ENTRY = '''
import ast, json, os, sys
args = sys.argv[1:]
config = args[args.index("--config-file") + 1]
opts = [a for a in args[args.index("--config-file") + 2:] if a != "--resume"]
kv = dict(zip(opts[::2], opts[1::2]))
os.makedirs(kv["OUTPUT_DIR"], exist_ok=True)
with open(os.path.join(kv["OUTPUT_DIR"], "calls.txt"), "a") as f:
    f.write(json.dumps(args) + "\\n")
scores = json.load(open(config))
if scores.get("fail"):
    sys.exit(3)
if scores.get("interrupt") and "--resume" not in args:  # killed after its first checkpoint
    open(os.path.join(kv["OUTPUT_DIR"], "last_checkpoint"), "w").write("model_0000.pth")
    sys.exit(1)
for line in scores.get("log", []):
    print(line, flush=True)
tests = ast.literal_eval(kv["DATASETS.TESTS"])
shift = float(kv.get("SEED", 0)) if scores.get("seed_shifts") else 0.0   # a metric that moves with the seed
with open(os.path.join(kv["OUTPUT_DIR"], "results.json"), "w") as f:
    json.dump({name: {m: v + shift for m, v in scores[name].items()} for name in tests}, f)
if scores.get("crash_after_results"):
    sys.exit(4)
'''

SCORES = {
    "BoT": {"B": {"mAP": 30.0, "Rank-1": 50.0}, "C": {"mAP": 20.0, "Rank-1": 40.0}, "D": {"mAP": 1, "Rank-1": 2}},
    "Ours": {"B": {"mAP": 35.5, "Rank-1": 48.2}, "C": {"mAP": 22.1, "Rank-1": 41.0}},
    "Extra": {"B": {"mAP": 10.0, "Rank-1": 20.0}, "C": {"mAP": 24.0, "Rank-1": 30.0}},
}
EXPECTED_TABLE = """### A->BC (trained on A)

Each cell: mAP / Rank-1 (%). unseen mean: mean over B, C.

| Method | B | C | unseen mean |
|---|---|---|---|
| BoT | 30.0 / **50.0** | 20.0 / 40.0 | 25.0 / **45.0** |
| Ours | **35.5** / 48.2 | 22.1 / **41.0** | **28.8** / 44.6 |
| Extra | 10.0 / 20.0 | **24.0** / 30.0 | 17.0 / 25.0 |
"""


@pytest.fixture
def setup(tmp_path):
    entry = tmp_path / "fake_train_net.py"
    entry.write_text(FAKE_ENTRY)
    configs = {}
    for name, scores in SCORES.items():
        configs[name] = tmp_path / f"{name}.json"
        configs[name].write_text(json.dumps(scores))
    spec = {"protocol": "A->BC", "output_root": str(tmp_path / "out"), "sources": ["A"], "targets": ["B", "C"],
            "common_opts": ["TEST.EVALUATOR", "FastReidEvaluator"],
            "methods": [{"name": n, "entry": str(entry), "config": str(configs[n]), "opts": ["SEED", 1]}
                        for n in ("BoT", "Ours")]}
    spec_path = tmp_path / "spec.yml"
    spec_path.write_text(json.dumps(spec))  # JSON is valid YAML
    extra = ["--method", "Extra", str(entry), str(configs["Extra"]), "SOLVER.MAX_EPOCH", "2"]
    return tmp_path, str(spec_path), extra, entry, configs


def calls(tmp_path, name):
    with open(tmp_path / "out" / name / "calls.txt") as f:
        return [json.loads(line) for line in f]


def test_runs_tabulates_and_resumes(setup, capsys):
    tmp_path, spec, extra, entry, configs = setup
    assert compare.main(["--spec", spec] + extra) == 0
    (argv,) = calls(tmp_path, "Extra")
    assert argv == ["--config-file", str(configs["Extra"]), "OUTPUT_DIR", str(tmp_path / "out" / "Extra"),
                    "DATASETS.NAMES", '("A",)', "DATASETS.TESTS", '("B", "C",)', "TEST.EVALUATOR",
                    "FastReidEvaluator", "SOLVER.MAX_EPOCH", "2"]
    assert calls(tmp_path, "BoT")[0][-2:] == ["SEED", "1"]

    with open(tmp_path / "out" / "comparison.md") as f:
        assert f.read() == EXPECTED_TABLE
    with Image.open(tmp_path / "out" / "comparison.png") as img:
        assert img.format == "PNG" and img.size[0] >= 500
    saved = json.load(open(tmp_path / "out" / "comparison.json"))
    assert saved["results"]["Ours"]["C"]["Rank-1"] == 41.0 and saved["status"]["Ours"] == "ran"

    assert compare.main(["--spec", spec] + extra) == 0  # resume: nothing runs again
    assert [len(calls(tmp_path, n)) for n in ("BoT", "Ours", "Extra")] == [1, 1, 1]
    assert compare.main(["--spec", spec, "--force", "--only", "BoT"]) == 0
    assert [len(calls(tmp_path, n)) for n in ("BoT", "Ours")] == [2, 1]
    assert EXPECTED_TABLE.splitlines()[6] in capsys.readouterr().out


def test_failed_and_missing_runs_are_reported(setup):
    tmp_path, spec, extra, entry, configs = setup
    configs["Ours"].write_text(json.dumps({"fail": True}))
    assert compare.main(["--spec", spec, "--only", "BoT", "Ours"]) == 1
    table = open(tmp_path / "out" / "comparison.md").read()
    assert "| Ours | failed | failed | failed |" in table
    assert "compare_run.log" in os.listdir(tmp_path / "out" / "Ours")

    assert compare.main(["--spec", spec, "--collect-only"] + extra) == 1  # Extra never ran: missing, not run
    assert not (tmp_path / "out" / "Extra").exists()
    assert "| Extra | missing | missing | missing |" in open(tmp_path / "out" / "comparison.md").read()


def test_targets_default_to_what_the_runs_report(setup):
    tmp_path, spec, extra, entry, configs = setup
    proto = specs.load_protocol(None, [["BoT", str(entry), str(configs["BoT"])]], output_root=str(tmp_path / "o"),
                                  targets=["B", "C", "D"])
    assert runner.run_methods(proto, sys.executable) == {"BoT": "ran"}
    proto.targets = []
    assert statistics.targets_of(proto, runner.collect(proto)) == ["B", "C", "D"]


@pytest.mark.parametrize("spec, cli, message", [
    ({"methodz": []}, [], r"unknown key\(s\) \['methodz'\]"),
    ({}, [], "no methods"),
    ({"methods": [{"name": "a", "entry": "x.py"}]}, [], r"methods\[0\]: .*missing key\(s\) \['config'\]"),
    ({"methods": [{"name": "a/b", "entry": "x", "config": "y"}]}, [], "must be letters, digits"),
    ({"methods": [{"name": "a", "entry": "x", "config": "y", "opts": ["K"]}]}, [], "opts must be KEY VALUE pairs"),
    ({}, [["a", "x", "y"], ["a", "x", "y"]], r"must be unique .*\['a'\] repeated"),
    ({}, [["a", "x"]], "expected NAME ENTRY CONFIG"),
])
def test_spec_errors(tmp_path, spec, cli, message):
    path = tmp_path / "spec.yml"
    path.write_text(json.dumps(spec))
    with pytest.raises(specs.SpecError, match=message):
        specs.load_protocol(str(path), cli)


def test_missing_entry_script_is_named(tmp_path, capsys):
    assert compare.main(["--method", "M", str(tmp_path / "nope.py"), "cfg.yml",
                         "--output-root", str(tmp_path / "o")]) == 2
    assert "method M: entry script" in capsys.readouterr().err


def test_a_run_that_crashes_after_writing_results_is_not_collected(setup):
    tmp_path, spec, extra, entry, configs = setup
    configs["Ours"].write_text(json.dumps(dict(SCORES["Ours"], crash_after_results=True)))
    assert compare.main(["--spec", spec, "--only", "Ours"]) == 1
    out = tmp_path / "out" / "Ours"
    assert not (out / "results.json").exists()
    assert json.load(open(out / "results.failed.json"))["B"]["mAP"] == 35.5  # kept for inspection, not lost
    assert compare.main(["--spec", spec, "--only", "Ours"]) == 1  # not skipped as finished: it runs again
    assert len(calls(tmp_path, "Ours")) == 2


def test_the_source_is_marked_and_left_out_of_the_unseen_mean(setup):
    tmp_path, spec, extra, entry, configs = setup
    configs["BoT"].write_text(json.dumps(dict(SCORES["BoT"], A={"mAP": 90.0, "Rank-1": 95.0})))
    assert compare.main(["--spec", spec, "--only", "BoT", "--targets", "A", "B", "C"]) == 0
    table = open(tmp_path / "out" / "comparison.md").read()
    assert "unseen mean: mean over B, C." in table
    assert "| Method | A (source) | B | C | unseen mean |" in table
    assert "| BoT | **90.0** / **95.0** | **30.0** / **50.0** | **20.0** / **40.0** | **25.0** / **45.0** |" in table


def test_a_changed_config_or_option_runs_again_and_the_same_spec_does_not(setup, capsys):
    tmp_path, spec, extra, entry, configs = setup
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"unused": 1}))
    configs["BoT"].write_text(json.dumps(dict(SCORES["BoT"], _BASE_="base.json")))
    assert compare.main(["--spec", spec, "--only", "BoT"]) == 0
    assert compare.main(["--spec", spec, "--only", "BoT"]) == 0
    assert len(calls(tmp_path, "BoT")) == 1  # unchanged: collected

    base.write_text(json.dumps({"unused": 2}))  # a _BASE_ file of the config changes
    assert compare.main(["--spec", spec, "--only", "BoT"]) == 0
    assert len(calls(tmp_path, "BoT")) == 2
    assert "BoT (its config or options changed since its results.json: running it again)" in capsys.readouterr().out
    assert (tmp_path / "out" / "BoT" / "results.stale.json").exists()  # the old numbers are kept aside

    spec_data = json.loads(open(spec).read())
    spec_data["methods"][0]["opts"] = ["SEED", 2]  # the spec's options change
    open(spec, "w").write(json.dumps(spec_data))
    assert compare.main(["--spec", spec, "--only", "BoT"]) == 0
    assert [c[-2:] for c in calls(tmp_path, "BoT")] == [["SEED", "1"]] * 2 + [["SEED", "2"]]


def test_an_interrupted_method_resumes_from_its_checkpoint(setup, capsys):
    tmp_path, spec, extra, entry, configs = setup
    configs["Ours"].write_text(json.dumps(dict(SCORES["Ours"], interrupt=True)))
    assert compare.main(["--spec", spec, "--only", "Ours"]) == 1  # killed after a checkpoint
    assert compare.main(["--spec", spec, "--only", "Ours"]) == 0
    first, second = calls(tmp_path, "Ours")
    assert "--resume" not in first
    assert second[:3] == ["--config-file", str(configs["Ours"]), "--resume"]  # a flag: before the KEY VALUE options
    assert "Ours (interrupted: resuming from its last checkpoint)" in capsys.readouterr().out
    record = json.load(open(tmp_path / "out" / "Ours" / "run_record.json"))
    assert record["finished"] and "--resume" not in record["argv"]
    # a checkpoint of another configuration is not resumed: the run starts again
    configs["Ours"].write_text(json.dumps(dict(SCORES["Ours"], interrupt=True, changed=1)))
    assert compare.main(["--spec", spec, "--only", "Ours"]) == 1
    assert "--resume" not in calls(tmp_path, "Ours")[-1]


def test_an_unknown_only_name_is_an_error(setup, capsys):
    tmp_path, spec, extra, entry, configs = setup
    assert compare.main(["--spec", spec, "--only", "BOT"]) == 2
    assert "--only ['BOT']: no such method (have ['BoT', 'Ours'])" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_terminal_gets_a_progress_line_and_the_log_everything(setup, capsys):
    tmp_path, spec, extra, entry, configs = setup
    log = ["[12/02 00:01:08 fastreid.engine.defaults]: Running with full config:", "SOLVER:", "  MAX_EPOCH: 2",
           "[12/02 00:01:08 fastreid.utils.events]:  epoch/iter: 0/1  total_loss: 4  loss_cls: 2.068  lr: 3.00e-03",
           "[12/02 00:01:14 fastreid.utils.events]:  eta: 0:00:00  epoch/iter: 1/3  total_loss: 3.683  time: 3.26",
           "[12/02 00:01:15 fastreid.evaluation.evaluator]: Start inference on 25 images"]
    configs["BoT"].write_text(json.dumps(dict(SCORES["BoT"], log=log)))
    proto = specs.load_protocol(spec)
    specs.select_methods(proto, ["BoT"])
    assert runner.run_methods(proto, sys.executable, progress_interval=0) == {"BoT": "ran"}
    shown = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[BoT]")]
    assert shown == ["[BoT] epoch 1/2  iter 1  total_loss 4", "[BoT] epoch 2/2  iter 3  eta 0:00:00  total_loss 3.683",
                     "[BoT] evaluating (25 images)"]
    assert open(tmp_path / "out" / "BoT" / "compare_run.log").read().splitlines() == log


def test_the_usage_examples_name_files_that_exist():
    paths = re.findall(r"(configs/\S+\.yml|tools/\S+\.py)", compare.__doc__)
    assert "configs/Synth/embedded_default.yml" in paths
    missing = [p for p in paths if not os.path.exists(os.path.join(ROOT, p))]
    assert missing == []


def test_seeds_run_each_method_per_seed_and_report_mean_and_std(tmp_path):
    """Known answer: a method whose metrics are base + SEED, run with seeds 0, 1, 2 -> mean base + 1, std 1."""
    entry = tmp_path / "fake_train_net.py"
    entry.write_text(FAKE_ENTRY)
    cfg = tmp_path / "m.json"
    cfg.write_text(json.dumps({"seed_shifts": True, "B": {"mAP": 10.0, "Rank-1": 20.0},
                               "C": {"mAP": 30.0, "Rank-1": 40.0}}))
    spec = {"protocol": "seeds", "output_root": str(tmp_path / "out"), "sources": ["A"], "targets": ["B", "C"],
            "seeds": [0, 1, 2], "methods": [{"name": "M", "entry": str(entry), "config": str(cfg)}]}
    (tmp_path / "spec.yml").write_text(json.dumps(spec))
    assert compare.main(["--spec", str(tmp_path / "spec.yml")]) == 0
    for k in (0, 1, 2):
        args = calls(tmp_path, f"M/seed{k}")[0]
        assert args[args.index("OUTPUT_DIR") + 1] == str(tmp_path / "out" / "M" / f"seed{k}")
        assert args[-2:] == ["SEED", str(k)]
    md = open(tmp_path / "out" / "comparison.md").read()
    assert "| M | **11.0 ± 1.0** / **21.0 ± 1.0** | **31.0 ± 1.0** / **41.0 ± 1.0** | **21.0 ± 1.0** / **31.0 ± 1.0** |" \
        in md
    assert "over training seeds 0, 1, 2" in md
    stats = json.load(open(tmp_path / "out" / "comparison.json"))["stats"]["M"]
    assert stats["unseen mean"]["mAP"] == {"mean": 21.0, "std": 1.0, "n": 3}
    # a seed that has not finished is named
    import shutil
    shutil.rmtree(tmp_path / "out" / "M" / "seed2")
    proto = specs.load_protocol(str(tmp_path / "spec.yml"))
    md = report.comparison_markdown(proto, runner.collect(proto), {})
    assert "| M (2 of 3 seeds) | 10.5 ± 0.7 / 20.5 ± 0.7 |" in md.replace("**", "")
    with pytest.raises(specs.SpecError, match="seeds must be distinct integers >= 0"):
        specs.load_protocol(str(tmp_path / "spec.yml"), seeds=[1, 1])


def test_parameter_counts_leave_out_the_training_only_classifier():
    import torch

    class Toy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = torch.nn.Linear(4, 3)                 # 15
            self.heads = torch.nn.Module()
            self.heads.bottleneck = torch.nn.BatchNorm1d(3)       # 6
            self.heads.classifier = torch.nn.Linear(3, 100)       # left out
    assert checks.inference_parameters(Toy()) == 21
