"""Finding a config's project (and its add_*_config) from MODEL.META_ARCHITECTURE (file, _BASE_ chain or list, options)
or from its entry script; the project packages imported from the source tree with no sys.path edit."""
import os
import subprocess
import sys

import pytest

from reid_plugins.projects import (PROJECTS, Project, config_adders, config_meta_architecture, entry_config_functions,
                                   import_project, known_entries)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_meta_architecture_from_base_chain_and_options(tmp_path):
    muva = os.path.join(ROOT, "configs", "MUVA", "Synth", "MUVA_tiny_A.yml")  # two _BASE_ levels above it say MUVA
    assert config_meta_architecture(muva) == "MUVA"
    assert config_meta_architecture(os.path.join(ROOT, "configs", "BDAM_T2I", "Synth-T2I.yml")) == "BDAMT2I"
    assert config_meta_architecture(os.path.join(ROOT, "configs", "Synth", "bagtricks_A.yml")) == "Baseline"
    assert config_meta_architecture(muva, ["MODEL.META_ARCHITECTURE", "X", "A.B", "1"]) == "X"
    (tmp_path / "plain.yml").write_text("SOLVER:\n  BASE_LR: 0.1\n")
    assert config_meta_architecture(str(tmp_path / "plain.yml")) == "Baseline"  # fast-reid's default
    (tmp_path / "a.yml").write_text("_BASE_: b.yml\n")
    (tmp_path / "b.yml").write_text("_BASE_: a.yml\n")
    with pytest.raises(ValueError, match="_BASE_ chain loops"):
        config_meta_architecture(str(tmp_path / "a.yml"))
    (tmp_path / "bad.yml").write_text("MODEL: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        config_meta_architecture(str(tmp_path / "bad.yml"))
    with pytest.raises(FileNotFoundError, match="nope.yml"):
        config_meta_architecture(str(tmp_path / "nope.yml"))


def test_adders_come_from_the_project_package():
    (add,) = config_adders(os.path.join(ROOT, "configs", "MUVA", "Synth", "MUVA_tiny_A.yml"))
    assert add is import_project("MUVA").add_muva_config and add.__name__ == PROJECTS["MUVA"].add_config
    assert config_adders(os.path.join(ROOT, "configs", "Synth", "bagtricks_A.yml")) == ()
    with pytest.raises(KeyError, match="no project registers the meta-architecture 'MGN'"):
        import_project("MGN")


def test_a_list_base_is_followed_like_the_config_loader_merges_it(tmp_path):
    # yacs / reid_plugins.config merge a list of bases in order (later wins), each base after its own bases
    from reid_plugins.config import load_config_file

    (tmp_path / "x.yml").write_text("MODEL:\n  META_ARCHITECTURE: X\n")
    (tmp_path / "y.yml").write_text("MODEL:\n  META_ARCHITECTURE: Y\n")
    (tmp_path / "plain.yml").write_text("SOLVER:\n  BASE_LR: 0.1\n")
    (tmp_path / "via_y.yml").write_text("_BASE_: y.yml\nSOLVER:\n  BASE_LR: 0.2\n")
    cases = {"both.yml": ("[x.yml, y.yml]", "Y"), "reversed.yml": ("[y.yml, x.yml]", "X"),
             "last_plain.yml": ("[x.yml, plain.yml]", "X"), "nested.yml": ("[x.yml, via_y.yml]", "Y"),
             "one.yml": ("[x.yml]", "X"), "none.yml": ("[plain.yml]", "Baseline")}
    for name, (bases, expected) in cases.items():
        (tmp_path / name).write_text(f"_BASE_: {bases}\n")
        assert config_meta_architecture(str(tmp_path / name)) == expected, name
        merged = load_config_file(str(tmp_path / name))[0].get("MODEL", {}).get("META_ARCHITECTURE", "Baseline")
        assert merged == expected, name  # the same answer as the config that is built
    (tmp_path / "own.yml").write_text("_BASE_: [x.yml]\nMODEL:\n  META_ARCHITECTURE: Own\n")
    assert config_meta_architecture(str(tmp_path / "own.yml")) == "Own"
    (tmp_path / "diamond.yml").write_text("_BASE_: [via_y.yml, via_y.yml]\n")  # a base read twice is no loop
    assert config_meta_architecture(str(tmp_path / "diamond.yml")) == "Y"
    (tmp_path / "bad_list.yml").write_text("_BASE_: [x.yml, 3]\n")
    with pytest.raises(ValueError, match="bad_list.yml.*_BASE_ must be a file name or a list of file names"):
        config_meta_architecture(str(tmp_path / "bad_list.yml"))


def test_entry_scripts_name_their_config_functions():
    assert entry_config_functions(os.path.join(ROOT, "tools", "train_net.py")) == ()
    (add,) = entry_config_functions(os.path.join(ROOT, "projects", "BDAM_T2I", "train_net.py"))
    assert add.__name__ == "add_bdam_config" and add.__module__.startswith("bdam")
    assert entry_config_functions(os.path.join(ROOT, "tools", "compare.py")) is None
    assert sorted(known_entries()) == ["projects/BDAM_T2I/train_net.py", "projects/MUVA/train_net.py",
                                       "tools/train_net.py"]
    assert all(os.path.isfile(os.path.join(ROOT, e)) for e in known_entries())


def test_project_packages_import_from_any_folder_without_sys_path_edits(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    code = ("import sys; before = list(sys.path); import reid_plugins, muva.config, bdam.config; "
            "print(muva.__file__); print(bdam.config.__file__); print(sys.path == before)")
    res = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split("\n")[:3] == [os.path.join(ROOT, "projects", "MUVA", "muva", "__init__.py"),
                                          os.path.join(ROOT, "projects", "BDAM_T2I", "bdam", "config.py"), "True"]


def test_a_project_missing_from_the_source_tree_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(PROJECTS, "Gone", Project("Gone", "Gone_Project", "reid_gone_project", "add_gone_config"))
    with pytest.raises(ModuleNotFoundError, match=r"project package 'reid_gone_project' is not in the source tree "
                                                  r"\(.*projects/Gone_Project/reid_gone_project/__init__.py is "
                                                  r"missing\).*pip install -e \."):
        import_project("Gone")
    assert "reid_gone_project" not in sys.modules
