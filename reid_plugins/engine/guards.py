"""Checks that turn silent or cryptic failures of a training run into errors that say what happened and what is safe.

- `install_nonfinite_loss_guard`: fast-reid raises `FloatingPointError("Loss became infinite or NaN at
  iteration=N! loss_dict = {...}")` on rank 0 only, after gathering the losses of all ranks, and does not say which loss
  broke or whether anything on disk was affected. The guard checks each process's own losses before that, names the
  non-finite ones, the iteration and epoch, and the last checkpoint (the failing step's optimizer update has not been
  applied, and nothing is written: fast-reid's checkpointer hook saves at epoch ends only).
- `check_query_gallery`: a test set without query or gallery images otherwise fails deep inside the evaluator.
- `check_test_sets`: fast-reid builds the test sets only when it evaluates, after the whole training run; a typo in
  DATASETS.TESTS, a mislaid folder or an unreadable image would crash there. Checked before training instead.
- `check_train_batches`: fast-reid's identity samplers loop forever without yielding a batch when the training set
  has fewer identities than a batch needs, and `build_lr_scheduler` divides by zero when it has fewer images than
  one batch. Both are reported before anything is built.
- `check_eval_weights`: `--eval-only` without MODEL.WEIGHTS would score a randomly initialised model.
"""
from __future__ import annotations

import difflib
import math
import os
import weakref
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Sequence

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
    projects' own run_step) call after backward() and before optimizer.step().

    Not a compat patch: it replaces a method on one instance, the SimpleTrainer our PluginTrainer built, for that
    trainer's life, and reads that trainer's epoch and checkpointer; fast-reid's classes and modules are unchanged,
    and trainers that are not PluginTrainers keep fast-reid's own check."""
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


# --------------------------------------------------------------------------------------------------------------------
# before training
# --------------------------------------------------------------------------------------------------------------------
class TestSetError(ValueError):
    """A DATASETS.TESTS entry cannot be evaluated (unknown name, layout, empty split, unreadable image)."""


@dataclass
class TestSetContents:
    """What evaluating one test set reads: the query count, the gallery count and every image file."""
    num_query: int
    num_gallery: int
    images: Sequence[str]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'X'?)' for the closest of `known`, or ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_test_sets(names: Sequence[str], registered: Iterable[str],
                    contents_of: Callable[[str], TestSetContents]) -> None:
    """Every test set is registered, builds (layout), has query and gallery items, and its images are readable.

    `contents_of(name)` builds the test set as the evaluation will (the trainer's own builder)."""
    registered = sorted(registered)
    for name in names:
        if name not in registered:
            raise TestSetError(f"DATASETS.TESTS names {name!r}, which is not a registered dataset"
                               f"{did_you_mean(name, registered)}; registered: {', '.join(registered)}")
        try:
            contents = contents_of(name)
        except (OSError, RuntimeError, ValueError, KeyError, AssertionError) as e:
            raise TestSetError(f"test set {name!r} (DATASETS.TESTS) cannot be built: {type(e).__name__}: {e}") from e
        check_query_gallery(name, contents.num_query, contents.num_query + contents.num_gallery)
        bad = unreadable_images(contents.images)
        if bad:
            shown = "; ".join(f"{path!r}: {why}" for path, why in bad[:5])
            raise TestSetError(f"test set {name!r} (DATASETS.TESTS): {len(bad)} of {len(contents.images)} images "
                               f"cannot be read: {shown}{' ...' if len(bad) > 5 else ''}. Replace or remove them "
                               f"(nothing has been trained yet)")


