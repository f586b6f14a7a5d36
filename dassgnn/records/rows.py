"""The records a [`RecordStore`][dassgnn.records.RecordStore] returns.

They are plain frozen dataclasses (and a `NamedTuple` key) that
hold JSON columns decoded to dicts; none keeps a reference to the store.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from dassgnn.records.codec import decode_state_dict
from dassgnn.records.errors import RecordStoreError

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = ["AddRunResult", "RunKey", "RunRecord", "StudentRecord", "TeacherRecord"]

MODES = ("kd", "scratch")
"""The values of ``runs.mode``."""

STATUSES = ("ok", "failed")
"""The values of ``runs.status``."""


class RunKey(NamedTuple):
    """The unique key of a run: what was trained, from what, how.

    A collector can build the keys of its jobs up front and skip those in
    [`RecordStore.done_keys()`][dassgnn.records.RecordStore.done_keys].

    Attributes:
        task_key (str): [`Task.key`][dassgnn.data.Task.key].
        teacher_id (str): The teacher's id; ``""`` for scratch runs.
        arch_id (str): [`Arch.id`][dassgnn.space.Arch.id] of the student.
        mode (str): ``"kd"`` or ``"scratch"``.
        seed (int): The training seed.
        recipe_key (str): [`Recipe.key`][dassgnn.kd.Recipe.key].
        space_key (str): `space_key()` of the student's
            search space (an arch id means a network only within its space; a
            scratch run has no teacher to name it). ``""`` if unknown.
    """

    task_key: str
    teacher_id: str
    arch_id: str
    mode: str
    seed: int
    recipe_key: str
    space_key: str


class AddRunResult(NamedTuple):
    """What [`RecordStore.add_run()`][dassgnn.records.RecordStore.add_run] did.

    Attributes:
        run_id (int): The id of the stored run (new or existing).
        inserted (bool): Whether a row was written (``False``: an identical run
            was already there).
        replaced (bool): Whether the write replaced a ``failed`` run.
    """

    run_id: int
    inserted: bool
    replaced: bool = False


@dataclass(frozen=True)
class StudentRecord:
    """A student architecture with its cost for one input shape.

    Parameters and FLOPs depend on the classes, channels and image size, so
    these are part of the key.

    Args:
        space_key (str): `space_key()` of its search space.
        arch_id (str): [`Arch.id`][dassgnn.space.Arch.id].
        arch (dict[str, Any]): [`Arch.to_dict()`][dassgnn.space.Arch.to_dict].
        params (int): Trainable parameters.
        flops (int): Multiply-accumulates per image.
        num_classes (int): Output classes.
        in_channels (int): Image channels.
        image_size (int): Image height and width.
    """

    space_key: str
    arch_id: str
    arch: dict[str, Any]
    params: int
    flops: int
    num_classes: int
    in_channels: int
    image_size: int

    @property
    def key(self) -> tuple[str, str, int, int, int]:
        """tuple: ``(space_key, arch_id, num_classes, in_channels, image_size)``."""
        return (self.space_key, self.arch_id, self.num_classes, self.in_channels, self.image_size)

    @classmethod
    def from_space(cls, space: Any, arch: Any, task: Any) -> StudentRecord:
        """Computes a student's record with its space's ``params`` and ``flops``.

        Args:
            space (Any): The search space, e.g. [`ResNetSpace`][dassgnn.space.ResNetSpace].
            arch (Arch): The student architecture.
            task (Task): The task, giving ``num_classes``, ``channels`` and ``image_size``.

        Returns:
            StudentRecord: The record.

        Raises:
            TypeError: If ``space`` lacks ``to_dict``/``params``/``flops``.
        """
        from dassgnn.space import as_space

        space = as_space(space)
        k, c, s = task.num_classes, task.channels, task.image_size
        return cls(
            space_key=space.key,
            arch_id=arch.id,
            arch=arch.to_dict(),
            params=int(space.params(arch, k, c)),
            flops=int(space.flops(arch, k, c, s)),
            num_classes=k,
            in_channels=c,
            image_size=s,
        )


@dataclass(frozen=True)
class TeacherRecord:
    """A trained teacher, optionally with its weights (float16 in the store).

    Args:
        teacher_id (str): The id.
        task_key (str): The task it was trained on.
        space_key (str): `space_key()` of its search space.
        space (dict[str, Any]): The search space's ``to_dict()``.
        arch_id (str): The teacher's architecture id.
        recipe_key (str): [`Recipe.key`][dassgnn.kd.Recipe.key].
        recipe (dict[str, Any]): [`Recipe.to_dict()`][dassgnn.kd.Recipe.to_dict].
        seed (int): The training seed.
        test_acc (float): Final test accuracy in $[0, 1]$.
        trainer (str or None): Which training loop made it.
        device (str or None): Where it was trained.
        wall_time (float or None): Training seconds.
        library_version (str): ``dassgnn.__version__`` of the writer.
        noise_seed (int or None): Seed of the fixed noise input of functional embeddings.
        noise_shape (tuple[int, ...] or None): Its shape.
        created_at (str): UTC ISO 8601 time of writing.
        num_classes (int): The task's classes (from the ``tasks`` table).
        in_channels (int): The task's image channels (from the ``tasks`` table).
        has_weights (bool): Whether the store holds weights.
        weights (bytes or None): The serialised float16 state dict, if loaded.
    """

    teacher_id: str
    task_key: str
    space_key: str
    space: dict[str, Any]
    arch_id: str
    recipe_key: str
    recipe: dict[str, Any]
    seed: int
    test_acc: float
    trainer: str | None
    device: str | None
    wall_time: float | None
    library_version: str
    noise_seed: int | None
    noise_shape: tuple[int, ...] | None
    created_at: str
    num_classes: int
    in_channels: int
    has_weights: bool
    weights: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def weights_sha(self) -> str | None:
        """str or None: The SHA-1 of the stored weights blob, which the KD runs
        of this teacher record as ``teacher_sha``; `None` if the weights were not loaded."""
        from dassgnn.records.codec import weights_sha

        return None if self.weights is None else weights_sha(self.weights)

    def state_dict(self) -> dict[str, Tensor]:
        """Decodes the stored weights, floating tensors as float32.

        Returns:
            dict[str, Tensor]: The state dict (values within float16 precision
            of what was stored).

        Raises:
            RecordStoreError: If the teacher has no weights, or they were not
                loaded (records from
                [`RecordStore.teachers()`][dassgnn.records.RecordStore.teachers] without
                ``with_weights=True``).
        """
        if not self.has_weights:
            raise RecordStoreError(f"teacher {self.teacher_id!r} was stored without weights")
        if self.weights is None:
            raise RecordStoreError(
                f"the weights of teacher {self.teacher_id!r} were not loaded; use "
                "RecordStore.get_teacher() or teachers(with_weights=True)"
            )
        return decode_state_dict(self.weights)

    def build_model(self) -> nn.Module:
        """Rebuilds the teacher network and loads its stored weights.

        Returns:
            nn.Module: The network, in eval mode, float32.

        Raises:
            RecordStoreError: If the weights are missing (see `state_dict()`).
        """
        from dassgnn.space import space_from_dict

        space = space_from_dict(self.space)
        model = space.build(space.parse(self.arch_id), self.num_classes, self.in_channels)
        model.load_state_dict(self.state_dict())
        return model.eval()


@dataclass(frozen=True)
class RunRecord:
    """One finished training run.

    Args:
        run_id (int): Row id, local to one store (a merge renumbers).
        task_key (str): The task.
        teacher_id (str): The teacher; ``""`` for scratch runs.
        arch_id (str): The student architecture.
        mode (str): ``"kd"`` or ``"scratch"``.
        seed (int): The training seed.
        recipe_key (str): [`Recipe.key`][dassgnn.kd.Recipe.key].
        recipe (dict[str, Any]): The recipe's fields.
        space_key (str): The student's search space, ``""`` if not recorded.
        trainer (str or None): E.g. ``"loop"`` or ``"batched"``.
        device (str or None): Where it ran.
        library_version (str): ``dassgnn.__version__`` of the writer.
        status (str): ``"ok"`` or ``"failed"``.
        test_acc (float or None): Final-epoch test accuracy; `None` when failed.
        best_test_acc (float or None): Best evaluated epoch (analysis only).
        result (dict[str, Any] or None): [`TrainResult.to_dict()`][dassgnn.kd.TrainResult.to_dict]
            (curves etc.).
        wall_time (float or None): Seconds.
        error (str or None): What went wrong, for failed runs.
        host (str or None): The machine's host name.
        created_at (str): UTC ISO 8601 time of writing.
        teacher_sha (str): For a KD run, the SHA-1 of the teacher weights it
            learned from (the stored blob, see
            [`TeacherRecord.weights_sha`][dassgnn.records.TeacherRecord.weights_sha]);
            ``""`` for scratch runs and where unknown.
    """

    run_id: int
    task_key: str
    teacher_id: str
    arch_id: str
    mode: str
    seed: int
    recipe_key: str
    recipe: dict[str, Any]
    space_key: str
    trainer: str | None
    device: str | None
    library_version: str
    status: str
    test_acc: float | None
    best_test_acc: float | None
    result: dict[str, Any] | None
    wall_time: float | None
    error: str | None
    host: str | None
    created_at: str
    teacher_sha: str = ""

    @property
    def key(self) -> RunKey:
        """RunKey: The run's unique key."""
        return RunKey(*(getattr(self, name) for name in RunKey._fields))

    def to_dict(self) -> dict[str, Any]:
        """Returns the fields as a dict (JSON columns decoded).

        Returns:
            dict[str, Any]: The fields.
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: Any) -> RunRecord:
        """Builds a record from a ``SELECT * FROM runs`` row (a `sqlite3.Row`).

        Args:
            row (sqlite3.Row): The row.

        Returns:
            RunRecord: The record.
        """
        data = {f.name: row[f.name] for f in dataclasses.fields(cls)}
        data["recipe"] = json.loads(data["recipe"])
        data["result"] = None if data["result"] is None else json.loads(data["result"])
        return cls(**data)
