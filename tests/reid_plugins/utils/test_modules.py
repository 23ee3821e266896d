"""unwrap_model: the module inside a (Distributed)DataParallel wrapper, anything else unchanged."""
import torch.nn as nn

from reid_plugins.utils.modules import unwrap_model


def test_unwraps_data_parallel_and_keeps_bare_models():
    inner = nn.Linear(2, 2)
    assert unwrap_model(nn.DataParallel(inner)) is inner  # DataParallel and DDP both keep it in .module
    assert unwrap_model(inner) is inner
    wrapper = nn.Module()
    wrapper.module = inner
    assert unwrap_model(wrapper) is inner
