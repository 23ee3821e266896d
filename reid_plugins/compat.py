"""The fixes that let fast-reid 1.4.0 run on Python 3.11, torch 2.x, numpy 2.x and CPU-only machines, and give its
dataset readers and loaders errors and settings this project relies on.

fast-reid is installed unmodified (``pip install --no-deps fastreid==1.4.0``); every change to its modules' and
classes' state is made here by monkeypatching, never by editing fast-reid's files, and nowhere else in the package
(hooks on one of our own trainer instances, such as reid_plugins.engine.guards.install_nonfinite_loss_guard, are not
patches of fast-reid). The patches run once, on the first import of ``fastreid``,
``torchvision`` or ``open_clip`` after ``import reid_plugins`` (the import-time ones before that module's code, the
others right after it; see :mod:`reid_plugins.bootstrap`), or at ``reid_plugins.setup()``.

Each patch is a function registered in :data:`PATCHES` with the failure it fixes. Setting the environment variable
``REID_PLUGINS_COMPAT_DISABLE=name[,name...]`` skips patches by name; the test-suite uses this to show that every
patch is needed (the failure comes back without it) and that it works.
"""
from __future__ import annotations

import collections
import collections.abc
import logging
import os
import sys
import types
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Patch:
    name: str
    fixes: str
    apply: Callable[[], bool]  # returns True when it changed something


PATCHES: Dict[str, Patch] = {}
APPLIED: List[str] = []
_KEEP_ALIVE: list = []  # torch.library handles whose definitions vanish if garbage-collected


def _patch(name: str, fixes: str):
    def register(fn: Callable[[], bool]) -> Callable[[], bool]:
        PATCHES[name] = Patch(name, fixes, fn)
        return fn

    return register


def _disabled() -> set:
    return {n.strip() for n in os.environ.get("REID_PLUGINS_COMPAT_DISABLE", "").split(",") if n.strip()}


# --------------------------------------------------------------------------------------------------------------------
# Import-time patches: without them `from fastreid.engine import DefaultTrainer` (or `import open_clip`) fails.
# --------------------------------------------------------------------------------------------------------------------
@_patch("collections_abc", "fastreid imports Mapping/Sequence from `collections` (removed in Python 3.10): ImportError")
def _collections_abc() -> bool:
    changed = False
    for name in ("Mapping", "MutableMapping", "Sequence", "MutableSequence", "Iterable", "Iterator", "Callable",
                 "Set", "MutableSet", "Hashable", "Sized", "Container"):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
            changed = True
    return changed


@_patch("torch_six", "fastreid/data/build.py does `from torch._six import string_classes` (removed in torch 2.0)")
def _torch_six() -> bool:
    try:
        import torch._six  # noqa: F401
        return False
    except ImportError:
        pass
    import math

    six = types.ModuleType("torch._six")
    six.string_classes = (str, bytes)
    six.int_classes = int
    six.inf = math.inf
    six.nan = math.nan
    sys.modules["torch._six"] = six
    return True


@_patch("torchvision_ops",
        "the only torchvision wheels for torch 2.13 are CUDA builds whose _C.so cannot load beside CPU torch; "
        "torchvision's meta registrations then fail with `operator torchvision::nms does not exist`, "
        "which breaks `import torchvision`, `import open_clip` and fastreid's transforms")
def _torchvision_ops() -> bool:
    if "torchvision" in sys.modules:
        return False
    import importlib.util

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    tv_dir = list(spec.submodule_search_locations)[0]
    for fname in sorted(os.listdir(tv_dir)):
        if fname.startswith("_C") and fname.endswith(".so"):
            try:
                torch.ops.load_library(os.path.join(tv_dir, fname))
                return False  # a matching build: nothing to fix
            except (OSError, RuntimeError):
                break
    # Declare the schemas torchvision's Python side registers meta kernels for. The compiled kernels stay
    # unavailable (nms/roi_align raise if called); nothing in fastreid, open_clip or this project calls them.
    lib = torch.library.Library("torchvision", "FRAGMENT")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _KEEP_ALIVE.append(lib)
    return True


# --------------------------------------------------------------------------------------------------------------------
# Runtime patches: fastreid imports, but training / evaluation breaks on CPU.
# --------------------------------------------------------------------------------------------------------------------
def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@_patch("cpu_dataloader",
        "fastreid's DataLoaderX creates torch.cuda.Stream and calls torch.cuda.set_device in its prefetch thread: "
        "`RuntimeError: ... requires CUDA` on CPU; it also hard-codes pin_memory=True")
