"""Evaluators selectable by name through cfg.TEST.EVALUATOR (fast-reid has no evaluator registry).

Registered: ReidEvaluator (fast-reid's own) and FastReidEvaluator (evaluator.py, registered on import)."""
from fastreid.evaluation import ReidEvaluator
from fastreid.utils.registry import Registry

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = "Evaluators: cls(cfg, num_query, output_dir=None) -> fastreid DatasetEvaluator"

EVALUATOR_REGISTRY.register(ReidEvaluator)
