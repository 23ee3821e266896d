"""Two runs on the CPU give identical results, across processes and Python hash seeds (set and dict iteration order
of str keys changes with PYTHONHASHSEED; a process-level determinism bug would show here and not in one process).

The in-process repeat of the synthetic generation (other worker counts, resumed generation) is
test_same_seed_gives_identical_bytes_whatever_the_workers_and_resumes in tests/reid_plugins/data/synthetic/.
"""
import json
import os
import subprocess
import sys

import pytest

from reid_plugins.data.synthetic import synth_dir
from reliability_runs import MUVA_CONFIG, MUVA_NET, REPO, Launch, assert_same_weights, muva_opts

sys.path.insert(0, os.path.join(REPO, "tests", "reid_plugins", "data", "synthetic"))
from test_generate import _tree_hashes as tree_hashes  # noqa: E402  (sha256 of every file, by relative path)

pytestmark = pytest.mark.slow


def test_tiny_synthetic_generation_is_byte_identical_in_another_process(synth_root, tmp_path):
    other = str(tmp_path / "again")
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONHASHSEED="12345")
    proc = subprocess.run([sys.executable, "-m", "reid_plugins.data.synthetic", "--root", other, "--preset", "tiny",
                           "--seed", "0", "--workers", "2", "--quiet"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference, again = tree_hashes(synth_dir(synth_root)), tree_hashes(synth_dir(other))
    again.pop("preview.png")  # the CLI always draws the contact sheet; the session root was made without it
    assert len(reference) > 100 and again == reference


def test_tiny_muva_twice_gives_identical_metrics_and_weights(synth_root, muva_reference, tmp_path):
    out = str(tmp_path / "again")
    Launch(MUVA_NET, MUVA_CONFIG, muva_opts(synth_root), out, harness=False, env={"PYTHONHASHSEED": "777"}).wait()
    with open(os.path.join(out, "results.json"), "rb") as a, open(os.path.join(muva_reference, "results.json"),
                                                                 "rb") as b:
        assert a.read() == b.read()  # byte for byte: every metric to the last bit
    assert json.load(open(os.path.join(out, "results.json")))["SynthPedA"]["mAP"] > 0
    assert_same_weights(out, muva_reference)
    assert_same_weights(out, muva_reference, "model_stage1.pth")
