"""Mamba (selective state space) block with mamba-ssm's parameters, runnable on CPU.

``MambaBlock`` has exactly the parameter names, shapes and initialisation of ``mamba_ssm.Mamba`` (``in_proj``,
``conv1d``, ``x_proj``, ``dt_proj``, ``A_log``, ``D``, ``out_proj``), so one state dict loads into either (and into
mambapy's ``MambaBlock`` and transformers' ``MambaMixer``).

Execution paths:
- CUDA input and ``import mamba_ssm`` works: the forward is delegated to a ``mamba_ssm.Mamba`` built lazily on first
  use whose submodules and parameters are re-bound to *this* block's objects before every call. We delegate to the
  whole module rather than to ``selective_scan_fn`` because its fused fast path (``mamba_inner_fn`` + causal-conv1d)
  and the signatures of those functions change between mamba-ssm releases; the delegate is kept out of the module
  registry, so the state dict, ``.to()``, ``parameters()`` and optimizers only ever see this block's parameters.
- Otherwise: the pure-PyTorch parallel selective scan below (``selective_scan``).

Parallel scan (``selective_scan``). The recurrence h_t = a_t h_{t-1} + x_t (a_t = exp(delta_t A) in (0, 1],
x_t = delta_t B_t u_t, elementwise over the [d_state, d_inner] state) is cut into chunks of T steps (T sized so a
chunk's buffers stay in cache). Each chunk is solved in place with a Brent-Kung scan: 2 log2(T) levels of strided
updates, O(T) work, no Python loop over time steps; the state carried from the previous chunk is folded into the
chunk's first step. Only products of decays in (0, 1] are formed, so nothing overflows (unlike factorising
exp(S_t - S_s) = exp(S_t) exp(-S_s) to use cumulative sums). The segment-sum chunk form of Mamba-2 is not used: with
Mamba-1's per-(channel, state) decays its [T, T] decay matrix cannot be shared across the state dimension, so it costs
T times the exponentials of the recurrence itself, and exp is already the largest cost here (so the decays are
computed as exp2, ~2.8x faster than torch's exp on CPU, and the strided views of the in-place sweeps are built once
per chunk shape: their Python cost matched the updates' own). The backward pass is
written by hand (recompute each chunk's states, reverse scan for the adjoint), so the [batch, L, d_state, d_inner]
tensors are never materialised, in forward or backward. Numbers: benchmarks/mamba_scan.py.
"""
from __future__ import annotations

import functools
import math
from typing import Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = ["MambaBlock", "selective_scan", "selective_scan_reference"]


