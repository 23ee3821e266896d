"""Lazy package exports: a package's names are imported from their submodules on first use (PEP 562), so that
importing the package (a CLI's --help) does not import what the submodules need."""
import importlib
from typing import Callable, Dict, List, Sequence, Tuple


def lazy_exports(package: str, exports: Dict[str, Sequence[str]]) -> Tuple[Callable[[str], object], List[str]]:
    """({submodule: names}) -> (the package's module-level __getattr__, its __all__). A module written with leading
    dots is resolved as in a relative import (``"..utils.journal"``), for a name re-exported from elsewhere."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        if name in module_of:
            module = module_of[name]
            return getattr(importlib.import_module(module if module.startswith(".") else f".{module}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, list(module_of)
