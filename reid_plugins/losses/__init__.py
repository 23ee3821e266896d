"""Losses shared by the projects (plain functions of tensors, no model or config coupling)."""
from .hsic import hsic_linear

__all__ = ["hsic_linear"]
