"""Evaluators selectable by name through cfg.TEST.EVALUATOR (fast-reid has no evaluator registry).

Registered by evaluator.py on import: ReidEvaluator (fast-reid's own, plus the rank list of TEST.VIS.ENABLED) and FastReidEvaluator."""
from fastreid.utils.registry import Registry

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = "Evaluators: cls(cfg, num_query, output_dir=None) -> fastreid DatasetEvaluator"
