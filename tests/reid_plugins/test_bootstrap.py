"""`import reid_plugins` is light, the compat patches and registrations still run before any fast-reid use, and every
CLI's --help answers without importing torch (checked in sys.modules of a fresh interpreter, not timed)."""
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY = ("torch", "fastreid", "torchvision", "open_clip", "transformers", "openai", "faiss", "onnx", "matplotlib")
CLIS = ("reid_plugins.extract", "reid_plugins.search", "reid_plugins.export", "reid_plugins.grounding",
        "reid_plugins.captioning", "reid_plugins.data.synthetic", "reid_plugins.zoo")


def run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("REID_PLUGINS_COMPAT_DISABLE", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("module", CLIS)
def test_help_imports_no_heavy_library(module):
    res = run_python(f"""
        import runpy, sys
        sys.argv = ["{module}", "--help"]
        try:
            runpy.run_module("{module}", run_name="__main__", alter_sys=True)
        except SystemExit as e:
            code = e.code
        print("EXIT", code)
        print("HEAVY", sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.strip().splitlines()
    assert lines[-2] == "EXIT 0" and "usage: python -m" in res.stdout
    assert lines[-1] == "HEAVY []", f"{module} --help imported {lines[-1]}"


def test_import_is_light_and_first_fastreid_import_sets_everything_up():
    res = run_python("""
        import sys
        import reid_plugins
        print("light", not any(m in sys.modules for m in ("torch", "fastreid", "numpy")))
        from fastreid.data.data_utils import DataLoaderX          # a runtime patch's target, imported directly
        from fastreid.data.datasets import DATASET_REGISTRY
        from reid_plugins import compat
        from reid_plugins.evaluation import EVALUATOR_REGISTRY
        print("patched", DataLoaderX.__name__, sorted(compat.APPLIED) == sorted(compat.PATCHES))
        print("registered", "SynthPedA" in DATASET_REGISTRY._obj_map,
              "FastReidEvaluator" in EVALUATOR_REGISTRY._obj_map)
        import fastreid
        print("loader", type(fastreid.__loader__).__name__, type(fastreid.__spec__.loader).__name__)
        print("hook gone", not any(type(f).__name__ == "_SetupOnFirstImport" for f in sys.meta_path))
    """)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split("\n")[:5] == ["light True", "patched CPUDataLoader True", "registered True True",
                                          "loader SourceFileLoader SourceFileLoader", "hook gone True"]


def test_torchvision_first_and_explicit_setup():
    # open_clip / torchvision as the first trigger: the import-time patch runs before torchvision's own code
    res = run_python("""
        import reid_plugins, torchvision, open_clip
        from fastreid.engine import DefaultTrainer
        print(reid_plugins.setup() == reid_plugins.compat.APPLIED)
    """)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith("True")


def test_misspelt_patch_name_fails_at_import():
    env = dict(os.environ, PYTHONPATH=ROOT, REID_PLUGINS_COMPAT_DISABLE="no_such_patch")
    res = subprocess.run([sys.executable, "-c", "import reid_plugins"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode != 0 and "no_such_patch" in res.stderr and "known:" in res.stderr
