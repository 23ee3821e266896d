"""The model inside a DistributedDataParallel / DataParallel wrapper (fast-reid's trainer wraps it when training
on more than one process); anything else is returned as it is."""
from __future__ import annotations


def unwrap_model(model):
    return getattr(model, "module", model)
