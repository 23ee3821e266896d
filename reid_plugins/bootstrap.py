"""When the compat patches and the registrations run: on first use of fast-reid, torchvision or open_clip.

``import reid_plugins`` is light (no torch, no fast-reid), so that every ``python -m reid_plugins.<cli> --help``
answers at once. It installs :class:`_SetupOnFirstImport` on ``sys.meta_path``; the first import of ``fastreid``,
``torchvision`` or ``open_clip`` (from anywhere: our modules, a train_net.py, a test, the user's script) then runs

1. the import-time patches of :mod:`reid_plugins.compat` (``collections_abc``, ``torch_six``, ``torchvision_ops``)
   *before* that module's own code, which needs them, and
2. once its code has run, the runtime patches and the registrations (datasets into fast-reid's DATASET_REGISTRY,
   evaluators into EVALUATOR_REGISTRY): :func:`setup`.

So ``import reid_plugins`` followed by any fast-reid use works as before, and nothing can see an unpatched fast-reid.
``reid_plugins.setup()`` does all of it at once, explicitly (idempotent). If one of the three modules was imported
before ``reid_plugins``, importing ``reid_plugins`` runs :func:`setup` at once (the import-time patches may then be
too late, as they always were in that order).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading

TRIGGERS = ("fastreid", "torchvision", "open_clip")  # top-level packages that need the patches first
# Imported by setup(): registering their contents into fast-reid's registries is what importing them does.
REGISTERING_MODULES = ("reid_plugins.data.datasets", "reid_plugins.evaluation")

_lock = threading.RLock()
_state = {"done": False, "running": False}


def setup() -> list:
    """Apply every compat patch and register our datasets and evaluators (idempotent); returns the applied patches."""
    from . import compat

    with _lock:
        if _state["done"] or _state["running"]:
            return list(compat.APPLIED)
        _state["running"] = True
        _uninstall()
        try:
            applied = compat.apply()
            for name in REGISTERING_MODULES:
                importlib.import_module(name)
            _state["done"] = True
        finally:
            _state["running"] = False
    return applied


class _RunSetupAfterExec(importlib.abc.Loader):
    """Wraps the real loader of a trigger module: its code runs unchanged, then setup()."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self.loader  # the module keeps its real loader (resources, source look-ups)
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        setup()

    def __getattr__(self, name):  # get_source, is_package, get_resource_reader, ... of the real loader
        return getattr(self.loader, name)


class _SetupOnFirstImport(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in TRIGGERS or _state["done"] or _state["running"]:
            return None
        from . import compat

        with _lock:
            _uninstall()
            compat.apply_import_time()
            spec = importlib.util.find_spec(fullname)  # the other finders (this one is no longer installed)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _RunSetupAfterExec(spec.loader)
        return spec


_FINDER = _SetupOnFirstImport()


def install() -> None:
    """Called by ``import reid_plugins``: set up on the first import of a trigger (or now if one is loaded)."""
    from . import compat

    compat.check_disabled_names()  # a misspelt REID_PLUGINS_COMPAT_DISABLE fails at once, not at first use
    if _state["done"]:
        return
    if any(name in sys.modules for name in TRIGGERS):
        setup()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def _uninstall() -> None:
    while _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
