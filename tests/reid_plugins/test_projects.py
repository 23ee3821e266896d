"""Finding a config's project (and its add_*_config) from MODEL.META_ARCHITECTURE: file, _BASE_ chain, options."""
import os

import pytest

from reid_plugins.projects import PROJECTS, config_adders, config_meta_architecture, import_project

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
