"""Checks that turn silent or cryptic failures of a training run into errors that say what happened and what is safe.

- `install_nonfinite_loss_guard`: fast-reid raises `FloatingPointError("Loss became infinite or NaN at
  iteration=N! loss_dict = {...}")` on rank 0 only, after gathering the losses of all ranks, and does not say which loss
  broke or whether anything on disk was affected. The guard checks each process's own losses before that, names the
  non-finite ones, the iteration and epoch, and the last checkpoint (the failing step's optimizer update has not been
  applied, and nothing is written: fast-reid's checkpointer hook saves at epoch ends only).
- `check_query_gallery`: a test set without query or gallery images otherwise fails deep inside the evaluator.
"""
from __future__ import annotations

import math
import os
import weakref
from typing import Dict

import torch


def nonfinite_losses(loss_dict: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """{name: value} of the losses that are NaN or infinite."""
    bad = {}
    for name, value in loss_dict.items():
        v = float(value.detach().float().sum()) if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(v):
            bad[name] = v
    return bad


def last_checkpoint(checkpointer) -> str:
    """Path of the checkpoint `--resume` would load, or a sentence saying there is none."""
    try:
        if checkpointer.save_dir and checkpointer.has_checkpoint():
            return checkpointer.get_checkpoint_file()
    except OSError:
        pass
    return f"none in {checkpointer.save_dir or '(no OUTPUT_DIR)'!r} yet"


def nonfinite_loss_message(bad: Dict[str, float], loss_dict, iteration: int, epoch: int, checkpoint: str) -> str:
    values = {k: float(v.detach().float().sum()) if isinstance(v, torch.Tensor) else float(v)
              for k, v in loss_dict.items()}
    return (f"non-finite loss at iteration {iteration} (epoch {epoch}): {bad}; all losses of this process: {values}. "
            f"This step's optimizer update was not applied and no file was written for it; the last checkpoint is "
            f"{checkpoint} (intact). Lower SOLVER.BASE_LR, enable SOLVER.CLIP_GRADIENTS or check this batch's "
            f"inputs, then restart with --resume.")


def install_nonfinite_loss_guard(trainer) -> None:
    """Check the losses in `trainer._trainer._write_metrics`, which fast-reid's SimpleTrainer.run_step (and the
    projects' own run_step) call after backward() and before optimizer.step()."""
    inner = trainer._trainer
    original = inner._write_metrics
    outer = weakref.proxy(trainer)  # the inner trainer must not keep the outer one alive

    def _write_metrics(loss_dict, data_time, *args, **kwargs):
        bad = nonfinite_losses(loss_dict)
        if bad:
            raise FloatingPointError(nonfinite_loss_message(bad, loss_dict, outer.iter, outer.epoch,
                                                            last_checkpoint(outer.checkpointer)))
        return original(loss_dict, data_time, *args, **kwargs)

    inner._write_metrics = _write_metrics


def check_query_gallery(dataset_name: str, num_query: int, num_images: int) -> None:
    """Evaluation needs at least one query and one gallery image."""
    num_gallery = num_images - num_query
    if num_query < 1 or num_gallery < 1:
        raise ValueError(
            f"test set {dataset_name!r} (DATASETS.TESTS) has {num_query} query and {num_gallery} gallery images; "
            f"evaluation needs at least one of each. Check its query / gallery folders (images with person id -1 "
            f"are junk and dropped); a train-only dataset cannot be a test set.")


def remove_stale_temp_files(folder: str) -> list:
    """Delete `<name>.pth.tmp<pid>` files a killed writer left behind (a SIGKILL skips the writer's cleanup) when
    process <pid> no longer runs; returns the removed paths. Complete checkpoints are never touched."""
    removed = []
    if not folder or not os.path.isdir(folder):
        return removed
    for name in os.listdir(folder):
        stem, sep, pid = name.rpartition(".tmp")
        if sep and pid.isdigit() and (stem.endswith(".pth") or stem == "last_checkpoint") and not _alive(int(pid)):
            path = os.path.join(folder, name)
            os.remove(path)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def check_same_resume_point(start_epochs: list, output_dir: str) -> None:
    """Every process of a distributed run must resume from the same epoch. Otherwise the ranks run different numbers
    of steps and the first collective operation hangs, or parameters silently differ (DDP syncs them only when it
    wraps the model, before the checkpoint is loaded)."""
    if len(set(start_epochs)) > 1:
        by_rank = ", ".join(f"rank {r}: epoch {e}" for r, e in enumerate(start_epochs))
        raise RuntimeError(
            f"--resume found different checkpoints on different processes ({by_rank}) in OUTPUT_DIR "
            f"{output_dir!r}. In a multi-machine run OUTPUT_DIR must be on a filesystem every machine sees (or hold "
            f"the same last_checkpoint and checkpoint file on each).")
