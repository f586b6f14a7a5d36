"""dassgnn: distillation-aware student search on PyTorch Geometric (DaSS, ICLR 2023)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
