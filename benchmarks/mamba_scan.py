"""Selective scan speed: reid_plugins' parallel CPU scan vs the step-by-step reference (and, on a CUDA machine with
mamba-ssm installed, vs mamba-ssm's kernel), measured side by side in one run.

Inputs come from a real ``MambaBlock`` with the BDAM fusion's sizes (d_model 256, d_state 16, expand 2, so d_inner
512) applied to random tokens, so the time steps delta have the block's initial distribution. For each length:
median over --repeats of forward (no grad) and forward+backward, reference and parallel alternated in every repeat
so that load changes on a shared machine hit both alike.

    .venv/bin/python benchmarks/mamba_scan.py [--batch 1] [--lengths 64 128 256 512 1024] [--repeats 5]
                                              [--chunks 16 32 64 128] [--threads 1] [--no-backward]

Goals: speed ratio reference/parallel >= 5 at L = 256 (issue 18; issue 7 asked it at L = 512), max |error| <= 1e-4,
parallel time(2L)/time(L) <= 2.3. Measured numbers and load: projects/BDAM_T2I/README.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from reid_plugins.modeling.mamba import MambaBlock, selective_scan, selective_scan_reference

GRAD_KEYS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def scan_inputs(block: MambaBlock, batch: int, length: int, device="cpu"):
    with torch.no_grad():
        tokens = torch.randn(batch, length, block.d_model, device=device)
        return {k: (v.detach().contiguous() if torch.is_tensor(v) else v)
                for k, v in block.ssm_inputs(tokens).items()}


def with_grad(inputs):
    return {k: (v.clone().requires_grad_() if k in GRAD_KEYS else v) for k, v in inputs.items()}


def timed(fn, sync=lambda: None):
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - start, out


def forward_fn(scan, inputs, **kw):
    def run():
        with torch.no_grad():
            return scan(**inputs, **kw)
    return run


def fwd_bwd_fn(scan, inputs, grad_out, **kw):
    def run():
        leaves = with_grad(inputs)
        y = scan(**leaves, **kw)
        y.backward(grad_out)
        return y.detach(), [leaves[k].grad for k in GRAD_KEYS]
    return run


def side_by_side(fns, repeats, sync=lambda: None):
    """Median seconds of each callable (alternated every repeat, one warm-up) and the last outputs."""
    times = {name: [] for name in fns}
    outs = {}
    for r in range(repeats + 1):
        for name, fn in fns.items():
            seconds, outs[name] = timed(fn, sync)
            if r:
                times[name].append(seconds)
    return {name: statistics.median(v) for name, v in times.items()}, outs


def max_grad_error(grads, grads_ref):
    # relative to each gradient's scale: the summed gradients (A, D, delta_bias) grow with L
    return max(((g - r).abs().max() / r.abs().max().clamp_min(1e-12)).item() for g, r in zip(grads, grads_ref))


def cpu_table(args, block):
    rows = []
    for length in args.lengths:
        inputs = scan_inputs(block, args.batch, length)
        fns = {"ref": forward_fn(selective_scan_reference, inputs), "par": forward_fn(selective_scan, inputs)}
        t_fwd, out = side_by_side(fns, args.repeats)
        row = dict(L=length, ref=t_fwd["ref"], par=t_fwd["par"], err=(out["par"] - out["ref"]).abs().max().item())
        if args.backward:
            grad_out = torch.randn_like(out["ref"])
            fns = {"ref": fwd_bwd_fn(selective_scan_reference, inputs, grad_out),
                   "par": fwd_bwd_fn(selective_scan, inputs, grad_out)}
            t_bwd, out = side_by_side(fns, args.repeats)
            row.update(ref_b=t_bwd["ref"], par_b=t_bwd["par"], gerr=max_grad_error(out["par"][1], out["ref"][1]))
        rows.append(row)
        print(f"  measured L={length}", file=sys.stderr, flush=True)
    return rows


def print_cpu_table(rows, backward):
    head = f"{'L':>5} | {'ref fwd ms':>10} {'par fwd ms':>10} {'ratio':>6} {'max err':>8} {'par 2L/L':>8}"
    if backward:
        head += f" | {'ref f+b ms':>10} {'par f+b ms':>10} {'ratio':>6} {'grad rel err':>12} {'par 2L/L':>8}"
    print(head)
    print("-" * len(head))
    prev = {}
    for row in rows:
        scale = lambda key: (f"{row[key] / prev[key]:8.2f}" if prev.get("L") == row["L"] // 2 else f"{'':>8}")
        line = (f"{row['L']:>5} | {row['ref'] * 1e3:10.1f} {row['par'] * 1e3:10.1f} {row['ref'] / row['par']:6.1f} "
                f"{row['err']:8.1e} {scale('par')}")
        if backward:
            line += (f" | {row['ref_b'] * 1e3:10.1f} {row['par_b'] * 1e3:10.1f} {row['ref_b'] / row['par_b']:6.1f} "
                     f"{row['gerr']:12.1e} {scale('par_b')}")
        print(line)
        prev = row


def chunk_sweep(args, block):
    """Parallel scan time per chunk size at one length (the auto rule's choice is marked)."""
    length = args.sweep_length
    inputs = scan_inputs(block, args.batch, length)
    fns = {f"chunk {c}": forward_fn(selective_scan, inputs, chunk_size=c) for c in args.chunks}
    fns["auto"] = forward_fn(selective_scan, inputs)
    t, _ = side_by_side(fns, args.repeats)
    print(f"\nchunk size sweep, forward, L={length}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in t.items()))


def cuda_comparison(args, block):
    """Same inputs on CUDA: mamba-ssm's selective_scan_fn vs this module's scan (runs only where both exist)."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as exc:  # noqa: BLE001 (any import failure means: no kernel here)
        print(f"\nmamba-ssm kernel comparison skipped: {'no CUDA device' if not torch.cuda.is_available() else exc}")
        return
    block = block.cuda()
    sync = torch.cuda.synchronize
    print(f"\nCUDA ({torch.cuda.get_device_name()}): mamba-ssm selective_scan_fn vs selective_scan (forward)")
    print(f"{'L':>5} | {'kernel ms':>9} {'ours ms':>9} {'ours/kernel':>11} {'max err':>8}")
    for length in args.lengths:
        inputs = scan_inputs(block, args.batch, length, device="cuda")
        fns = {"kernel": forward_fn(selective_scan_fn, inputs), "ours": forward_fn(selective_scan, inputs)}
        t, out = side_by_side(fns, args.repeats, sync)
        err = (out["ours"] - out["kernel"]).abs().max().item()
        print(f"{length:>5} | {t['kernel'] * 1e3:9.2f} {t['ours'] * 1e3:9.2f} {t['ours'] / t['kernel']:11.1f} "
              f"{err:8.1e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--goal-length", type=int, default=256, help="the length the >= 5x goal is checked at")
    parser.add_argument("--repeats", type=int, default=5)
    # 1 by default: on a shared, oversubscribed CPU, OpenMP threads that wait for descheduled peers made the
    # parallel path (few large ops) up to 30x slower while hardly touching the reference (many tiny ops)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--chunks", type=int, nargs="*", default=[16, 32, 64, 128],
                        help="chunk sizes for the sweep (none: skip the sweep)")
    parser.add_argument("--sweep-length", type=int, default=512)
    parser.add_argument("--no-backward", dest="backward", action="store_false")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or min(args.lengths) < 1:
        parser.error(f"--batch, --repeats and --lengths must be >= 1, got {args.batch}, {args.repeats}, "
                     f"{args.lengths}")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    block = MambaBlock(256, d_state=16, d_conv=4, expand=2)
    print(f"selective scan, float32, batch {args.batch}, d_model 256 -> d_inner {block.d_inner}, d_state 16, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    rows = cpu_table(args, block)
    print_cpu_table(rows, args.backward)
    goal = [r for r in rows if r["L"] == args.goal_length]
    if goal:
        r = goal[0]
        ok = r["ref"] / r["par"] >= 5 and r["err"] <= 1e-4
        print(f"\ngoal at L={r['L']}: forward {r['ref'] / r['par']:.1f}x (>= 5x), max error {r['err']:.1e} (<= 1e-4): "
              f"{'met' if ok else 'missed'}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.chunks:
        chunk_sweep(args, block)
    cuda_comparison(args, block)


if __name__ == "__main__":
    main()
