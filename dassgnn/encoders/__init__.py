"""Encoders of the DaSS predictor's inputs: architectures (GNN or flat choice
vector), datasets (hierarchical set transformer) and functional maps (Gram
matrices of feature maps on a fixed noise input)."""

from dassgnn.encoders.arch import (
    FLAT_SIZE,
    LAYERS,
    ArchGNN,
    FlatArchEncoder,
    TopologicalPass,
    flat_encoding,
)
from dassgnn.encoders.dataset import (
    FEATURIZERS,
    ConvFeatures,
    DatasetEncoder,
    sample_per_class,
    standardize,
)
from dassgnn.encoders.functional import (
    GramEncoder,
    NoiseSpec,
    functional_maps,
    gram,
    gram_similarity,
)

__all__ = [
    "FEATURIZERS",
    "FLAT_SIZE",
    "LAYERS",
    "ArchGNN",
    "ConvFeatures",
    "DatasetEncoder",
    "FlatArchEncoder",
    "GramEncoder",
    "NoiseSpec",
    "TopologicalPass",
    "flat_encoding",
    "functional_maps",
    "gram",
    "gram_similarity",
    "sample_per_class",
    "standardize",
]
