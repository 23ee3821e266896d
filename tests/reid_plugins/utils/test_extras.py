"""Optional dependencies: setup.cfg's extras match reid_plugins.utils.extras, fast-reid baselines with our datasets
and evaluator run without openai / transformers / open_clip, and a module that needs a missing one names the extra."""
import configparser
import os
import re
import subprocess
import sys
import textwrap

import pytest

from reid_plugins.utils import extras
from reid_plugins.utils.extras import EXTRAS, require

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# Makes the extras' packages look uninstalled: the finder answers as Python does for a package that is absent
# (ModuleNotFoundError naming the top-level package, since a submodule's import first imports its parent).
BLOCK_EXTRAS = """
import sys
BLOCKED = {blocked!r}

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
"""


def requirement_names(lines: str) -> set:
    return {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
            for line in lines.splitlines() if line.strip() and not line.strip().startswith("#")}


def test_setup_cfg_declares_each_extra_and_bootstrap_installs_all():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    declared = {name: requirement_names(value) for name, value in cfg["options.extras_require"].items()}
    heavy = {dist.replace("_", "-") for dist, _ in EXTRAS.values()}
    for distribution, extra in EXTRAS.values():
        assert declared[extra] == {distribution.replace("_", "-")}, extra
    assert declared["all"] == heavy
    assert not heavy & requirement_names(cfg["options"]["install_requires"])
    with open(os.path.join(ROOT, "scripts", "bootstrap.sh")) as f:
        assert re.search(r'-e "\.\[all,[a-z,]*\]"', f.read()), "scripts/bootstrap.sh must install the [all] extra"


def test_require_names_the_extra_of_a_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)  # what an uninstalled package looks like to importlib
    with pytest.raises(ImportError, match=re.escape("The X tool needs the optional package 'openai', which is not "
                                                    "installed: pip install 'reid_plugins[mllm]'")) as info:
        require("openai", "The X tool")
    assert info.value.name == "openai"
    with pytest.raises(ValueError, match="'json' is not in a package of reid_plugins.utils.extras.EXTRAS"):
        require("json", "JSON")


def test_a_missing_dependency_of_an_installed_extra_is_not_misreported(tmp_path, monkeypatch):
    # The extra's package is there but its own import fails: reinstalling the extra would not help.
    pkg = tmp_path / "fake_heavy_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import no_such_dependency_of_fake_heavy_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(extras.EXTRAS, "fake_heavy_pkg", ("fake-heavy-pkg", "fake"))
    with pytest.raises(ModuleNotFoundError) as info:
        require("fake_heavy_pkg", "A test")
    assert info.value.name == "no_such_dependency_of_fake_heavy_pkg" and "reid_plugins[" not in str(info.value)


