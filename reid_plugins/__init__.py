"""fast-reid plugins: MUVA (domain-generalizable image Re-ID) and BDAM (text-to-image Re-ID).

Importing this package is light: it imports neither torch nor fast-reid. The fast-reid compat patches
(:mod:`reid_plugins.compat`) and the registrations of our datasets and evaluators run on the first import of
``fastreid``, ``torchvision`` or ``open_clip`` that follows (see :mod:`reid_plugins.bootstrap`), or explicitly with
:func:`setup`. It also makes the project packages (``muva``, ``bdam``) importable from the source tree
(:mod:`reid_plugins.projects`). Subpackages are imported on first attribute access (``reid_plugins.evaluation``).
"""
import importlib as _importlib

from .bootstrap import install as _install
from .bootstrap import setup  # noqa: F401  (reid_plugins.setup())
from .projects import install_finder as _install_finder

_install()
_install_finder()

__version__ = "0.1.0"
__all__ = ["setup", "__version__"]

_SUBMODULES = ("bootstrap", "compat", "config", "captioning", "data", "engine", "evaluation", "experiments", "grounding",
               "inference", "lazy", "losses", "modeling", "projects", "solver", "utils", "zoo")


def __getattr__(name):
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
