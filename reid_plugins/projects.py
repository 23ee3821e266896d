"""The projects (projects/MUVA, projects/BDAM_T2I): each one's package, config function and entry script, and how
their packages are imported.

The project packages (`muva`, `bdam`) are not installed: they live in the source tree under projects/<folder>/. As
detectron2 does for its projects, :class:`ProjectFinder` (on ``sys.meta_path`` from ``import reid_plugins``) maps each
package name to its folder, so ``import muva`` works from any working directory with no ``sys.path`` edit. Without the
source tree (reid_plugins installed without projects/) the import fails with an ImportError that says so.

Code that only has a config file (reid_plugins.inference, the extract / search / export CLIs, the experiment tools)
finds the project here, from the config's MODEL.META_ARCHITECTURE (read from the YAML file, its _BASE_ chain and the
KEY VALUE options, before the config is built: the project's keys must be added before the file is merged), or from
the entry script that runs it.

    add_fns = config_adders("configs/MUVA/MA_to_MS.yml")     # (add_muva_config,); () for fast-reid's Baseline
    cfg = build_cfg("configs/MUVA/MA_to_MS.yml", opts, add_fns)
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the source tree (editable install)
PROJECTS_DIR = os.path.join(ROOT, "projects")
FASTREID_DEFAULT_META_ARCH = "Baseline"  # fast-reid's get_cfg() default
FASTREID_ENTRY = "tools/train_net.py"  # fast-reid's plain trainer: its configs need no config function of ours


@dataclass(frozen=True)
class Project:
    meta_architecture: str  # the name it registers into fast-reid's META_ARCH_REGISTRY
    folder: str  # under projects/
    package: str  # the importable name (ProjectFinder maps it to projects/<folder>/<package>)
    add_config: str  # name of the package's add_<project>_config function

    @property
    def path(self) -> str:
        return os.path.join(PROJECTS_DIR, self.folder)

    @property
    def package_dir(self) -> str:
        return os.path.join(self.path, self.package)

    @property
    def entry(self) -> str:
        """The project's train_net.py, relative to the repository."""
        return f"projects/{self.folder}/train_net.py"

    def config_function(self) -> Callable:
        return getattr(importlib.import_module(self.package), self.add_config)


PROJECTS: Dict[str, Project] = {
    "MUVA": Project("MUVA", "MUVA", "muva", "add_muva_config"),
    "BDAMT2I": Project("BDAMT2I", "BDAM_T2I", "bdam", "add_bdam_config"),
}


class ProjectFinder(importlib.abc.MetaPathFinder):
    """Finds a project's top-level package in the source tree; its submodules are then found through the package's
    __path__ by Python's own finders."""

    def find_spec(self, fullname, path=None, target=None):
        project = next((p for p in PROJECTS.values() if p.package == fullname), None)
        if project is None or path is not None:
            return None
        init = os.path.join(project.package_dir, "__init__.py")
        if not os.path.isfile(init):
            raise ModuleNotFoundError(
                f"project package {fullname!r} is not in the source tree ({init} is missing): the projects are not "
                f"installed packages, so use reid_plugins from a checkout of the repository (pip install -e .)",
                name=fullname)
        return importlib.util.spec_from_file_location(fullname, init,
                                                      submodule_search_locations=[project.package_dir])


_FINDER = ProjectFinder()


def install_finder() -> None:
    """Called by ``import reid_plugins``. Appended: a package of that name found on sys.path comes first."""
    if not any(isinstance(f, ProjectFinder) for f in sys.meta_path):
        sys.meta_path.append(_FINDER)


def import_project(meta_architecture: str):
    """The project's package (its import registers the meta-architecture, backbones, evaluators)."""
    if meta_architecture not in PROJECTS:
        raise KeyError(f"no project registers the meta-architecture {meta_architecture!r}; the projects are "
                       f"{sorted(PROJECTS)}")
    install_finder()
    return importlib.import_module(PROJECTS[meta_architecture].package)


def config_adders(config_file: str, opts: Sequence[str] = ()) -> Tuple[Callable, ...]:
    """The add_*_config functions a config needs: its project's, or none for fast-reid's own meta-architectures."""
    meta = config_meta_architecture(config_file, opts)
    if meta not in PROJECTS:
        return ()
    import_project(meta)
    return (PROJECTS[meta].config_function(),)


def entry_config_functions(entry: str) -> Optional[Tuple[Callable, ...]]:
    """The add_*_config functions an entry script of this repository uses: () for fast-reid's tools/train_net.py, the
    project's for a project's train_net.py, None for any other script (its config cannot be built here)."""
    rel = os.path.relpath(os.path.abspath(entry), ROOT).replace(os.sep, "/")
    if rel == FASTREID_ENTRY:
        return ()
    project = next((p for p in PROJECTS.values() if p.entry == rel), None)
    if project is None:
        return None
    import_project(project.meta_architecture)
    return (project.config_function(),)


def known_entries() -> list:
    return [FASTREID_ENTRY] + [p.entry for p in PROJECTS.values()]


def config_meta_architecture(config_file: str, opts: Sequence[str] = ()) -> str:
    """MODEL.META_ARCHITECTURE as the built config would have it: the last KEY VALUE option setting it, else the file,
    else its _BASE_ files (yacs merges a list of bases in order, so a later base wins; a base's own bases come before
    it), else fast-reid's default."""
    opts = list(opts)
    for key, value in reversed(list(zip(opts[::2], opts[1::2]))):
        if key == "MODEL.META_ARCHITECTURE":
            return str(value)
    found = _meta_architecture_in(os.path.abspath(config_file), config_file, ())
    return FASTREID_DEFAULT_META_ARCH if found is None else found


def _meta_architecture_in(path: str, config_file: str, chain: Tuple[str, ...]) -> Optional[str]:
    if path in chain:
        raise ValueError(f"config file {config_file!r}: _BASE_ chain loops through {path!r}")
    data = _read_yaml(path)
    model = data.get("MODEL") or {}
    if isinstance(model, dict) and "META_ARCHITECTURE" in model:
        return str(model["META_ARCHITECTURE"])
    base = data.get("_BASE_")
    bases = base if isinstance(base, list) else [base] if base else []
    for name in reversed(bases):  # the last base merged wins
        if not isinstance(name, str):
            raise ValueError(f"config file {path!r}: _BASE_ must be a file name or a list of file names, got {base!r}")
        found = _meta_architecture_in(os.path.abspath(os.path.join(os.path.dirname(path), name)), config_file,
                                      chain + (path,))
        if found is not None:
            return found
    return None


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
