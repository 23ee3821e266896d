"""Checkpointing that survives kills and refuses the wrong file.

fast-reid's Checkpointer writes `model_best.pth` / `model_final.pth` in place (a kill mid-write corrupts the file it
overwrites), loads with an implicit `torch.load` and silently skips every key that does not match, so a checkpoint of
another model "loads" into random weights. `PluginCheckpointer` keeps its API and file names and changes exactly that:
atomic writes, `weights_only=True`, and an error when too little of the model is covered by the file.

`RNGState` and `ResumableSampler` make a resumed CPU run continue with the same random numbers and the same batches as
an uninterrupted one (with DATALOADER.NUM_WORKERS 0: worker processes draw their own seeds on every restart).
"""
from __future__ import annotations

import itertools
import logging
import os
import random
from typing import Iterator, Optional

import numpy as np
import torch
from fastreid.utils.checkpoint import Checkpointer

from ..utils.io import torch_save_atomic, write_text_atomic

logger = logging.getLogger(__name__)


class CheckpointMismatchError(RuntimeError):
    """The checkpoint does not belong to this model."""


class PluginCheckpointer(Checkpointer):
    # Below this fraction of the model's parameters (by element count) found in a checkpoint with matching shapes,
    # loading is refused: it is the checkpoint of another model. Classifier heads sized for another number of
    # identities and new modules stay well above it.
    min_loaded_fraction: float = 0.5

    def save(self, name: str, **kwargs):
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        logger.info("Saving checkpoint to %s", path)
        torch_save_atomic(data, path)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str):
        write_text_atomic(os.path.join(self.save_dir, "last_checkpoint"), last_filename_basename)

    def _load_file(self, f: str):
        return load_checkpoint_file(f)

    def _load_model(self, checkpoint):
        if not isinstance(checkpoint, dict) or "model" not in checkpoint:
            found = sorted(checkpoint)[:10] if isinstance(checkpoint, dict) else type(checkpoint)
            raise CheckpointMismatchError(
                f"checkpoint has no 'model' entry (keys: {found}); expected a fast-reid / reid_plugins checkpoint")
        state = checkpoint["model"]
        own = self.model.state_dict()
        total = sum(v.numel() for v in own.values()) or 1
        loaded = 0
        for key, value in state.items():
            key = key[len("module."):] if key.startswith("module.") else key
            if key in own and tuple(own[key].shape) == tuple(getattr(value, "shape", ())):
                loaded += own[key].numel()
        if loaded / total < self.min_loaded_fraction:
            missing = [k for k in own if k not in state][:5]
            raise CheckpointMismatchError(
                f"checkpoint covers only {100 * loaded / total:.1f}% of {type(self.model).__name__}'s parameters "
                f"(need >= {100 * self.min_loaded_fraction:.0f}%): it is the checkpoint of another model. "
                f"Missing e.g. {missing}; the checkpoint has e.g. {list(state)[:5]}")
        return super()._load_model(checkpoint)


def load_checkpoint_file(path: str):
    """torch.load(weights_only=True) on the CPU; a corrupt or unsafe file raises CheckpointMismatchError naming it."""
    try:
        return torch.load(path, map_location=torch.device("cpu"), weights_only=True)
    except Exception as e:  # noqa: BLE001  (torch raises several types for corrupt / unsafe files)
        raise CheckpointMismatchError(
            f"cannot load checkpoint {path!r} with torch.load(weights_only=True): {type(e).__name__}: {e}. "
            f"Expected a fast-reid / reid_plugins checkpoint (a dict with a 'model' state dict).") from e


def checkpoint_rows(path: str, key: str) -> int:
    """First dimension of `key` in the checkpoint's model state (e.g. the number of identities of its classifier);
    0 when the entry is absent."""
    state = load_checkpoint_file(path)
    weight = state.get("model", {}).get(key) if isinstance(state, dict) else None
    return int(weight.shape[0]) if isinstance(weight, torch.Tensor) and weight.dim() > 0 else 0


class RNGState:
    """Checkpointable: the global torch / numpy / python RNG states at save time."""

    def state_dict(self):
        np_state = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            # numpy's state as tensors/ints so that weights_only loading accepts it
            "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "numpy_meta": [int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": _python_state_to_tensor(random.getstate()),
        }

    def load_state_dict(self, state):
        self._pending = state  # applied by restore(), once the data iterator is rebuilt (that draws a number)

    def restore(self) -> bool:
        state = getattr(self, "_pending", None)
        if state is None:
            return False
        torch.set_rng_state(state["torch"])
        pos, has_gauss, cached = state["numpy_meta"]
        np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), int(pos), int(has_gauss),
                             float(cached)))
        random.setstate(_python_state_from_tensor(state["python"]))
        self._pending = None
        return True


def _python_state_to_tensor(state):
    version, internal, gauss = state
    return {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss": float("nan") if gauss is None else float(gauss)}


def _python_state_from_tensor(d):
    gauss = None if d["gauss"] != d["gauss"] else d["gauss"]
    return d["version"], tuple(int(x) for x in d["internal"].tolist()), gauss


class ResumableSampler(torch.utils.data.Sampler):
    """Wraps fast-reid's infinite training samplers; `skip` indices are drawn and dropped before the first yield, so
    a run resumed at epoch e sees the batches an uninterrupted run sees from epoch e on."""

    def __init__(self, sampler, skip: int = 0):
        self.sampler = sampler
        self.skip = int(skip)

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self):  # infinite samplers have no length; keep the wrapped behaviour
        return len(self.sampler)


def fast_forward_loader(data_loader, consumed_batches: int, batch_size: Optional[int] = None) -> None:
    """Make `data_loader` (a fast-reid train loader built on a BatchSampler) resume after `consumed_batches`."""
    batch_sampler = data_loader.batch_sampler
    inner = batch_sampler.sampler
    if isinstance(inner, ResumableSampler):
        inner = inner.sampler
    batch_size = batch_size or batch_sampler.batch_size
    batch_sampler.sampler = ResumableSampler(inner, consumed_batches * batch_size)
