"""Configs and models built from a spec without running it: tools/ablate.py --dry-run's checks of every row (its
config and model build, results.json only at the end, a mirrored row changes what its real-data config changes) and
tools/compare.py's inference parameter counts. Each entry script's config functions come from its project
(:func:`reid_plugins.projects.entry_config_functions`)."""
from __future__ import annotations

import sys
from typing import Dict, List, Optional

from ..projects import entry_config_functions, known_entries
from .report import shown
from .runner import command, row_protocol
from .spec import Protocol, Row, SpecError, Suite, resolve

NOT_COMPARED_IN_MIRRORS = ("OUTPUT_DIR", "SEED", "DATASETS.")  # the protocol belongs to the suite, not to the row


# ------------------------------------------------------------------------------------------------ ablation rows
def build_run_cfg(suite: Suite, row: Row, seed: int, output_root: str, extra_opts=()):
    """The config the row's run with this seed trains with (what setup_cfg builds from the command line)."""
    from ..config import build_cfg

    add_fns = entry_config_functions(row.entry)
    if add_fns is None:
        raise SpecError(f"row {row.name}: no config functions known for entry {row.entry} "
                        f"(known: {sorted(known_entries())})")
    proto = row_protocol(suite, row, seed, output_root, extra_opts)
    cmd = command(proto, proto.methods[0], sys.executable)
    return build_cfg(cmd[3], cmd[4:], add_fns)


def changed(a, b) -> Dict[str, tuple]:
    from ..config import flatten_cfg

    fa, fb = flatten_cfg(a), flatten_cfg(b)
    return {k: (fb.get(k), fa.get(k)) for k in sorted(set(fa) | set(fb))
            if fa.get(k) != fb.get(k) and not k.startswith(NOT_COMPARED_IN_MIRRORS)}


def mirror_problems(suite: Suite, row: Row, cfgs: dict) -> List[str]:
    """The row must change, against its reference, the keys its real-data mirror changes against the reference's
    mirror, to the same values."""
    from ..config import build_cfg

    ref = suite.row(row.reference)
    fns = entry_config_functions(row.entry)
    ours = changed(cfgs[row.name], cfgs[ref.name])
    theirs = changed(build_cfg(row.mirrors, (), fns), build_cfg(ref.mirrors, (), fns))
    problems = []
    if set(ours) != set(theirs):
        problems.append(f"row {row.name} changes {sorted(ours)} against {ref.name}, but its mirror "
                        f"{shown(row.mirrors)} changes {sorted(theirs)} against {shown(ref.mirrors)}")
    for key in sorted(set(ours) & set(theirs)):
        if ours[key][1] != theirs[key][1]:
            problems.append(f"row {row.name}: {key} = {ours[key][1]!r}, its mirror sets {theirs[key][1]!r}")
    return problems


def model_problems(row: Row, cfg) -> List[str]:
    """Builds the row's model (4 classes, no data): catches loss / part / module combinations that do not fit."""
    from fastreid.modeling import build_model

    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.HEADS.NUM_CLASSES = 4
    try:
        build_model(cfg)
    except Exception as e:  # noqa: BLE001  (any build error is the row's problem, reported with its name)
        return [f"row {row.name}: the model does not build: {type(e).__name__}: {e}"]
    return []


def check_configs(suite: Suite, seed: int, output_root: str, extra_opts=()) -> List[str]:
    """Builds every row's config with its project's config functions, and its model; checks that results.json is
    written only at the end and that mirrored rows change what their real-data configs change. Returns the problems
    (empty: all good)."""
    problems, cfgs = [], {}
    for row in suite.rows:
        try:
            cfg = cfgs[row.name] = build_run_cfg(suite, row, seed, output_root, extra_opts)
        except (SpecError, KeyError, ValueError, FileNotFoundError) as e:
            problems.append(f"row {row.name}: {e}")
            continue
        problems += model_problems(row, cfg)
        if cfg.TEST.EVAL_PERIOD < cfg.SOLVER.MAX_EPOCH:
            problems.append(f"row {row.name}: TEST.EVAL_PERIOD {cfg.TEST.EVAL_PERIOD} < SOLVER.MAX_EPOCH "
                            f"{cfg.SOLVER.MAX_EPOCH}: an evaluation before the end writes results.json, and a "
                            f"run killed after it would count as finished")
    for row in suite.rows:
        if row.mirrors and row.name in cfgs and row.reference in cfgs:
            problems += mirror_problems(suite, row, cfgs)
    return problems


# ------------------------------------------------------------------------------------------------ parameters
# parameters that serve training only: identity classifiers (fast-reid's heads, MUVA's), MUVA's prompt learner and
# text tower, BDAM's clothing projection
TRAINING_ONLY = ("heads.classifier.", "heads.weight", "classifier.", "prompt_learner.", "text_encoder.token_embedding")


def inference_parameters(model) -> int:
    """Parameters a model's test-time forward uses (image side), as papers count "Params" for inference."""
    if type(model).__name__ == "MUVA":   # the image encoder (CLIP ViT, part tokens, AM-MSA) and the BN neck
        return sum(p.numel() for n, p in model.named_parameters() if n.startswith(("backbone.", "bottleneck.")))
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(TRAINING_ONLY))


def parameter_counts(proto: Protocol) -> Dict[str, Optional[int]]:
    """{method: inference parameter count}, built from each method's config with 1 identity (the classifier is not
    counted); None where the entry's config functions are unknown or the model does not build."""
    from fastreid.modeling import build_model

    from ..config import build_cfg

    out: Dict[str, Optional[int]] = {}
    for method in proto.methods:
        fns = entry_config_functions(resolve(method.entry, f"method {method.name}: entry script"))
        if fns is None:
            out[method.name] = None
            continue
        cfg = build_cfg(resolve(method.config, f"method {method.name}: config"),
                        method.opts + ["MODEL.HEADS.NUM_CLASSES", "1"], fns)
        out[method.name] = inference_parameters(build_model(cfg))
    return out
