"""Killing training by signal and restarting it with --resume reaches exactly the results of an uninterrupted run.

Real `train_net.py` processes on the tiny configs (fixed seed, DATALOADER.NUM_WORKERS 0, a checkpoint every epoch). The
harness stops each process at a chosen point (train_harness.py) and the test kills it there with SIGKILL or SIGTERM,
so every kill point is exercised on every run, whatever the machine's speed.
"""
import os
import signal

import pytest

from reliability_runs import (BDAM_CONFIG, BDAM_NET, MUVA_CONFIG, MUVA_NET, Launch, assert_same_weights, bdam_opts,
                              checkpoints, last_checkpoint, muva_opts, results)

pytestmark = pytest.mark.slow


def test_muva_killed_in_stage1_at_the_stage_boundary_and_in_stage2_resumes_exactly(synth_root, muva_reference,
                                                                                 tmp_path):
    out = str(tmp_path / "run")
    opts = muva_opts(synth_root)

    # 1. SIGKILL in the middle of stage 1 (after its first of two epochs): no checkpoint exists yet
    run = Launch(MUVA_NET, MUVA_CONFIG, opts, out, stop_at_log="Stage 1 epoch 1/")
    run.wait_stopped()
    assert checkpoints(out) == []
    assert run.kill(signal.SIGKILL) == -signal.SIGKILL

    # 2. --resume finds nothing to resume and trains stage 1 again; SIGTERM right after the end-of-stage-1 checkpoint
    run = Launch(MUVA_NET, MUVA_CONFIG, opts, out, resume=True, stop_after="model_stage1")
    run.wait_stopped()
    assert "No checkpoint found" in run.log() and "Stage 1:" in run.log()
    assert checkpoints(out) == ["model_stage1.pth"] and last_checkpoint(out) == "model_stage1.pth"
    assert run.kill(signal.SIGTERM) == -signal.SIGTERM

    # 3. --resume from the stage-1 checkpoint goes straight to stage 2; SIGKILL after stage-2 epoch 0's checkpoint
    run = Launch(MUVA_NET, MUVA_CONFIG, opts, out, resume=True, stop_after="model_0000")
    run.wait_stopped()
    log = run.log()
    assert f"Loading checkpoint from {os.path.join(out, 'model_stage1.pth')}" in log and "Stage 1:" not in log
    assert last_checkpoint(out) == "model_0000.pth"
    assert run.kill(signal.SIGKILL) == -signal.SIGKILL

    # 4. --resume from stage-2 epoch 0 runs to the end
    run = Launch(MUVA_NET, MUVA_CONFIG, opts, out, resume=True).wait()
    log = run.log()
    assert f"Loading checkpoint from {os.path.join(out, 'model_0000.pth')}" in log and "Stage 1:" not in log
    assert "Starting training from epoch 1" in log

    assert results(out) == results(muva_reference)  # every metric, bit for bit
    assert_same_weights(out, muva_reference)


def test_bdam_killed_by_sigterm_after_a_checkpoint_resumes_exactly(synth_root, tmp_path):
    opts = bdam_opts(synth_root)
    reference = str(tmp_path / "reference")
    Launch(BDAM_NET, BDAM_CONFIG, opts, reference, harness=False).wait()

    out = str(tmp_path / "run")
    run = Launch(BDAM_NET, BDAM_CONFIG, opts, out, stop_after="model_0000")
    run.wait_stopped()
    assert last_checkpoint(out) == "model_0000.pth" and "results.json" not in os.listdir(out)
    assert run.kill(signal.SIGTERM) == -signal.SIGTERM

    run = Launch(BDAM_NET, BDAM_CONFIG, opts, out, resume=True).wait()
    assert "Starting training from epoch 1" in run.log()
    assert results(out) == results(reference)  # retrieval and re-ranking metrics, gate statistics
    assert_same_weights(out, reference)