def _cpu_dataloader() -> bool:
    if _cuda_available():
        return False
    import torch.utils.data
    import fastreid.data.build as build
    import fastreid.data.data_utils as data_utils

    class CPUDataLoader(torch.utils.data.DataLoader):
        """Drop-in for DataLoaderX on CPU: same signature, no CUDA streams, no pinned memory."""

        def __init__(self, local_rank, **kwargs):
            kwargs["pin_memory"] = False
            if kwargs.get("num_workers", 0) > 0:
                kwargs.setdefault("persistent_workers", False)
            super().__init__(**kwargs)
            self.local_rank = local_rank

    build.DataLoaderX = CPUDataLoader
    data_utils.DataLoaderX = CPUDataLoader
    return True


@_patch("cython_rank_no_exit",
        "ReidEvaluator.__init__ runs `make` in site-packages with the system python when the Cython ranker is "
        "missing and calls sys.exit(1) if that fails, killing training")
def _cython_rank_no_exit() -> bool:
    from fastreid.evaluation import reid_evaluation

    def _compile_dependencies(self):
        try:
            from fastreid.evaluation.rank_cylib.rank_cy import evaluate_cy  # noqa: F401
        except ImportError:
            # fastreid.evaluation.rank falls back to its pure-python ranker with a warning.
            logger.info("fastreid's Cython ranker is not built; its python fallback is used")

    reid_evaluation.ReidEvaluator._compile_dependencies = _compile_dependencies
    return True


@_patch("cpu_jaccard_rerank",
        "TEST.RERANK calls compute_jaccard_distance(search_option=0), which moves features to CUDA and uses faiss-GPU")
def _cpu_jaccard_rerank() -> bool:
    if _cuda_available():
        return False
    from fastreid.evaluation import reid_evaluation
    from fastreid.utils import compute_dist

    original = compute_dist.build_dist
    if getattr(original, "_reid_plugins_cpu", False):
        return False

    def build_dist(feat_1, feat_2, metric="euclidean", **kwargs):
        if metric == "jaccard":
            import torch

            feat = torch.cat((feat_1, feat_2), dim=0)
            # search_option=3: faiss IndexFlatL2 on the CPU
            dist = compute_dist.compute_jaccard_distance(feat, k1=kwargs["k1"], k2=kwargs["k2"], search_option=3)
            return dist[: feat_1.size(0), feat_1.size(0):]
        return original(feat_1, feat_2, metric, **kwargs)

    build_dist._reid_plugins_cpu = True
    compute_dist.build_dist = build_dist
    reid_evaluation.build_dist = build_dist
    return True


@_patch("out_of_place_preprocess",
        "Baseline.preprocess_image normalises inputs['images'] in place, so TEST.FLIP's flipped copy "
        "(evaluation/evaluator.py) is normalised twice and flip-test features are wrong")
def _out_of_place_preprocess() -> bool:
    import torch
    from fastreid.modeling.meta_arch.baseline import Baseline

    def preprocess_image(self, batched_inputs):
        if isinstance(batched_inputs, dict):
            images = batched_inputs["images"]
        elif isinstance(batched_inputs, torch.Tensor):
            images = batched_inputs
        else:
            raise TypeError(f"batched_inputs must be a dict or torch.Tensor, got {type(batched_inputs)}")
        images = images.to(self.pixel_mean.device)
        return (images - self.pixel_mean) / self.pixel_std

    Baseline.preprocess_image = preprocess_image
    return True


@_patch("contiguous_params_zero_grad",
        "build_optimizer(contiguous=True) trains from views into one flat grad buffer, but torch>=2's "
        "zero_grad() sets grads to None, so the optimizer steps on buffers that never get a gradient: "
        "no weight is ever updated. Contiguous buffers are only a speed trick, so they are switched off")
def _contiguous_params_zero_grad() -> bool:
    import functools
    import importlib

    solver_build = importlib.import_module("fastreid.solver.build")
    original = solver_build.build_optimizer
    if getattr(original, "_reid_plugins_non_contiguous", False):
        return False

    @functools.wraps(original)
    def build_optimizer(cfg, model, contiguous=False):
        return original(cfg, model, contiguous=contiguous)

    build_optimizer._reid_plugins_non_contiguous = True
    for module_name in ("fastreid.solver.build", "fastreid.solver", "fastreid.engine.defaults"):
        setattr(importlib.import_module(module_name), "build_optimizer", build_optimizer)
    return True