def unreadable_images(paths: Sequence[str]) -> List[tuple]:
    """[(path, why)] for files that are missing, empty, unreadable or not an image PIL recognises. Only the header is
    parsed (decoding every pixel of a large gallery would take minutes); a file truncated after its header still
    fails at evaluation, by name (compat patch read_image_rgb), after model_final.pth is saved."""
    from PIL import Image, UnidentifiedImageError

    bad = []
    for path in paths:
        try:
            if os.path.getsize(path) == 0:
                bad.append((path, "empty file (0 bytes)"))
                continue
            with Image.open(path) as im:
                im.size  # noqa: B018  (the header is parsed by open; size proves it)
        except FileNotFoundError:
            bad.append((path, "does not exist"))
        except PermissionError:
            bad.append((path, "permission denied"))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            bad.append((path, f"not a readable image ({type(e).__name__}: {e})"))
    return bad


IDENTITY_SAMPLERS = ("NaiveIdentitySampler", "BalancedIdentitySampler")


def check_identity_batch(num_identities: int, batch_size: int, num_instance: int, world_size: int = 1,
                         batch_key: str = "SOLVER.IMS_PER_BATCH", what: str = "the training set",
                         batch_per_process: bool = False) -> None:
    """fast-reid's identity samplers draw (batch per process) / num_instance identities per batch and need world_size
    of those per pass over the identities; with fewer identities (or a batch that is not a multiple of num_instance)
    they loop forever without yielding. `batch_size` is global (SOLVER.IMS_PER_BATCH), or one process's batch with
    `batch_per_process` (MUVA's stage 1)."""
    mini = batch_size if batch_per_process else batch_size // world_size
    if num_instance < 1 or mini % num_instance or mini < num_instance:
        raise ValueError(f"{batch_key} {batch_size} ({mini} per process) must be a positive multiple of "
                         f"DATALOADER.NUM_INSTANCE {num_instance}: a batch holds identities x NUM_INSTANCE images")
    needed = mini // num_instance * world_size
    if num_identities < needed:
        largest = num_identities // world_size * num_instance * (1 if batch_per_process else world_size)
        raise ValueError(
            f"{what} has {num_identities} identities, but {batch_key} {batch_size} with DATALOADER.NUM_INSTANCE "
            f"{num_instance} needs {needed} identities per batch ({mini} / {num_instance}"
            f"{f' x {world_size} processes' if world_size > 1 else ''}); fast-reid's identity sampler would wait "
            f"forever for them. Set {batch_key} to at most {largest}, lower DATALOADER.NUM_INSTANCE, or use a "
            f"dataset with more identities (the synthetic benchmark's 'tiny' preset has 6-10 per domain, "
            f"'default' 100-250)")


def check_train_batches(data_loader, cfg, world_size: int = 1) -> None:
    """The training loader can yield batches: at least one batch per epoch, enough identities for its sampler."""
    num_images, batch = len(data_loader.dataset), cfg.SOLVER.IMS_PER_BATCH
    if num_images < batch:
        raise ValueError(f"the training set ({', '.join(cfg.DATASETS.NAMES)}) has {num_images} images, fewer than "
                         f"one batch (SOLVER.IMS_PER_BATCH {batch}): an epoch would have 0 iterations. Lower "
                         f"SOLVER.IMS_PER_BATCH or train on more data")
    sampler = getattr(getattr(data_loader, "batch_sampler", None), "sampler", None)
    sampler = getattr(sampler, "sampler", sampler)  # reid_plugins' ResumableSampler wraps fast-reid's
    if type(sampler).__name__ in IDENTITY_SAMPLERS:
        check_identity_batch(sampler.num_identities, batch, sampler.num_instances, world_size,
                             what=f"the training set ({', '.join(cfg.DATASETS.NAMES)})")


EVAL_ONLY_NEEDS_WEIGHTS = ("--eval-only needs the trained model: pass MODEL.WEIGHTS <checkpoint .pth> (e.g. "
                           "<OUTPUT_DIR>/model_final.pth) after the flags; without it a randomly initialised model "
                           "would be scored")


def check_eval_weights(weights: str) -> None:
    """--eval-only refuses to score a random model (the same message for every entry point)."""
    if not weights:
        raise ValueError(EVAL_ONLY_NEEDS_WEIGHTS)
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"MODEL.WEIGHTS {weights!r} does not exist; {EVAL_ONLY_NEEDS_WEIGHTS}")