# ---------------------------------------------------------------------------------------------------- scan maths
def _check_scan_inputs(u, delta, A, B, C, D, z, delta_bias):
    if u.dim() != 3:
        raise ValueError(f"u must be [batch, d_inner, L], got shape {tuple(u.shape)}")
    batch, d_inner, length = u.shape
    if length < 1:
        raise ValueError(f"u must have sequence length L >= 1, got shape {tuple(u.shape)}")
    if delta.shape != u.shape:
        raise ValueError(f"delta must have u's shape {tuple(u.shape)}, got {tuple(delta.shape)}")
    if A.dim() != 2 or A.shape[0] != d_inner:
        raise ValueError(f"A must be [d_inner={d_inner}, d_state], got shape {tuple(A.shape)}")
    d_state = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        if tuple(t.shape) != (batch, d_state, length):
            raise ValueError(f"{name} must be [batch, d_state, L] = {(batch, d_state, length)}, got {tuple(t.shape)}")
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        if t is not None and tuple(t.shape) != (d_inner,):
            raise ValueError(f"{name} must be [d_inner] = ({d_inner},), got {tuple(t.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"z must have u's shape {tuple(u.shape)}, got {tuple(z.shape)}")
    if not (u.is_floating_point() and not u.is_complex()):
        raise ValueError(f"u must be a real floating-point tensor, got dtype {u.dtype}")


def _compute_dtype(u: torch.Tensor) -> torch.dtype:
    # half precision is accumulated in float32, like mamba-ssm's kernels and reference
    return u.dtype if u.dtype in (torch.float32, torch.float64) else torch.float32


def _prepare(u, delta, A, B, C, delta_bias, delta_softplus):
    """Sequence-major inputs ([batch, L, .], from mamba-ssm's [batch, ., L]) in the compute dtype, and the final
    time steps delta = softplus(delta + delta_bias)."""
    dtype = _compute_dtype(u)
    # contiguous first: elementwise ops on transposed views are several times slower
    u, delta, B, C = (t.to(dtype).transpose(1, 2).contiguous() for t in (u, delta, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)
    if delta_softplus:
        delta = F.softplus(delta)
    return dtype, u, delta, A.to(dtype), B, C


def _skip_and_gate(y, u, D, z):
    """Sequence-major y + D u, gated by silu(z)."""
    if D is not None:
        y = y + u * D.to(y.dtype)
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y


def selective_scan_reference(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True):
    """Step-by-step selective scan (the recurrence of mamba-ssm's ``selective_scan_ref``), one Python step per time
    step. The ground truth for tests and the baseline of ``benchmarks/mamba_scan.py``; use ``selective_scan``.

    u, delta, z: [batch, d_inner, L]; A: [d_inner, d_state]; B, C: [batch, d_state, L] (input dependent, as in
    Mamba); D, delta_bias: [d_inner]. Returns y [batch, d_inner, L] with
    h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,  y_t = C_t . h_t + D u_t,  y *= silu(z).
    """
    _check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    dtype, u_s, delta_s, A, B_s, C_s = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    decays = torch.exp(delta_s[..., None] * A)                           # [b, L, d, n]
    inputs = (delta_s * u_s)[..., None] * B_s[:, :, None, :]             # [b, L, d, n]
    state = torch.zeros_like(inputs[:, 0])                               # [b, d, n]
    outputs = []
    # unbind: one autograd node for all steps (indexing decays[:, t] per step makes backward O(L^2) in memory)
    for a_t, x_t, c_t in zip(decays.unbind(1), inputs.unbind(1), C_s.unbind(1)):
        state = a_t * state + x_t
        outputs.append(torch.einsum("bdn,bn->bd", state, c_t))
    y = _skip_and_gate(torch.stack(outputs, dim=1), u_s, D, None if z is None else z.transpose(1, 2))
    return y.transpose(1, 2).to(u.dtype)


def _sweep_pairs(length: int, s: int, first: int, reverse: bool):
    """Index slices (targets, partners) of one Brent-Kung level with stride s: targets first*s-1, +2s, ... each
    combined with the partner s steps earlier (reverse: the mirror image, partners s steps later)."""
    if not reverse:
        start = first * s - 1
        last = start + (length - 1 - start) // (2 * s) * (2 * s)
        return slice(start, last + 1, 2 * s), slice(start - s, last - s + 1, 2 * s)
    last = length - first * s
    start = last % (2 * s)
    return slice(start, last + 1, 2 * s), slice(start + s, last + s + 1, 2 * s)


@functools.lru_cache(maxsize=256)
def _sweep_plan(length: int, reverse: bool):
    """The Brent-Kung levels for one sequence length: (targets, partners, update the decays too)."""
    plan, strides, s = [], [], 1
    while 2 * s <= length:  # up-sweep: compose blocks of 2, 4, 8, ... steps
        plan.append((*_sweep_pairs(length, s, 2, reverse), True))
        strides.append(s)
        s *= 2
    for s in reversed(strides):  # down-sweep: the partner already holds its full prefix; decays no longer needed
        if 3 * s <= length:
            plan.append((*_sweep_pairs(length, s, 3, reverse), False))
    return tuple(plan)


def _scan_views(a: torch.Tensor, h: torch.Tensor, reverse: bool = False):
    """The strided views of one in-place scan of ``h`` with decays ``a`` (see ``_linear_scan_``). Views of the same
    buffers stay valid while the buffers do, so a chunked scan builds them once per chunk shape: slicing costs
    about as much Python time as the small in-place updates themselves."""
    return [(h[:, tgt], a[:, tgt], h[:, src], a[:, src] if update_decays else None)
            for tgt, src, update_decays in _sweep_plan(a.shape[1], reverse)]


def _run_scan(views) -> None:
    for h_tgt, a_tgt, h_src, a_src in views:
        h_tgt.addcmul_(a_tgt, h_src)
        if a_src is not None:
            a_tgt.mul_(a_src)


def _linear_scan_(a: torch.Tensor, h: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """In place along dim 1: h_t <- a_t h_{t-1} + h_t with h_{-1} = 0 (reverse: h_t <- a_t h_{t+1} + h_t, h_L = 0).

    Brent-Kung: an up-sweep composes blocks of 2, 4, 8, ... steps, a down-sweep completes the remaining prefixes;
    2 log2(L) levels of strided in-place updates, O(L) work. ``a`` is used as scratch (overwritten)."""
    _run_scan(_scan_views(a, h, reverse))
    return h


class _ChunkViews:
    """Per-chunk views of fixed buffers: built once for full chunks, afresh for the shorter last one."""

    def __init__(self, *buffers):
        self.buffers, self.cache = buffers, {}

    def __call__(self, n: int):
        if n not in self.cache:
            self.cache[n] = tuple(b[:, :n] for b in self.buffers)
        return self.cache[n]

    def scan(self, n: int, a_index: int, h_index: int, reverse: bool = False) -> None:
        key = (n, a_index, h_index, reverse)
        if key not in self.cache:
            views = self(n)
            self.cache[key] = _scan_views(views[a_index], views[h_index], reverse)
        _run_scan(self.cache[key])


# the decays exp(delta A) are the largest cost of the scan; torch's float32 exp2 is ~2.8x faster than its exp on
# CPU (measured: benchmarks/mamba_scan.py), so they are computed as exp2(delta * (A log2 e))
_LOG2E = 1.0 / math.log(2.0)

_TILE_BYTES = 1 << 20  # per buffer: chunk buffers of about 1 MiB stay in cache (sweep in benchmarks/mamba_scan.py)


def _auto_chunk(batch: int, d_inner: int, d_state: int, itemsize: int) -> int:
    """Time steps per chunk: a power of 2 in [8, 256] giving about _TILE_BYTES of state for the whole batch."""
    steps = max(1, _TILE_BYTES // max(1, batch * d_inner * d_state * itemsize))
    return max(8, min(256, 1 << (steps.bit_length() - 1)))


def _batch_tile(batch: int, steps: int, d_inner: int, d_state: int, itemsize: int) -> int:
    """Samples per call: large batches of short sequences (e.g. 4096 fusion pairs of 3 tokens) are cut into tiles
    of at most 8 MiB of state per buffer instead of allocating [batch, L, d_state, d_inner] at once (that was
    ~1.5x slower with ~1.7x the peak memory); smaller tiles only add Python overhead for training batches."""
    return max(1, min(batch, (8 * _TILE_BYTES) // max(1, steps * d_inner * d_state * itemsize)))


def _chunks(length: int, chunk: int):
    return [(t0, min(t0 + chunk, length)) for t0 in range(0, length, chunk)]


class _SelectiveScanFn(torch.autograd.Function):
    """y_t = C_t . h_t with h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t; inputs sequence-major [batch, L, .].

    Written by hand because no installed library has a CPU selective scan that avoids materialising the
    [batch, L, d_inner, d_state] states: chunk by chunk, the decays and inputs are written into cache-sized
    buffers, the carried state is folded into the chunk's first step, and the chunk is scanned in place (log depth).
    Only the states at chunk starts are saved; backward recomputes each chunk's states (as mamba-ssm's kernel does)
    and runs the adjoint recurrence lambda_t = dL/dh_t + a_{t+1} lambda_{t+1} as a reverse in-place scan.
    Buffers are [batch, T, d_state, d_inner], so the contractions with B_t, C_t are (1 x n)(n x d) matrix products
    and the other reductions over d_state run over a non-innermost axis (measured 2-3x faster than [.., d, n])."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, chunk):
        u, delta, B, C = (t.contiguous() for t in (u, delta, B, C))
        A_t = A.t().contiguous()                                         # [n, d]
        A2_t = A_t * _LOG2E                                              # exp(x) = exp2(x log2 e)
        batch, length, d_inner = u.shape
        du = delta * u
        decay = u.new_empty(batch, min(chunk, length), A_t.shape[0], d_inner)
        state = torch.empty_like(decay)
        y = u.new_empty(batch, length, d_inner)
        chunks = _chunks(length, chunk)
        starts = u.new_empty(len(chunks), batch, A_t.shape[0], d_inner)   # state before each chunk
        starts[0].zero_()
        views = _ChunkViews(decay, state)
        for i, (t0, t1) in enumerate(chunks):
            a, h = views(t1 - t0)
            torch.mul(delta[:, t0:t1, None, :], A2_t, out=a).exp2_()
            torch.mul(du[:, t0:t1, None, :], B[:, t0:t1, :, None], out=h)
            if i:
                h[:, 0].addcmul_(a[:, 0], starts[i])   # h_{t0} = a_{t0} h_{t0-1} + x_{t0}
            views.scan(t1 - t0, 0, 1)
            if i + 1 < len(chunks):
                starts[i + 1].copy_(h[:, -1])
            y[:, t0:t1] = torch.matmul(C[:, t0:t1, None, :], h).squeeze(2)          # y_t = C_t^T h_t
        ctx.chunk = chunk
        ctx.save_for_backward(u, delta, A_t, B, C, starts)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        u, delta, A_t, B, C, starts = ctx.saved_tensors
        grad_y = grad_y.contiguous()
        batch, length, d_inner = u.shape
        du = delta * u
        g_u, g_delta, g_B, g_C = (torch.empty_like(t) for t in (u, delta, B, C))
        g_A_t = torch.zeros_like(A_t)
        A2_t = A_t * _LOG2E
        shape = (batch, min(ctx.chunk, length), A_t.shape[0], d_inner)
        decay, scratch, state, adjoint = (u.new_empty(shape) for _ in range(4))
        carry = None  # a_{t1} lambda_{t1} from the chunk after this one
        views = _ChunkViews(decay, scratch, state, adjoint)
        for i, (t0, t1) in reversed(list(enumerate(_chunks(length, ctx.chunk)))):
            n = t1 - t0
            a, w, h, lam = views(n)
            gy, dt = grad_y[:, t0:t1, None, :], delta[:, t0:t1, None, :]
            # recompute this chunk's states from its saved start state
            torch.mul(dt, A2_t, out=a).exp2_()
            torch.mul(du[:, t0:t1, None, :], B[:, t0:t1, :, None], out=h)
            if i:
                h[:, 0].addcmul_(a[:, 0], starts[i])
            w.copy_(a)
            views.scan(n, 1, 2)
            g_C[:, t0:t1] = torch.matmul(h, grad_y[:, t0:t1, :, None]).squeeze(-1)
            # adjoint: lambda_t = gy_t C_t + a_{t+1} lambda_{t+1}
            torch.mul(gy, C[:, t0:t1, :, None], out=lam)
            if carry is not None:
                lam[:, -1].add_(carry)
            w[:, :-1].copy_(a[:, 1:])
            views.scan(n, 1, 3, reverse=True)
            carry = a[:, 0] * lam[:, 0]
            # q = dL/d(delta_t A) = lambda_t a_t h_{t-1}
            q = a.mul_(lam)
            q[:, 1:].mul_(h[:, :-1])
            q[:, 0].mul_(starts[i])  # zeros for the first chunk
            g_A_t.add_(torch.mul(q, dt, out=w).sum((0, 1)))
            g_delta[:, t0:t1] = q.mul_(A_t).sum(2)
            lam_B = torch.matmul(B[:, t0:t1, None, :], lam).squeeze(2)              # sum_n lambda_t B_t
            g_delta[:, t0:t1].addcmul_(lam_B, u[:, t0:t1])
            torch.mul(lam_B, delta[:, t0:t1], out=g_u[:, t0:t1])
            g_B[:, t0:t1] = torch.matmul(lam, du[:, t0:t1, :, None]).squeeze(-1)
        return g_u, g_delta, g_A_t.t(), g_B, g_C, None


def _selective_scan_seq_major(u, delta, A, B, C, D, z, chunk_size):
    """The parallel scan on sequence-major tensors ([batch, L, .], delta already final) in the compute dtype."""
    batch, length, d_inner = u.shape
    if chunk_size is None:
        chunk_size = _auto_chunk(batch, d_inner, A.shape[1], u.element_size())
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    tile = _batch_tile(batch, min(chunk_size, length), d_inner, A.shape[1], u.element_size())
    y = torch.cat([_SelectiveScanFn.apply(u[i:i + tile], delta[i:i + tile], A, B[i:i + tile], C[i:i + tile],
                                          chunk_size) for i in range(0, batch, tile)])
    return _skip_and_gate(y, u, D, z)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=True, chunk_size=None):
    """Parallel selective scan (chunked, log depth within a chunk, O(L) work, O(chunk) extra memory); same
    arguments, shapes and result as ``selective_scan_reference``. Differentiable (first order) by a hand-written
    backward; float32/float64 computed in their own precision, half precision in float32. ``chunk_size``: time steps
    per chunk (default: about 1 MiB of state per chunk)."""
    _check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    dtype, u_s, delta_s, A, B_s, C_s = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    z_s = None if z is None else z.transpose(1, 2).contiguous()
    y = _selective_scan_seq_major(u_s, delta_s, A, B_s, C_s, D, z_s, chunk_size)
    return y.transpose(1, 2).to(u.dtype)


# ---------------------------------------------------------------------------------------------------- the block
_MAMBA_SSM = []  # [mamba_ssm.Mamba or None], filled on the first CUDA forward


def _mamba_ssm_class():
    if not _MAMBA_SSM:
        try:
            from mamba_ssm import Mamba
        except Exception:  # ImportError, or missing compiled CUDA extensions (selective_scan_cuda)
            Mamba = None
        _MAMBA_SSM.append(Mamba)
    return _MAMBA_SSM[0]


_SHARED_NAMES = ("in_proj", "conv1d", "x_proj", "dt_proj", "out_proj", "A_log", "D")


class MambaBlock(nn.Module):
    """The Mamba mixer of mamba-ssm (``mamba_ssm.Mamba``): input [batch, L, d_model] -> [batch, L, d_model].

    Arguments and initialisation follow ``mamba_ssm.Mamba``: d_inner = expand * d_model, dt_rank "auto" =
    ceil(d_model / 16), A_log = log(1..d_state) per channel, D = 1, dt_proj weight ~ U(-s, s) with
    s = dt_scale / sqrt(dt_rank) (or constant s for dt_init="constant"), dt_proj bias = softplus^-1(dt) with dt
    log-uniform in [dt_min, dt_max] floored at dt_init_floor. ``use_fast_path=False`` never uses mamba-ssm.
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: Union[int, str] = "auto", bias: bool = False, conv_bias: bool = True,
                 dt_min: float = 0.001, dt_max: float = 0.1, dt_init: str = "random", dt_scale: float = 1.0,
                 dt_init_floor: float = 1e-4, use_fast_path: bool = True, device=None, dtype=None):
        super().__init__()
        for name, value in (("d_model", d_model), ("d_state", d_state), ("d_conv", d_conv), ("expand", expand)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MambaBlock: {name} must be a positive int, got {value!r}")
        if dt_rank == "auto":
            dt_rank = math.ceil(d_model / 16)
        if isinstance(dt_rank, bool) or not isinstance(dt_rank, int) or dt_rank < 1:
            raise ValueError(f"MambaBlock: dt_rank must be 'auto' or a positive int, got {dt_rank!r}")
        if dt_init not in ("random", "constant"):
            raise ValueError(f"MambaBlock: dt_init must be 'random' or 'constant', got {dt_init!r}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"MambaBlock: need 0 < dt_min <= dt_max, got dt_min={dt_min!r}, dt_max={dt_max!r}")
        factory = {"device": device, "dtype": dtype}
        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank
        self.use_fast_path = use_fast_path
        self._hparams = dict(d_model=d_model, d_state=d_state, d_conv=d_conv, expand=expand, dt_rank=dt_rank,
                             dt_min=dt_min, dt_max=dt_max, dt_init=dt_init, dt_scale=dt_scale,
                             dt_init_floor=dt_init_floor, conv_bias=conv_bias, bias=bias)

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias, **factory)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, kernel_size=d_conv, groups=self.d_inner,
                                padding=d_conv - 1, bias=conv_bias, **factory)
        self.x_proj = nn.Linear(self.d_inner, dt_rank + 2 * d_state, bias=False, **factory)
        self.dt_proj = nn.Linear(dt_rank, self.d_inner, bias=True, **factory)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, d_state, **factory))
        self.D = nn.Parameter(torch.empty(self.d_inner, **factory))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory)
        self._init_ssm(dt_min, dt_max, dt_init, dt_scale, dt_init_floor)
        # flags read by mamba-ssm-style training code (no weight decay on A_log / D, keep the dt bias at re-init)
        self.A_log._no_weight_decay = True
        self.D._no_weight_decay = True
        self.dt_proj.bias._no_reinit = True
        self._kernel = []  # the lazily built mamba_ssm.Mamba delegate (a list keeps it out of the module registry)

    @torch.no_grad()
    def _init_ssm(self, dt_min, dt_max, dt_init, dt_scale, dt_init_floor):
        std = self.dt_rank ** -0.5 * dt_scale
        if dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, std)
        else:
            nn.init.uniform_(self.dt_proj.weight, -std, std)
        device = self.dt_proj.bias.device
        log_dt = torch.rand(self.d_inner, device=device) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        dt = torch.exp(log_dt).clamp(min=dt_init_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))   # softplus^-1(dt), stable for small dt
        states = torch.arange(1, self.d_state + 1, dtype=torch.float32, device=device)
        self.A_log.copy_(torch.log(states).expand(self.d_inner, -1))
        self.D.fill_(1.0)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_state={self.d_state}, d_conv={self.d_conv}, expand={self.expand}, "
                f"dt_rank={self.dt_rank}")

    def uses_mamba_ssm(self, x: torch.Tensor) -> bool:
        """Whether ``forward(x)`` runs mamba-ssm's CUDA kernels (CUDA input, fast path on, mamba_ssm importable)."""
        return self.use_fast_path and x.is_cuda and _mamba_ssm_class() is not None

    def _mamba_ssm_delegate(self, x: torch.Tensor) -> nn.Module:
        if not self._kernel:
            self._kernel.append(_mamba_ssm_class()(**self._hparams, device=x.device, dtype=self.in_proj.weight.dtype))
        delegate = self._kernel[0]
        for name in _SHARED_NAMES:  # re-bind every call: stays correct after .to(), load_state_dict(assign=True)
            setattr(delegate, name, getattr(self, name))
        return delegate

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if hidden_states.dim() != 3 or hidden_states.shape[-1] != self.d_model:
            raise ValueError(f"MambaBlock: input must be [batch, L, d_model={self.d_model}], "
                             f"got shape {tuple(hidden_states.shape)}")
        if hidden_states.shape[1] < 1:
            raise ValueError(f"MambaBlock: sequence length must be >= 1, got shape {tuple(hidden_states.shape)}")
        if self.uses_mamba_ssm(hidden_states):
            return self._mamba_ssm_delegate(hidden_states)(hidden_states)
        return self._forward_torch(hidden_states)

    def _ssm_inputs_seq_major(self, hidden_states: torch.Tensor):
        length = hidden_states.shape[1]
        x, z = self.in_proj(hidden_states).chunk(2, dim=-1)                       # [b, L, d_inner] each
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :length]).transpose(1, 2)  # causal depthwise conv
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight)                                  # its bias is added in the scan
        # A in float32 at least (as mamba-ssm), float64 for float64 blocks
        A = -torch.exp(self.A_log.to(torch.promote_types(self.A_log.dtype, torch.float32)))
        return x, delta, A, B, C, z

    def ssm_inputs(self, hidden_states: torch.Tensor) -> dict:
        """The keyword arguments of ``selective_scan`` / ``selective_scan_reference`` (mamba-ssm's [batch, ., L]
        layout) for this input, as mamba-ssm's unfused path computes them: the CPU forward is
        ``out_proj(selective_scan(**ssm_inputs(x)).transpose(1, 2))``."""
        x, delta, A, B, C, z = self._ssm_inputs_seq_major(hidden_states)
        return dict(u=x.transpose(1, 2), delta=delta.transpose(1, 2), A=A, B=B.transpose(1, 2),
                    C=C.transpose(1, 2), D=self.D, z=z.transpose(1, 2), delta_bias=self.dt_proj.bias,
                    delta_softplus=True)

    def _forward_torch(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # sequence-major throughout: selective_scan(**ssm_inputs(x)) without its transposes
        x, delta, A, B, C, z = self._ssm_inputs_seq_major(hidden_states)
        dtype = _compute_dtype(x)
        delta = F.softplus(delta.to(dtype) + self.dt_proj.bias.to(dtype))
        y = _selective_scan_seq_major(x.to(dtype), delta, A.to(dtype), B.to(dtype), C.to(dtype), self.D, z, None)
        return self.out_proj(y.to(hidden_states.dtype))
