"""fast-reid plugins: MUVA (domain-generalizable image Re-ID) and BDAM (text-to-image Re-ID).

Importing this package first applies :mod:`reid_plugins.compat` (fast-reid 1.4.0 on Python 3.11 / torch 2.x / CPU),
then registers the datasets and evaluators into fast-reid's registries.
"""
from . import compat

compat.apply()

from . import data  # noqa: E402,F401  (registers datasets)
from . import evaluation  # noqa: E402,F401  (registers evaluators)

__version__ = "0.1.0"
