"""No code outside tests/ edits sys.path: the project packages are found by reid_plugins.projects' meta-path finder,
so every entry script and tool answers --help from any working directory, and the experiment tools without torch."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIPPED_DIRS = {"tests", "datasets", "output", "outputs", "logs", "build", "__pycache__"}  # tests may edit it
EDIT = re.compile(r"sys\.path\s*(\.(insert|append|extend)\s*\(|\[[^\]]*\]\s*=(?!=)|\+=|=(?!=))")
ENTRIES = ("tools/train_net.py", "projects/MUVA/train_net.py", "projects/BDAM_T2I/train_net.py",
           "projects/MUVA/tools/model_stats.py")
LIGHT_TOOLS = ("tools/compare.py", "tools/ablate.py", "tools/run_embedded.py")
HEAVY = ("torch", "fastreid", "torchvision", "open_clip", "matplotlib")


def source_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in files:
            if name.endswith((".py", ".sh")):
                yield os.path.join(folder, name)


def test_the_pattern_catches_every_form_of_edit():
    edits = ["sys.path.insert(0, ROOT)", "sys.path.append(d)", "sys.path[:0] = [REPO]", "sys.path += [x]",
             "sys.path = [a]", "sys.path.extend(p)"]
    assert all(EDIT.search(line) for line in edits)
    assert not any(EDIT.search(line) for line in ["if p not in sys.path:", "before = list(sys.path)",
                                                  "sys.path == before"])


def test_no_sys_path_edit_outside_tests():
    files = list(source_files())
    assert os.path.join(ROOT, "reid_plugins", "projects.py") in files and \
        os.path.join(ROOT, "scripts", "bootstrap.sh") in files  # the walk reaches the library and the scripts
    found = [f"{os.path.relpath(path, ROOT)}:{i}: {line.strip()}" for path in files
             for i, line in enumerate(open(path, encoding="utf-8"), 1) if EDIT.search(line)]
    assert not found, ("sys.path edited outside tests/ (import the project packages through reid_plugins, which "
                       "finds them in projects/):\n" + "\n".join(found))


@pytest.mark.parametrize("entry", ENTRIES + LIGHT_TOOLS)
def test_help_from_another_working_directory(entry, tmp_path):
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import runpy, sys
        sys.argv = [{entry!r}, "--help"]
        try:
            runpy.run_path({os.path.join(ROOT, entry)!r}, run_name="__main__")
        except SystemExit as e:
            print("EXIT", e.code)
        print("HEAVY", sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)], cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.strip().splitlines()
    assert "usage:" in res.stdout and lines[-2] in ("EXIT 0", "EXIT None"), res.stdout[-2000:] + res.stderr[-2000:]
    if entry in LIGHT_TOOLS:
        assert lines[-1] == "HEAVY []", f"{entry} --help imported {lines[-1]}"
