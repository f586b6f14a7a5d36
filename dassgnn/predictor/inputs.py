"""What the predictor reads for one task: the students' graphs and costs, their
functional maps, the dataset sample and the teacher."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from dassgnn.encoders import (
    ConvFeatures,
    flat_encoding,
    functional_maps,
    sample_per_class,
    standardize,
)
from dassgnn.predictor.config import PredictorConfig
from dassgnn.space import Arch, SearchSpace

IMAGE_FEATURES = 64
"""Size of the image features of the dataset sample."""


@dataclass
class TaskInputs:
    """The predictor's inputs for $B$ students of one task.

    Attributes:
        archs (list[Arch]): The students.
        graphs (list): Their graphs (`torch_geometric.data.Data`), or empty
            where only ``batch`` is built (for scoring many candidates at once).
        flat (Tensor): $(B, F)$ flat choice vectors.
        cost (Tensor): $(B, 2)$ log parameters and log FLOPs relative to the teacher's.
        student_grams (Tensor): $(B, N, N)$ functional maps.
        teacher_gram (Tensor): $(N, N)$ the teacher's functional map.
        images (Tensor): $(M, 3, H, W)$ the standardised dataset sample.
        image_features (Tensor): $(M, F)$ fixed features of the sample (random-conv featurizer).
        image_labels (Tensor): $(M,)$ its labels, sorted.
        teacher_acc (float): The teacher's measured accuracy.
        num_classes (int): Classes of the task.
        targets (Tensor, optional): $(B,)$ measured KD accuracies (seed means).
        key (str): A name for the task (its key in the records).
        batch (Batch, optional): All the students' graphs as one `Batch`.
    """

    archs: list[Arch]
    graphs: list[Any]
    flat: Tensor
    cost: Tensor
    student_grams: Tensor
    teacher_gram: Tensor
    images: Tensor
    image_features: Tensor
    image_labels: Tensor
    teacher_acc: float
    num_classes: int
    targets: Tensor | None = None
    key: str = ""
    batch: Batch | None = None

    def __len__(self) -> int:
        return len(self.archs)

    def subset(self, index: Sequence[int] | Tensor | np.ndarray) -> TaskInputs:
        """The inputs of some students (the task's inputs are shared)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        pick = idx.tolist()
        if not self.graphs and self.batch is not None:
            raise ValueError("these inputs hold one graph batch only; build them with graph lists")
        return replace(
            self,
            batch=None,
            archs=[self.archs[i] for i in pick],
            graphs=[self.graphs[i] for i in pick],
            flat=self.flat[idx],
            cost=self.cost[idx],
            student_grams=self.student_grams[idx],
            targets=None if self.targets is None else self.targets[idx],
        )

    def graph_batch(self) -> Batch:
        """The students' graphs as one `Batch`."""
        if self.batch is not None:
            return self.batch
        return Batch.from_data_list(self.graphs)


def _teacher_shape(teacher: nn.Module) -> tuple[int, int]:
    convs = [m for m in teacher.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in teacher.modules() if isinstance(m, nn.Linear)]
    if not convs or not linears:
        raise TypeError(
            f"the teacher must be a convolutional classifier, got {type(teacher).__name__}"
        )
    return convs[0].in_channels, linears[-1].out_features


def prepare_inputs(
    config: PredictorConfig,
    space: SearchSpace,
    teacher: nn.Module,
    data: Any,
    archs: Sequence[Arch],
    teacher_acc: float,
    *,
    targets: Sequence[float] | None = None,
    key: str = "",
    grams: Tensor | None = None,
    one_batch: bool = False,
) -> TaskInputs:
    """Builds the predictor's inputs for ``archs`` on one task.

    Args:
        config (PredictorConfig): The predictor's settings (noise, sample size, featurizer).
        space (SearchSpace): The teacher's space; ``archs`` are its members.
        teacher (nn.Module): The trained teacher.
        data (DatasetSplits): The task's data (its training split is sampled).
        archs (Sequence[Arch]): The students.
        teacher_acc (float): The teacher's measured accuracy.
        targets (Sequence[float], optional): Measured accuracies of ``archs``.
        key (str, optional): A name for the task.
        grams (Tensor, optional): Functional maps of ``[space.teacher, *archs]``
            computed before (e.g. cached in a record store).
        one_batch (bool, optional): Build the graphs straight into one `Batch`
            (``space.graph_batch``: fast for many candidates; the inputs cannot
            then be subset). (default: `False`)

    Returns:
        TaskInputs: The inputs.

    Raises:
        ValueError: If the teacher's classes or image channels differ from the data's.
    """
    channels, classes = _teacher_shape(teacher)
    if classes != data.num_classes:
        raise ValueError(
            f"the teacher's head has {classes} classes but the dataset has {data.num_classes}"
        )
    if channels != data.channels:
        raise ValueError(
            f"the teacher takes {channels}-channel images but the dataset has {data.channels}"
        )
    archs = list(archs)
    k, c = data.num_classes, data.channels
    size = data.image_size
    t_params = space.params(space.teacher, k, c)
    t_flops = space.flops(space.teacher, k, c, size)
    cost = torch.tensor(
        [
            [
                math.log(space.params(a, k, c) / t_params),
                math.log(space.flops(a, k, c, size) / t_flops),
            ]
            for a in archs
        ],
        dtype=torch.float32,
    ).view(-1, 2)
    if grams is None:
        grams = functional_maps(space, teacher, [space.teacher, *archs], config.noise)
    if grams.shape[0] != len(archs) + 1:
        raise ValueError(f"grams must hold the teacher's and {len(archs)} students' maps")
    images, labels = sample_per_class(data, config.per_class, seed=config.seed)
    images = standardize(images)
    with torch.no_grad():
        features = ConvFeatures(IMAGE_FEATURES, seed=config.seed)(images)
    batch = None
    if one_batch:
        builder = getattr(space, "graph_batch", None)
        batch = (
            builder(archs) if builder else Batch.from_data_list([space.to_graph(a) for a in archs])
        )
    return TaskInputs(
        archs=archs,
        graphs=[] if one_batch else [space.to_graph(a) for a in archs],
        batch=batch,
        flat=torch.stack([flat_encoding(a, space.teacher) for a in archs]).view(len(archs), -1),
        cost=cost,
        student_grams=grams[1:],
        teacher_gram=grams[0],
        images=images,
        image_features=features,
        image_labels=labels,
        teacher_acc=float(teacher_acc),
        num_classes=k,
        targets=None if targets is None else torch.tensor(list(targets), dtype=torch.float32),
        key=key,
    )


def teacher_support(inputs: TaskInputs, space: SearchSpace) -> TaskInputs:
    """The support set of teacher-guided adaptation: the teacher itself as a
    student (its graph, zero relative cost, its own functional map) labelled
    with its measured accuracy."""
    teacher = space.teacher
    return replace(
        inputs,
        batch=None,
        archs=[teacher],
        graphs=[space.to_graph(teacher)],
        flat=flat_encoding(teacher, teacher).view(1, -1),
        cost=torch.zeros(1, 2),
        student_grams=inputs.teacher_gram[None],
        targets=torch.tensor([inputs.teacher_acc]),
    )