@_patch("read_image_rgb",
        "fastreid's read_image keeps the file's mode (RGBA / CMYK / LA give 4 or 2 channels, palette images their "
        "indices) and a truncated or corrupt file fails without its name; images are read as RGB and errors name "
        "the file")
def _read_image_rgb() -> bool:
    import fastreid.data.common as common
    import fastreid.data.data_utils as data_utils

    original = data_utils.read_image
    if getattr(original, "_reid_plugins_rgb", False):
        return False

    def read_image(file_name, format=None):
        try:
            return original(file_name, format or "RGB")
        except (OSError, ValueError, SyntaxError) as e:
            raise OSError(f"cannot read image {file_name!r}: {type(e).__name__}: {e} "
                          f"(expected an image file PIL can decode)") from e

    read_image._reid_plugins_rgb = True
    data_utils.read_image = common.read_image = read_image
    return True


@_patch("market_duke_file_names",
        "fast-reid's Market1501 / DukeMTMC loaders parse every file name with an assert-guarded regex: a badly named "
        "file fails with `'NoneType' object has no attribute 'groups'`, a camera out of range (Market c7) with a bare "
        "AssertionError, neither naming the file; the names are checked first and the error names file and rule")
def _market_duke_file_names() -> bool:
    import glob
    import re

    from fastreid.data.datasets.dukemtmcreid import DukeMTMC
    from fastreid.data.datasets.market1501 import Market1501

    # fast-reid's own rules (market1501.py / dukemtmcreid.py): pattern, camera range, pid range (None: any)
    rules = {Market1501: ((1, 6), (0, 1501), "<pid>_c<camera>s<seq>_<frame>_<n>.jpg, e.g. 0002_c1s1_000451_03.jpg"),
             DukeMTMC: ((1, 8), None, "<pid>_c<camera>_f<frame>.jpg, e.g. 0005_c2_f0046985.jpg")}
    pattern = re.compile(r"([-\d]+)_c(\d)")
    changed = False
    for cls, (cams, pids, example) in rules.items():
        original = cls.process_dir
        if getattr(original, "_reid_plugins_names", False):
            continue

        def process_dir(self, dir_path, is_train=True, _original=original, _cams=cams, _pids=pids, _example=example,
                        _cls=cls):
            for path in sorted(glob.glob(os.path.join(dir_path, "*.jpg"))):
                problem = _file_name_problem(os.path.basename(path), pattern, _cams, _pids)
                if problem:
                    from reid_plugins.data.datasets.market_layout import DatasetLayoutError

                    raise DatasetLayoutError(f"{_cls.__name__}: file {path!r} {problem}; {_cls.__name__} names "
                                             f"files {_example}")
            return _original(self, dir_path, is_train)

        process_dir._reid_plugins_names = True
        cls.process_dir = process_dir
        changed = True
    return changed


def _file_name_problem(name: str, pattern, cams, pids) -> str:
    match = pattern.search(name)
    if match is None:
        return "does not match <pid>_c<camera>"
    try:
        pid, cam = int(match.group(1)), int(match.group(2))
    except ValueError:
        return f"has no integer person id before _c ({match.group(1)!r})"
    if not cams[0] <= cam <= cams[1]:
        return f"has camera c{cam}, outside c{cams[0]}-c{cams[1]}"
    if pids is not None and pid != -1 and not pids[0] <= pid <= pids[1]:
        return f"has person id {pid}, outside -1 (junk) and {pids[0]}-{pids[1]}"
    return ""


# fast-reid's own dataset classes, patched by dataset_layout_errors: (module in fastreid.data.datasets, class) ->
# the layout its error message states.
FASTREID_DATASET_LAYOUTS = {
    ("market1501", "Market1501"):
        "<root>/Market-1501-v15.09.15/{bounding_box_train,bounding_box_test,query}/<pid>_c<cam>s<seq>_<frame>_<n>.jpg "
        "(or the three folders directly under <root>)",
    ("dukemtmcreid", "DukeMTMC"):
        "<root>/DukeMTMC-reID/{bounding_box_train,bounding_box_test,query}/<pid>_c<cam>_f<frame>.jpg",
    ("msmt17", "MSMT17"):
        "<root>/MSMT17_V1/{train,test}/<pid>/<pid>_<n>_<cam>_<...>.jpg with <root>/MSMT17_V1/list_{train,val,"
        "query,gallery}.txt (lines '<pid>/<file> <pid>'); or MSMT17_V2 with mask_train_v2/mask_test_v2",
}
# What fast-reid's readers raise for a missing folder or file, or a file name their parser cannot read.
_LAYOUT_FAILURES = (AssertionError, RuntimeError, FileNotFoundError, AttributeError, ValueError)


