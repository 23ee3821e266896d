"""The projects (projects/MUVA, projects/BDAM_T2I) by meta-architecture: their package and add_*_config function.

The projects are not installed packages: each train_net.py puts its own folder on sys.path before importing it. Code
that only has a config file (reid_plugins.inference, the extract / search / export CLIs) finds the project here, in
this one place, from the config's MODEL.META_ARCHITECTURE (read from the YAML file, its _BASE_ chain and the KEY
VALUE options, before the config is built: the project's keys must be added before the file is merged).

    add_fns = config_adders("configs/MUVA/MA_to_MS.yml")     # (add_muva_config,); () for fast-reid's Baseline
    cfg = build_cfg("configs/MUVA/MA_to_MS.yml", opts, add_fns)
"""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Callable, Dict, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository (editable install)
PROJECTS_DIR = os.path.join(ROOT, "projects")
FASTREID_DEFAULT_META_ARCH = "Baseline"  # fast-reid's get_cfg() default


@dataclass(frozen=True)
class Project:
    meta_architecture: str  # the name it registers into fast-reid's META_ARCH_REGISTRY
    folder: str  # under projects/
    package: str  # importable once the folder is on sys.path
    add_config: str  # name of the package's add_<project>_config function

    @property
    def path(self) -> str:
        return os.path.join(PROJECTS_DIR, self.folder)


PROJECTS: Dict[str, Project] = {
    "MUVA": Project("MUVA", "MUVA", "muva", "add_muva_config"),
    "BDAMT2I": Project("BDAMT2I", "BDAM_T2I", "bdam", "add_bdam_config"),
}


def import_project(meta_architecture: str):
    """The project's package (its import registers the meta-architecture, backbones, evaluators)."""
    if meta_architecture not in PROJECTS:
        raise KeyError(f"no project registers the meta-architecture {meta_architecture!r}; the projects are "
                       f"{sorted(PROJECTS)}")
    project = PROJECTS[meta_architecture]
    if not os.path.isdir(os.path.join(project.path, project.package)):
        raise FileNotFoundError(f"{project.path}/{project.package}/ is missing: the projects are not installed "
                                f"packages, so reid_plugins must be used from a checkout of the repository "
                                f"(pip install -e .)")
    if project.path not in sys.path:
        sys.path.insert(0, project.path)
    return importlib.import_module(project.package)


def config_adders(config_file: str, opts: Sequence[str] = ()) -> Tuple[Callable, ...]:
    """The add_*_config functions a config needs: its project's, or none for fast-reid's own meta-architectures."""
    meta = config_meta_architecture(config_file, opts)
    if meta not in PROJECTS:
        return ()
    return (getattr(import_project(meta), PROJECTS[meta].add_config),)


def config_meta_architecture(config_file: str, opts: Sequence[str] = ()) -> str:
    """MODEL.META_ARCHITECTURE as the built config would have it: the last KEY VALUE option setting it, else the file
    or the nearest _BASE_ that sets it, else fast-reid's default."""
    opts = list(opts)
    for key, value in reversed(list(zip(opts[::2], opts[1::2]))):
        if key == "MODEL.META_ARCHITECTURE":
            return str(value)
    seen = []
    path = config_file
    while path:
        path = os.path.abspath(path)
        if path in seen:
            raise ValueError(f"config file {config_file!r}: _BASE_ chain loops through {path!r}")
        seen.append(path)
        data = _read_yaml(path)
        model = data.get("MODEL") or {}
        if isinstance(model, dict) and "META_ARCHITECTURE" in model:
            return str(model["META_ARCHITECTURE"])
        base = data.get("_BASE_")
        path = os.path.join(os.path.dirname(path), base) if base else ""
    return FASTREID_DEFAULT_META_ARCH


def _read_yaml(path: str) -> dict:
    import yaml

    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"config file {path!r} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"config file {path!r} must hold a mapping of keys, got {type(data).__name__}")
    return data