def run_without_extras(code: str, timeout: int = 600) -> subprocess.CompletedProcess:
    script = BLOCK_EXTRAS.format(blocked=sorted(EXTRAS)) + textwrap.dedent(code)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    env.pop("REID_PLUGINS_COMPAT_DISABLE", None)
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_baselines_datasets_and_evaluator_work_without_the_extras(synth_root, tmp_path):
    out = str(tmp_path / "bot_eval")
    res = run_without_extras(f"""
        import json, os, runpy
        import numpy as np
        import torch
        import reid_plugins
        from fastreid.data.datasets import DATASET_REGISTRY
        from reid_plugins.config import build_cfg
        from reid_plugins.evaluation import EVALUATOR_REGISTRY

        with open(os.path.join({synth_root!r}, "synthped", "manifest.json")) as f:
            counts = json.load(f)["domains"]["domain_B"]
        ds = DATASET_REGISTRY.get("SynthPedB")(root={synth_root!r})
        print("dataset", len(ds.train) == counts["train"]["images"], len(ds.query) == counts["query"]["images"],
              len(ds.gallery) == counts["gallery"]["images"])

        # query 0 (pid 1, camera 0) finds its match first (its camera-0 copy is not counted); query 1 (pid 2) finds
        # its match third, after two pid-1 images: AP 1 and 1/3, Rank-1 hit for query 0 only
        cfg = build_cfg("configs/Synth/Base-bagtricks.yml", ["TEST.EVALUATOR", "FastReidEvaluator"])
        evaluator = EVALUATOR_REGISTRY.get("FastReidEvaluator")(cfg, num_query=2)
        feats = torch.tensor([[1.0, 0.0], [1.0, 0.1], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
        evaluator.process({{"targets": torch.tensor([1, 2, 1, 2, 1]), "camids": torch.tensor([0, 0, 1, 1, 0])}},
                          feats)
        r = evaluator.evaluate()
        print("evaluator", r["Rank-1"], round(r["mAP"], 4))

        import sys
        # one short epoch of the BoT baseline, then its evaluation: the whole tools/train_net.py path
        sys.argv = ["tools/train_net.py", "--config-file", "configs/Synth/bagtricks_A.yml",
                    "DATASETS.ROOT", {synth_root!r}, "DATASETS.TESTS", '("SynthPedA",)', "OUTPUT_DIR", {out!r},
                    "SOLVER.MAX_EPOCH", "1", "SOLVER.IMS_PER_BATCH", "16", "SOLVER.WARMUP_ITERS", "1",
                    "SOLVER.STEPS", "[1]", "SOLVER.CHECKPOINT_PERIOD", "1", "TEST.EVAL_PERIOD", "1",
                    "DATALOADER.NUM_WORKERS", "0", "TEST.NUM_WORKERS", "0", "SEED", "0"]
        try:
            runpy.run_path("tools/train_net.py", run_name="__main__")
        except SystemExit as e:
            assert not e.code, e.code
        with open(os.path.join({out!r}, "results.json")) as f:
            print("train_net", sorted(json.load(f)))
        print("imported", sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED))
    """)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [line for line in res.stdout.splitlines() if line.split(" ")[0] in
             ("dataset", "evaluator", "train_net", "imported")]
    assert lines == ["dataset True True True", "evaluator 50.0 66.6667", "train_net ['SynthPedA']", "imported []"]


def test_modules_needing_a_missing_extra_name_it():
    res = run_without_extras("""
        import os, sys
        import reid_plugins

        def error_of(build):
            try:
                build()
            except ImportError as e:
                return str(e)
            return "no error"

        def clip():
            from reid_plugins.modeling.clip import build_clip
            build_clip()

        def bert():
            from reid_plugins.modeling.hf_encoders import build_bert_encoder
            build_bert_encoder(hidden_size=8, num_layers=1, num_heads=1)

        def mllm():
            from reid_plugins.utils.mllm_client import MLLMClient
            MLLMClient("some-model", base_url="http://127.0.0.1:9/v1")

        def muva():
            sys.path.insert(0, os.path.join("projects", "MUVA"))
            import muva  # noqa: F401

        def grounding(backend):
            from reid_plugins.grounding.backends import build_backend
            return lambda: build_backend(backend, None, model="some-model", base_url="http://127.0.0.1:9/v1",
                                         model_dir=".")

        for name, build in (("clip", clip), ("hf", bert), ("mllm", mllm), ("muva", muva),
                            ("grounding openai", grounding("openai")), ("grounding hf", grounding("hf"))):
            print(name, "|", error_of(build))
    """, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    errors = dict(line.split(" | ", 1) for line in res.stdout.splitlines() if " | " in line)
    expected = {"clip": ("CLIP (reid_plugins.modeling.clip", "open_clip_torch", "clip"),
                "hf": ("The transformers ViT / BERT encoders", "transformers", "hf"),
                "mllm": ("The MLLM client", "openai", "mllm"),
                "muva": ("MUVA", "open_clip_torch", "clip"),
                "grounding openai": ("The MLLM client", "openai", "mllm"),  # the backend's first openai use
                "grounding hf": ("The grounding backend 'hf'", "transformers", "hf")}
    for name, (needed_by, distribution, extra) in expected.items():
        assert errors[name].startswith(f"{needed_by}"), (name, errors[name])
        assert (f"needs the optional package '{distribution}', which is not installed: "
                f"pip install 'reid_plugins[{extra}]'") in errors[name], (name, errors[name])
