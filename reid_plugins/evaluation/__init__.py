from .registry import EVALUATOR_REGISTRY

__all__ = ["EVALUATOR_REGISTRY"]
