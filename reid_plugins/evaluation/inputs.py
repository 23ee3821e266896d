"""Checking and converting evaluation inputs (numpy arrays or torch tensors) with errors that name the argument."""
from __future__ import annotations

import numpy as np
import torch

METRICS = ("cosine", "euclidean")


def as_features(x, name: str) -> torch.Tensor:
    """2-D, non-empty, finite float32 CPU tensor (fast-reid's ReidEvaluator also evaluates in float32)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D [num_items, dim], got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): need at least one item and one dimension")
    x = x.detach().to("cpu", torch.float32)
    low, high = torch.aminmax(x)  # one reduction without a mask copy; NaN propagates into both
    if not (bool(torch.isfinite(low)) and bool(torch.isfinite(high))):
        bad = (~torch.isfinite(x)).any(1).nonzero().flatten()
        raise ValueError(f"{name} contains NaN or inf values (rows {bad[:5].tolist()}"
                         f"{' ...' if len(bad) > 5 else ''}; {len(bad)} rows in all)")
    return x.contiguous()


def as_labels(x, name: str, length: int, per: str = "feature row") -> np.ndarray:
    """1-D label array (person or camera ids) with one entry per feature row (or similarity row / column)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if len(x) != length:
        raise ValueError(f"{name} has {len(x)} entries, expected {length} (one per {per})")
    return x


def factorize(query_labels: np.ndarray, gallery_labels: np.ndarray,
              names: tuple[str, str] = ("query ids", "gallery ids")) -> tuple[np.ndarray, np.ndarray]:
    """Map labels of any comparable type (ints, strings) to int64 codes shared by query and gallery."""
    numeric = [labels.dtype.kind in "biuf" for labels in (query_labels, gallery_labels)]
    if numeric[0] != numeric[1]:
        raise ValueError(f"{names[0]} ({query_labels.dtype}) and {names[1]} ({gallery_labels.dtype}) must both be "
                         "numbers or both be strings")
    _, codes = np.unique(np.concatenate([query_labels, gallery_labels]), return_inverse=True)
    codes = codes.astype(np.int64).reshape(-1)
    return codes[: len(query_labels)], codes[len(query_labels):]


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not supported: expected one of {METRICS}")
    return metric


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_same_dim(query: torch.Tensor, gallery: torch.Tensor, qname: str, gname: str) -> None:
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(f"{qname} has dimension {query.shape[1]} but {gname} has {gallery.shape[1]}")
