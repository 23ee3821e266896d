"""Exact, memory-bounded Re-ID and text-to-image evaluation, fast-reid evaluator plug-in, rank-list pictures."""
from .registry import EVALUATOR_REGISTRY
from .evaluator import FastReidEvaluator
from .exact_rank import MatchRanks
from .rank import rank_features, rank_statistics, summarize
from .rank_list import plot_rank_list, top_k_rows
from .retrieval import retrieval_metrics, retrieval_metrics_from_features

__all__ = ["EVALUATOR_REGISTRY", "FastReidEvaluator", "MatchRanks", "rank_features", "rank_statistics", "summarize",
           "plot_rank_list", "top_k_rows", "retrieval_metrics", "retrieval_metrics_from_features"]