@_patch("dataset_layout_errors",
        "fast-reid's Market1501 / DukeMTMC / MSMT17 report a missing or mislaid dataset as a bare `AssertionError: "
        "Dataset folder not found` (MSMT17), `RuntimeError: '<path>' is not found` (Market1501 / DukeMTMC, when "
        "`.train` is first read) or `FileNotFoundError` on a list file, none of them saying which layout is "
        "expected; each becomes a DatasetLayoutError naming the root (or folder) and the expected layout")
def _dataset_layout_errors() -> bool:
    import importlib

    changed = False
    for (module_name, class_name), layout in FASTREID_DATASET_LAYOUTS.items():
        cls = getattr(importlib.import_module(f"fastreid.data.datasets.{module_name}"), class_name)
        if not cls.__dict__.get("_reid_plugins_layout_errors", False):
            _add_layout_errors(cls, layout)
            changed = True
    return changed


def _add_layout_errors(cls, layout: str) -> None:
    import contextlib
    import functools

    init, process_dir = cls.__init__, cls.process_dir

    @contextlib.contextmanager
    def layout_failures(what: str):
        """A parse failure inside becomes DatasetLayoutError naming `what` and the expected layout (one that already
        names the file and the rule, from market_duke_file_names, passes unchanged)."""
        try:
            yield
        except _LAYOUT_FAILURES as e:
            layout_error = _dataset_layout_error()
            if isinstance(e, layout_error):
                raise
            raise layout_error(f"{cls.__name__}: {what} ({type(e).__name__}: {e}). Expected layout: {layout}") from e

    @functools.wraps(init)
    def __init__(self, root="datasets", **kwargs):
        with layout_failures(f"cannot read the dataset under root {root!r}"):
            init(self, root=root, **kwargs)

    @functools.wraps(process_dir)
    def wrapped_process_dir(self, dir_path, *args, **kwargs):
        with layout_failures(f"cannot parse the images in {dir_path!r}"):
            return process_dir(self, dir_path, *args, **kwargs)

    cls.__init__ = __init__
    cls.process_dir = wrapped_process_dir
    cls._reid_plugins_layout_errors = True


def _dataset_layout_error() -> type:
    # Imported when raised: reid_plugins.data.datasets registers our datasets on import, which compat must not do.
    from reid_plugins.data.datasets.market_layout import DatasetLayoutError

    return DatasetLayoutError


@_patch("dataset_root_from_cfg",
        "fast-reid's loaders build every dataset with root=fastreid.data.build._root, read from $FASTREID_DATASETS "
        "once, when fastreid.data is imported: DATASETS.ROOT is ignored (and so is the variable when set after "
        "that import); the loaders now take the root from the config they are given (reid_plugins.data.root."
        "dataset_root)")
def _dataset_root_from_cfg() -> bool:
    import functools

    import fastreid.data.build as build

    from reid_plugins.data.root import dataset_root

    changed = False
    for builder_name, from_config_name in (("build_reid_train_loader", "_train_loader_from_config"),
                                           ("build_reid_test_loader", "_test_loader_from_config")):
        original = getattr(build, from_config_name)
        if getattr(original, "_reid_plugins_root", False):
            continue

        def from_config(cfg, *args, _original=original, **kwargs):
            saved, build._root = build._root, dataset_root(cfg)  # the global fast-reid's function reads
            try:
                return _original(cfg, *args, **kwargs)
            finally:
                build._root = saved

        functools.update_wrapper(from_config, original)  # configurable reads the argument names from the signature
        from_config._reid_plugins_root = True
        setattr(build, from_config_name, from_config)
        # @configurable(from_config=...) keeps the function in the builder's closure, not in a module attribute.
        builder = getattr(build, builder_name)
        builder.__closure__[builder.__code__.co_freevars.index("from_config")].cell_contents = from_config
        changed = True
    return changed


@_patch("cpu_ddp_device_ids",
        "DefaultTrainer wraps the model in DistributedDataParallel(device_ids=[local_rank]) when world_size > 1; "
        "on CPU modules torch refuses: `ValueError: DistributedDataParallel device_ids and output_device arguments "
        "only work with single-device/multiple-device GPU modules or CPU modules, but got device_ids [0]`")
