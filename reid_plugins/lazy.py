"""Lazy package exports: a package's names are imported from their submodules on first use (PEP 562), so that
importing the package (a CLI's --help) does not import what the submodules need."""
import importlib
from typing import Callable, Dict, List, Sequence, Tuple


def lazy_exports(package: str, exports: Dict[str, Sequence[str]]) -> Tuple[Callable[[str], object], List[str]]:
    """({submodule: names}) -> (the package's module-level __getattr__, its __all__)."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        if name in module_of:
            return getattr(importlib.import_module(f"{package}.{module_of[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, list(module_of)
