"""The optional heavy packages (setup.cfg's extras) and the one way to import them.

fast-reid baselines with our datasets and evaluator need none of them, so they are extras rather than install
requirements, and every module that needs one imports it through `require` where it is used: a missing package is
an ImportError that says which extra installs it, not a bare "No module named ...".
"""
from __future__ import annotations

import importlib
from types import ModuleType

# import name -> (distribution on PyPI, the extra in setup.cfg that installs it). tests/reid_plugins/utils/
# test_extras.py checks that setup.cfg declares exactly these extras and that "all" holds every one.
EXTRAS = {
    "open_clip": ("open_clip_torch", "clip"),
    "openai": ("openai", "mllm"),
    "transformers": ("transformers", "hf"),
}


def require(module: str, needed_by: str) -> ModuleType:
    """``importlib.import_module(module)`` for a module of one of the EXTRAS packages (``"open_clip.loss"``).

    When that package is not installed: ImportError "<needed_by> needs <distribution> ...: pip install
    'reid_plugins[<extra>]'". Any other ImportError (the package is there but broken, or one of its own
    dependencies is missing) propagates unchanged, since installing the extra again would not fix it."""
    package = module.partition(".")[0]
    if package not in EXTRAS:
        raise ValueError(f"{module!r} is not in a package of reid_plugins.utils.extras.EXTRAS {sorted(EXTRAS)}")
    distribution, extra = EXTRAS[package]
    try:
        importlib.import_module(package)
    except ModuleNotFoundError as e:
        if e.name != package:
            raise
        raise ImportError(f"{needed_by} needs the optional package {distribution!r}, which is not installed: "
                          f"pip install 'reid_plugins[{extra}]' (in a checkout: pip install -e '.[{extra}]'; "
                          f"'[all]' installs every extra)", name=package) from e
    return importlib.import_module(module)
