"""Saving matplotlib figures: one place for the atomic write and the close that every plotting function needs."""
from __future__ import annotations

import os
from typing import Optional

from .io import write_atomic


def save_figure(fig, path: str, dpi: Optional[float] = None) -> str:
    """Writes `fig` to `path` atomically (format from the extension, PNG when there is none), then closes it (the
    figure is closed on an error too); returns `path`. `dpi` None: matplotlib's savefig.dpi."""
    import matplotlib.pyplot as plt

    fmt = os.path.splitext(path)[1][1:].lower() or "png"
    try:
        write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi), binary=True)
    finally:
        plt.close(fig)
    return path
