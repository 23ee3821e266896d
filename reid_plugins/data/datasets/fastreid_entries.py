"""fast-reid's own Market1501 / DukeMTMC / MSMT17 entries, reused as they are, with readable layout errors.

Their native failures are a bare `AssertionError: Dataset folder not found` (MSMT17), `RuntimeError: "<path>" is not
found`, or an `AttributeError` on a badly named file (raised lazily, when `.train` is first read). We wrap their
`__init__` and `process_dir` so each of these becomes a DatasetLayoutError naming the path and the expected layout.

Also registered: `MSMT17Market`, the Market-style conversion of MSMT17 (`MSMT17/{bounding_box_train,
bounding_box_test,query}`) that the MUVA authors' code reads.
"""
from __future__ import annotations

import functools

from fastreid.data.datasets import DATASET_REGISTRY
from fastreid.data.datasets.dukemtmcreid import DukeMTMC
from fastreid.data.datasets.market1501 import Market1501
from fastreid.data.datasets.msmt17 import MSMT17

from .market_layout import DatasetLayoutError, MarketLayoutDataset

EXPECTED_LAYOUTS = {
    Market1501: "<root>/Market-1501-v15.09.15/{bounding_box_train,bounding_box_test,query}/<pid>_c<cam>s<seq>_"
                "<frame>_<n>.jpg (or the three folders directly under <root>)",
    DukeMTMC: "<root>/DukeMTMC-reID/{bounding_box_train,bounding_box_test,query}/<pid>_c<cam>_f<frame>.jpg",
    MSMT17: "<root>/MSMT17_V1/{train,test}/<pid>/<pid>_<n>_<cam>_<...>.jpg with <root>/MSMT17_V1/list_{train,val,"
            "query,gallery}.txt (lines '<pid>/<file> <pid>'); or MSMT17_V2 with mask_train_v2/mask_test_v2",
}
_ERRORS = (AssertionError, RuntimeError, FileNotFoundError, AttributeError, ValueError)


def _add_layout_errors(cls, layout: str) -> None:
    if getattr(cls, "_reid_plugins_layout_errors", False):
        return
    init, process_dir = cls.__init__, cls.process_dir

    @functools.wraps(init)
    def __init__(self, root="datasets", **kwargs):
        try:
            init(self, root=root, **kwargs)
        except DatasetLayoutError:
            raise
        except _ERRORS as e:
            raise DatasetLayoutError(f"{cls.__name__}: cannot read the dataset under root {root!r} ({e}). "
                                     f"Expected layout: {layout}") from e

    @functools.wraps(process_dir)
    def wrapped_process_dir(self, dir_path, *args, **kwargs):
        try:
            return process_dir(self, dir_path, *args, **kwargs)
        except DatasetLayoutError:
            raise
        except _ERRORS as e:
            raise DatasetLayoutError(f"{cls.__name__}: cannot parse the images in {dir_path!r} ({type(e).__name__}: "
                                     f"{e}). Expected layout: {layout}") from e

    cls.__init__ = __init__
    cls.process_dir = wrapped_process_dir
    cls._reid_plugins_layout_errors = True


for _cls, _layout in EXPECTED_LAYOUTS.items():
    _add_layout_errors(_cls, _layout)


@DATASET_REGISTRY.register()
class MSMT17Market(MarketLayoutDataset):
    dataset_dir = "MSMT17"
    dataset_name = "msmt17market"