def _cpu_ddp_device_ids() -> bool:
    if _cuda_available():
        return False
    import fastreid.engine.defaults as defaults

    if getattr(defaults.DistributedDataParallel, "_reid_plugins_cpu", False):
        return False
    ddp = defaults.DistributedDataParallel

    def cpu_ddp(module, device_ids=None, **kwargs):
        # fastreid's comment at this call asks for find_unused_parameters=True (parameters a step leaves without a
        # gradient would make DDP wait forever) but its call does not pass it.
        kwargs.setdefault("find_unused_parameters", True)
        return ddp(module, device_ids=None, **kwargs)

    cpu_ddp._reid_plugins_cpu = True
    defaults.DistributedDataParallel = cpu_ddp
    return True


@_patch("metric_printer_short_runs",
        "fast-reid's CommonMetricPrinter estimates the ETA from the iterations since its last write before the "
        "timer has 3 iterations; writing twice at one iteration (end of step and end of epoch, runs or resumed "
        "runs of fewer than 3 iterations) divides by zero: `ZeroDivisionError: float division by zero`")
def _metric_printer_short_runs() -> bool:
    from fastreid.utils.events import CommonMetricPrinter, get_event_storage

    original = CommonMetricPrinter.write
    if getattr(original, "_reid_plugins_short_runs", False):
        return False

    def write(self):
        last = getattr(self, "_last_write", None)
        if last is not None and last[0] == get_event_storage().iter:
            self._last_write = None  # no iteration since the last write: no ETA estimate this time
        return original(self)

    write._reid_plugins_short_runs = True
    CommonMetricPrinter.write = write
    return True


@_patch("cpu_distributed_launch",
        "fastreid's launch() asserts CUDA and forces the NCCL backend when world_size > 1; on CPU this uses gloo "
        "so `--num-gpus N` (N processes) and multi-machine runs work")
def _cpu_distributed_launch() -> bool:
    if _cuda_available():
        return False
    import importlib

    # `import fastreid.engine.launch as m` would bind the function: fastreid.engine re-exports `launch` under the
    # module's own name.
    launch_mod = importlib.import_module("fastreid.engine.launch")

    launch_mod._distributed_worker = _gloo_distributed_worker
    return True


def _gloo_distributed_worker(local_rank, main_func, world_size, num_procs_per_machine, machine_rank, dist_url, args):
    """fastreid.engine.launch._distributed_worker without the CUDA assertion, on the gloo backend. Module-level so
    that torch.multiprocessing.spawn can pickle it by reference."""
    import torch.distributed as dist
    from fastreid.utils import comm

    global_rank = machine_rank * num_procs_per_machine + local_rank
    dist.init_process_group(backend="gloo", init_method=dist_url, world_size=world_size, rank=global_rank)
    comm.synchronize()
    assert comm._LOCAL_PROCESS_GROUP is None
    num_machines = world_size // num_procs_per_machine
    for i in range(num_machines):
        pg = dist.new_group(list(range(i * num_procs_per_machine, (i + 1) * num_procs_per_machine)))
        if i == machine_rank:
            comm._LOCAL_PROCESS_GROUP = pg
    try:
        main_func(*args)
    finally:
        dist.destroy_process_group()


IMPORT_TIME = ("collections_abc", "torch_six", "torchvision_ops")


def check_disabled_names() -> set:
    """The patch names in ``REID_PLUGINS_COMPAT_DISABLE``; unknown names raise."""
    disabled = _disabled()
    unknown = disabled - set(PATCHES)
    if unknown:
        raise ValueError(f"REID_PLUGINS_COMPAT_DISABLE names unknown patches {sorted(unknown)}; "
                         f"known: {sorted(PATCHES)}")
    return disabled


def apply_import_time() -> List[str]:
    """Only the patches that must precede the first import of fastreid / torchvision / open_clip (they import torch,
    not those). Idempotent."""
    return _apply(IMPORT_TIME)


def apply() -> List[str]:
    """Apply every patch not disabled through ``REID_PLUGINS_COMPAT_DISABLE``; returns the names that changed
    something. Idempotent. Order matters: the import-time fixes come before the runtime patches import fastreid."""
    return _apply(list(IMPORT_TIME) + [n for n in PATCHES if n not in IMPORT_TIME])


_DONE: set = set()  # patches already run (whether or not they changed something)


def _apply(names) -> List[str]:
    disabled = check_disabled_names()
    with warnings.catch_warnings():
        # fastreid.evaluation.rank warns once when its Cython ranker is absent; our evaluator does not use it.
        warnings.filterwarnings("ignore", message="Cython .* unavailable")
        for name in names:
            if name in disabled or name in _DONE:
                continue
            if PATCHES[name].apply():
                APPLIED.append(name)
            _DONE.add(name)
    return list(APPLIED)
