"""What the predictor reads: a task's context (dataset sample, teacher), computed once, and
per-student inputs (graphs, costs, simple features, functional maps), which can be subset and
joined. The support set of adaptation is built by one function,
[`support_set`][dassgnn.predictor.inputs.support_set], for meta-training, validation and
prediction alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch

from dassgnn.encoders import (
    ConvFeatures,
    functional_maps,
    sample_per_class,
    standardize,
)
from dassgnn.predictor.config import PredictorConfig
from dassgnn.space import ARCH_FEATURES, Arch, SearchSpace, classifier_shape
from dassgnn.utils.validation import plural

IMAGE_FEATURES = 64
"""Size of the image features of the dataset sample."""

STUDENT_FIELDS = ("archs", "graphs", "flat", "cost", "simple", "grams", "targets")
"""The per-student fields of [`StudentInputs`][dassgnn.predictor.StudentInputs], each with
one entry (a list item or a tensor row) per student: the one list that subsetting and
joining go through."""


@dataclass
class TaskContext:
    """What the predictor reads of one task, shared by all its students.

    Attributes:
        images (Tensor): $(M, C, H, W)$ the standardised dataset sample.
        image_features (Tensor): $(M, F)$ fixed features of the sample (random-conv featurizer).
        image_labels (Tensor): $(M,)$ its labels, sorted.
        teacher_gram (Tensor): $(N, N)$ the teacher's functional map.
        teacher_acc (float): The teacher's measured accuracy.
        num_classes (int): Classes of the task.
        key (str): A name for the task (its key in the records).
    """

    images: Tensor
    image_features: Tensor
    image_labels: Tensor
    teacher_gram: Tensor
    teacher_acc: float
    num_classes: int
    key: str = ""


@dataclass
class StudentInputs:
    """The predictor's inputs for $B$ students of one task.

    Attributes:
        archs (list[Arch]): The students.
        graphs (list): Their graphs (`torch_geometric.data.Data`); empty where only
            ``batch`` is built (scoring many candidates at once).
        flat (Tensor): $(B, F)$ flat choice vectors ($F = 0$ unless the config's
            ``arch_encoder`` is ``"flat"``).
        cost (Tensor): $(B, 2)$ log parameters and log FLOPs relative to the teacher's.
        simple (Tensor): $(B, 8)$ the simple features of
            [`arch_features()`][dassgnn.space.BaseSpace.arch_features] (the size prior's input).
        grams (Tensor): $(B, N, N)$ functional maps (teacher's weights remapped in).
        targets (Tensor, optional): $(B,)$ measured KD accuracies.
        batch (Batch, optional): All the graphs as one `Batch`.
    """

    archs: list[Arch]
    graphs: list[Any]
    flat: Tensor
    cost: Tensor
    simple: Tensor
    grams: Tensor
    targets: Tensor | None = None
    batch: Batch | None = None

    def __len__(self) -> int:
        return len(self.archs)

    def subset(self, index: Sequence[int] | Tensor | np.ndarray) -> StudentInputs:
        """The inputs of some students."""
        if not self.graphs and self.batch is not None:
            raise ValueError("these inputs hold one graph batch only; build them with graph lists")
        idx = torch.as_tensor(np.asarray(index, dtype=np.int64), dtype=torch.long).view(-1)
        pick = idx.tolist()
        changes: dict[str, Any] = {}
        for name in STUDENT_FIELDS:
            value = getattr(self, name)
            if value is None:
                changes[name] = None
            elif isinstance(value, list):
                changes[name] = [value[i] for i in pick]
            else:
                changes[name] = value[idx]
        return replace(self, batch=None, **changes)

    def join(self, other: StudentInputs) -> StudentInputs:
        """These students followed by ``other``'s (both with graph lists; targets on both
        or on neither)."""
        if (self.targets is None) != (other.targets is None):
            raise ValueError("join: both inputs must carry targets, or neither")
        if (not self.graphs and len(self)) or (not other.graphs and len(other)):
            raise ValueError("join: inputs must hold graph lists, not one graph batch")
        changes: dict[str, Any] = {}
        for name in STUDENT_FIELDS:
            a, b = getattr(self, name), getattr(other, name)
            if a is None:
                changes[name] = None
            elif isinstance(a, list):
                changes[name] = a + b
            else:
                changes[name] = torch.cat([a, b])
        return replace(self, batch=None, **changes)

    def with_targets(self, targets: Sequence[float] | Tensor) -> StudentInputs:
        """The same students with other targets."""
        t = torch.as_tensor(targets, dtype=torch.float32).view(-1)
        if t.numel() != len(self):
            raise ValueError(f"{t.numel()} targets for {len(self)} students")
        return replace(self, targets=t)

    def graph_batch(self) -> Batch:
        """The students' graphs as one `Batch`."""
        if self.batch is not None:
            return self.batch
        return Batch.from_data_list(self.graphs)


def teacher_shape(teacher: nn.Module) -> tuple[int, int]:
    """``(in_channels, num_classes)`` of a convolutional classifier
    ([`classifier_shape()`][dassgnn.space.classifier_shape])."""
    return classifier_shape(teacher)


def check_task_fits(teacher: nn.Module, data: Any) -> None:
    """Raises a `ValueError` if the teacher's classes or image channels differ from the data's."""
    channels, classes = teacher_shape(teacher)
    if classes != data.num_classes:
        raise ValueError(
            f"the teacher's head has {plural(classes, 'class')} but the dataset has "
            f"{data.num_classes}"
        )
    if channels != data.channels:
        raise ValueError(
            f"the teacher takes {channels}-channel images but the dataset has {data.channels}"
        )


def prepare_context(
    config: PredictorConfig,
    space: SearchSpace,
    teacher: nn.Module,
    data: Any,
    teacher_acc: float,
    *,
    key: str = "",
    teacher_gram: Tensor | None = None,
) -> TaskContext:
    """The task's context: its dataset sample (``config.per_class`` images a class of the
    training split) with fixed features, and the teacher's functional map and accuracy.

    Raises:
        ValueError: If the teacher's classes or image channels differ from the data's.
    """
    check_task_fits(teacher, data)
    if teacher_gram is None:
        teacher_gram = functional_maps(space, teacher, [space.teacher], config.noise)[0]
    images, labels = sample_per_class(data, config.per_class, seed=config.seed)
    images = standardize(images)
    with torch.no_grad():
        features = ConvFeatures(IMAGE_FEATURES, seed=config.seed)(images)
    return TaskContext(
        images=images,
        image_features=features,
        image_labels=labels,
        teacher_gram=teacher_gram,
        teacher_acc=float(teacher_acc),
        num_classes=data.num_classes,
        key=key,
    )


def prepare_students(
    config: PredictorConfig,
    space: SearchSpace,
    teacher: nn.Module,
    data: Any,
    archs: Sequence[Arch],
    *,
    targets: Sequence[float] | Tensor | None = None,
    grams: Tensor | None = None,
    one_batch: bool = False,
) -> StudentInputs:
    """The inputs of ``archs`` on one task.

    Args:
        config (PredictorConfig): The predictor's settings (the noise input).
        space (SearchSpace): The teacher's space; ``archs`` are its members.
        teacher (nn.Module): The trained teacher.
        data (DatasetSplits): The task's data (its shape sets the costs).
        archs (Sequence[Arch]): The students.
        targets (Sequence[float], optional): Their measured accuracies.
        grams (Tensor, optional): Their functional maps, computed before (e.g. cached
            in a record store).
        one_batch (bool, optional): Build the graphs straight into one `Batch` (fast for
            many candidates; the inputs cannot then be subset). (default: `False`)
    """
    archs = list(archs)
    k, c, size = data.num_classes, data.channels, data.image_size
    simple = torch.as_tensor(space.arch_features(archs, k, c, size), dtype=torch.float32)
    simple = simple.view(len(archs), len(ARCH_FEATURES))
    if grams is None:
        grams = functional_maps(space, teacher, archs, config.noise)
    if grams.shape[0] != len(archs):
        raise ValueError(f"grams hold {grams.shape[0]} maps for {len(archs)} students")
    batch = None
    if one_batch:
        builder = getattr(space, "graph_batch", None)
        batch = (
            builder(archs) if builder else Batch.from_data_list([space.to_graph(a) for a in archs])
        )
    return StudentInputs(
        archs=archs,
        graphs=[] if one_batch else [space.to_graph(a) for a in archs],
        batch=batch,
        flat=(  # the choice vectors only where the flat encoder reads them
            torch.stack([space.flat_encoding(a) for a in archs]).view(len(archs), -1)
            if config.arch_encoder == "flat"
            else torch.zeros(len(archs), 0)
        ),
        cost=simple[:, :2].clone(),
        simple=simple,
        grams=grams,
        targets=None if targets is None else torch.as_tensor(targets, dtype=torch.float32),
    )


def teacher_row(space: SearchSpace, context: TaskContext, config: PredictorConfig) -> StudentInputs:
    """The teacher as a student of its own task: its graph, zero relative cost, its own
    functional map, labelled with its measured accuracy (with the fields of
    [`prepare_students`][dassgnn.predictor.prepare_students] for ``config``)."""
    teacher = space.teacher
    simple = torch.zeros(1, len(ARCH_FEATURES))
    simple[0, 2:] = 1.0
    return StudentInputs(
        archs=[teacher],
        graphs=[space.to_graph(teacher)],
        flat=(
            space.flat_encoding(teacher).view(1, -1)
            if config.arch_encoder == "flat"
            else torch.zeros(1, 0)
        ),
        cost=torch.zeros(1, 2),
        simple=simple,
        grams=context.teacher_gram[None],
        targets=torch.tensor([context.teacher_acc]),
    )


def support_set(teacher: StudentInputs, shots: StudentInputs | None = None) -> StudentInputs:
    """The support set of adaptation, the same at meta-training, validation and
    prediction: the teacher's row first (DaSS's teacher-guided adaptation), then the
    measured students, if any, with their measured accuracies."""
    if teacher.targets is None or len(teacher) != 1:
        raise ValueError("the support set starts with the teacher's row, with its accuracy")
    if shots is None or len(shots) == 0:
        return teacher
    if shots.targets is None:
        raise ValueError("measured students in the support set need their accuracies")
    return teacher.join(shots)
