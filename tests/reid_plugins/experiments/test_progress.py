"""reid_plugins.experiments.progress on log lines copied from real runs of the three train_net.py entry points."""
import io

from reid_plugins.experiments.progress import ProgressParser, ProgressPrinter

MUVA_LOG = [  # projects/MUVA/train_net.py on the tiny preset (tqdm's carriage returns split into lines)
    "SOLVER:",
    "  MAX_EPOCH: 1",
    "MUVA:",
    "  STAGE1:",
    "    MAX_EPOCH: 2",
    "MUVA features (VGE masks):   0%|          | 0/1 [00:00<?, ?it/s]",
    "[12/02 00:01:40 fastreid.muva.trainer]: Stage 1: 8 identities, 32 images, 2 epochs x 4 iterations",
    "MUVA stage 1:   0%|          | 0/2 [00:00<?, ?it/s][12/02 00:01:40 fastreid.muva.trainer]: Stage 1 epoch 1/2: "
    "L_cmp 2.0796, text->centroid accuracy 12.5%, lr 1.00e-03",
    "MUVA stage 1: 100%|##########| 2/2 [00:00<00:00, 11.61it/s]",
    "[12/02 00:01:41 fastreid.utils.events]:  eta: 0:00:00  epoch/iter: 0/3  total_loss: 53.16  loss_id: 2.079  "
    "time: 0.0512  lr: 5.00e-04",
    "[12/02 00:01:41 fastreid.evaluation.evaluator]: Start inference on 25 images",
    "[12/02 00:01:42 fastreid.evaluation.evaluator]: Inference done 1/1. 0.2850 s / batch. ETA=0:00:00",
    "[12/02 00:01:42 fastreid.utils.events]:  eta: 0:00:00  epoch/iter: 0/3  total_loss: 53.16  loss_id: 2.079  "
    "time: 0.0512  lr: 5.00e-04",  # fast-reid's printer writes again at the epoch's end, after the evaluation
]


def test_the_statuses_of_a_muva_run():
    parser, seen = ProgressParser(), []
    for line in MUVA_LOG:
        if parser.feed(line):
            seen.append((parser.phase, parser.status))
    assert parser.max_epoch == 1  # SOLVER's, not MODEL.MUVA.STAGE1's
    assert seen == [
        ("MUVA features (VGE masks)", "MUVA features (VGE masks) 0/1  eta ?"),
        ("stage 1", "stage 1 epoch 1/2  L_cmp 2.0796"),  # the log line wins over the bar it shares a line with
        ("MUVA stage 1", "MUVA stage 1 2/2  eta 00:00"),
        ("training", "epoch 1/1  iter 3  eta 0:00:00  total_loss 53.16"),
        ("evaluating", "evaluating (25 images)"),
        ("training", "epoch 1/1  iter 3  eta 0:00:00  total_loss 53.16"),
    ]


def test_off_a_terminal_a_line_per_phase_or_epoch_at_most_every_interval():
    out = io.StringIO()
    printer = ProgressPrinter("M", stream=out, interval=3600)
    for line in MUVA_LOG:
        printer.feed(line)
    printer.close()
    # phase changes always show; within a phase, a new epoch waits for the interval; a repeated line is not shown
    assert out.getvalue().splitlines() == ["[M] MUVA features (VGE masks) 0/1  eta ?",
                                           "[M] stage 1 epoch 1/2  L_cmp 2.0796", "[M] MUVA stage 1 2/2  eta 00:00",
                                           "[M] epoch 1/1  iter 3  eta 0:00:00  total_loss 53.16",
                                           "[M] evaluating (25 images)"]


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_one_line_is_rewritten_in_place():
    out = FakeTerminal()
    printer = ProgressPrinter("M", stream=out, interval=0)
    for line in MUVA_LOG:
        printer.feed(line)
    printer.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, finished when the run ends
    assert text.split("\r")[-1].rstrip() == "[M] epoch 1/1  iter 3  eta 0:00:00  total_loss 53.16"
