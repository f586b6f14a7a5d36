"""The batched trainer: many students of one space trained in one program (for GPUs).

Students that share a task, teacher, mode, seed and recipe see identical
batches, so a space that can hold several students in one network
([`build_batched()`][dassgnn.space.ResNetSpace.build_batched]) trains them together with
one teacher forward pass a step. The batches, loss ([`KDLoss`][dassgnn.kd.KDLoss]
with one loss a student), optimiser and schedule are those of
`dassgnn.kd.train()` for the same recipe and seed. On a GPU the
per-student loop is launch-bound and this is several times faster; on a CPU
the loop is cheaper.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol, cast, runtime_checkable

import torch
from torch import Tensor, nn

from dassgnn.kd.loss import KDLoss
from dassgnn.kd.recipe import Recipe
from dassgnn.kd.stream import BatchStream, make_optimizer, to_channels_last
from dassgnn.kd.train import TrainResult, check_loss
from dassgnn.space import Arch, SearchSpace
from dassgnn.utils.scatter import scatter_mean


@runtime_checkable
class BatchedStudents(Protocol):
    """What `build_batched()` of a space returns: $P$ students as one
    network whose forward maps $(N, C, H, W)$ to logits $(N, P, K)$."""

    num_students: int

    def load_teacher(self, state: dict[str, Tensor]) -> Any:
        """Initialises every student from the teacher's state dict (``copy_first``)."""
        ...

    def __call__(self, x: Tensor) -> Tensor: ...


def _build_batched(
    space: SearchSpace, archs: Sequence[Arch], num_classes: int, in_channels: int
) -> nn.Module:
    build = getattr(space, "build_batched", None)
    if build is None:
        raise TypeError(
            f"the batched trainer needs a space with build_batched(); {space!r} has none: "
            "use the pool executor"
        )
    model = build(archs, num_classes, in_channels)
    if not isinstance(model, nn.Module) or not isinstance(model, BatchedStudents):
        raise TypeError(f"{space!r}.build_batched() must return a module with load_teacher()")
    return model


def train_batched(
    space: SearchSpace,
    archs: Sequence[Arch],
    data: Any,
    recipe: Recipe,
    *,
    teacher: nn.Module | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> list[TrainResult | Exception]:
    """Trains ``archs`` together: with KD from ``teacher`` (its weights remapped
    ``copy_first`` into every student) or, without a teacher, from random weights.

    The batches, loss, optimiser and schedule are those of
    `dassgnn.kd.train()` for the same recipe and seed. A student whose loss
    diverges is dropped from the loss (its parameters are independent of the
    others') and reported as an exception in its slot.

    Args:
        space (SearchSpace): A space with ``build_batched``.
        archs (Sequence[Arch]): The students.
        data (DatasetSplits): Train and test sets.
        recipe (Recipe): The recipe; ``recipe.init`` must be ``"copy_first"`` for KD.
        teacher (nn.Module, optional): The trained teacher (a network of ``space``).
        seed (int, optional): Seeds the batches and random weights. (default: `0`)
        device (str or torch.device, optional): (default: `"cpu"`)

    Returns:
        list: A [`TrainResult`][dassgnn.kd.TrainResult] per student, or the exception
        that stopped it.
    """
    if not archs:
        raise ValueError("archs must hold at least one student")
    if teacher is not None and recipe.init != "copy_first":
        raise ValueError(f"the batched trainer remaps copy_first only, got init={recipe.init!r}")
    device = torch.device(device)
    start = time.perf_counter()
    stream = BatchStream(data.train, data.test, recipe, seed, device)
    k = data.num_classes
    stream.check_labels(k)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _build_batched(space, archs, k, data.channels)
    if teacher is not None:
        teacher = to_channels_last(teacher, device).eval()
        state = {n: t.detach().cpu() for n, t in teacher.state_dict().items()}
        cast(BatchedStudents, model).load_teacher(state)
    to_channels_last(model, device)
    p = len(archs)
    criterion = KDLoss(
        recipe.alpha if teacher is not None else 1.0,
        recipe.temperature,
        recipe.label_smoothing,
        reduction="none",
    )
    optimizer, scheduler = make_optimizer(model.parameters(), recipe, stream.steps_per_epoch)
    autocast = recipe.amp and device.type == "cuda"
    alive = torch.ones(p, dtype=torch.bool, device=device)
    errors: list[Exception | None] = [None] * p
    results = [TrainResult(0.0, 0.0, [], device=str(device)) for _ in range(p)]
    for epoch in range(stream.epochs):
        model.train()
        loss_sum = torch.zeros(p, device=device)
        correct = torch.zeros(p, device=device)
        for batch in stream.epoch(epoch):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                logits = model(batch.inputs).float()  # (B, P, K)
                t_logits = None
                if teacher is not None:
                    with torch.no_grad():
                        t_logits = teacher(batch.inputs).float()
                losses = criterion(logits, batch.targets, t_logits).mean(0)  # (P,)
            total = torch.where(alive, losses, torch.zeros_like(losses)).sum()
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += losses.detach() * batch.targets.numel()
            correct += (logits.detach().argmax(-1) == batch.targets[:, None]).sum(0)
            bad = ~torch.isfinite(losses.detach()) | (losses.detach() > recipe.max_loss)
            if bool((bad & alive).any()):
                for i in torch.nonzero(bad & alive).flatten().tolist():
                    try:
                        check_loss(float(losses[i].detach()), recipe, epoch, batch.step)
                    except RuntimeError as error:
                        errors[i] = error
                alive &= ~bad
        for i in range(p):
            results[i].steps += stream.steps_per_epoch
            results[i].train_loss.append(float(loss_sum[i]) / stream.num_train)
            results[i].train_acc.append(float(correct[i]) / stream.num_train)
        last = epoch == stream.epochs - 1
        if last or (recipe.eval_every and (epoch + 1) % recipe.eval_every == 0):
            accs, per_class = _evaluate(model, stream, k)
            for i in range(p):
                results[i].test_curve.append((epoch + 1, accs[i]))
                results[i].test_acc, results[i].per_class_acc = accs[i], per_class[i]
    wall = time.perf_counter() - start
    out: list[TrainResult | Exception] = []
    for i in range(p):
        failure = errors[i]
        if failure is not None:
            out.append(failure)
            continue
        results[i].best_test_acc = max(a for _, a in results[i].test_curve)
        results[i].wall_time = wall / p
        out.append(results[i])
    return out


@torch.no_grad()
def _evaluate(model: nn.Module, stream: BatchStream, k: int) -> tuple[list, list]:
    model.eval()
    hits, labels = [], []
    for x, y in stream.test_batches():
        hits.append((model(x).argmax(-1) == y[:, None]).float())
        labels.append(y)
    hit = torch.cat(hits)  # (N, P)
    per_class = scatter_mean(hit, torch.cat(labels), dim_size=k)  # (K, P)
    return hit.mean(0).tolist(), per_class.t().tolist()
