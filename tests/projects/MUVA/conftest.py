"""Fixtures shared by the MUVA tests that train on the tiny synthetic preset (synth_root: tests/conftest.py)."""
import pytest
import torch


@pytest.fixture
def one_thread():
    # batches of 8 tiny images: a second intra-op thread gains nothing and, on a busy shared CPU, its barriers cost
    # more than the work (measured at load average ~6: 141 s with 2 threads, 29 s with 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

