"""Fixtures shared by the MUVA tests that train on the tiny synthetic preset."""
import pytest
import torch

from reid_plugins.data.synthetic import ensure_generated


@pytest.fixture
def one_thread():
    # batches of 8 tiny images: a second intra-op thread gains nothing and, on a busy shared CPU, its barriers cost
    # more than the work (measured at load average ~6: 141 s with 2 threads, 29 s with 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """The tiny synthetic benchmark (4 domains), generated once per test session."""
    root = str(tmp_path_factory.mktemp("synth"))
    ensure_generated(root, preset="tiny", seed=0, progress=False, preview=False)
    return root
