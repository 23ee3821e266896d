import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import reid_plugins  # noqa: E402,F401  (compat patches before any test imports fastreid)


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


@pytest.fixture
def one_thread():
    # small tensors: a second intra-op thread gains nothing and, on a busy shared CPU, its barriers cost more than
    # the work (measured at load average ~6: 141 s with 2 threads, 29 s with 1)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """The tiny synthetic benchmark (every domain), generated once per test session."""
    from reid_plugins.data.synthetic import ensure_generated

    root = str(tmp_path_factory.mktemp("synth"))
    ensure_generated(root, preset="tiny", seed=0, progress=False, preview=False)
    return root
