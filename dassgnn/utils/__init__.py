"""Small shared helpers."""

from dassgnn.utils.scatter import scatter_mean, scatter_sum

__all__ = ["scatter_mean", "scatter_sum"]
