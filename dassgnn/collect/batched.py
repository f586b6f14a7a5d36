"""Many students of one space trained in one program (for GPUs).

A student of a :class:`~dassgnn.space.ResNetSpace` is the teacher with some
channels and blocks switched off. :class:`BatchedResNet` holds :math:`P`
teacher-shaped copies side by side as grouped convolutions (``groups=P``),
with a channel mask per block and a block mask per student: masked channels
are zeroed after BatchNorm, so convolutions, shortcuts (zero-pad, drop, max-pool)
and the classifier see exactly the student's channels, and a switched-off
block passes its input through. Initialised from the teacher, every student
starts exactly as with ``copy_first`` remapping; all students see the same
batches (one seed) and share one teacher forward pass per step. On a GPU the
per-student loop is launch-bound and this trades FLOPs (every student runs at
teacher size) for far fewer, larger kernels; on a CPU the loop is cheaper.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dassgnn.kd.recipe import Recipe
from dassgnn.kd.stream import BatchStream, make_optimizer
from dassgnn.kd.train import TrainResult
from dassgnn.space import Arch, ResNetSpace
from dassgnn.utils.scatter import scatter_mean


class BatchedResNet(nn.Module):
    r""":math:`P` students of a :class:`~dassgnn.space.ResNetSpace` as one network.

    Args:
        space (ResNetSpace): The space; every student is stored at its teacher's shape.
        archs (Sequence[Arch]): The :math:`P` students.
        num_classes (int): Output classes.
        in_channels (int, optional): Image channels. (default: :obj:`3`)

    Shapes:
        - **input:** :math:`(N, C_{img}, H, W)`, shared by all students
        - **output:** :math:`(N, P, K)` logits
    """

    def __init__(
        self, space: ResNetSpace, archs: Sequence[Arch], num_classes: int, in_channels: int = 3
    ) -> None:
        super().__init__()
        if not archs:
            raise ValueError("archs must hold at least one student")
        self.space = space
        self.archs = [space.check(a) for a in archs]
        self.num_students = p = len(archs)
        self.num_classes = num_classes
        self.in_channels = in_channels
        widths, depths, strides = space.widths, space.depths, space.strides
        self.stem = nn.Conv2d(in_channels, p * widths[0], 3, 1, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(p * widths[0])
        self.blocks = nn.ModuleList()
        prev = widths[0]
        for s, (w, d) in enumerate(zip(widths, depths, strict=True)):
            for b in range(d):
                stride = strides[s] if b == 0 else 1
                block = nn.Module()
                block.conv1 = nn.Conv2d(p * prev, p * w, 3, stride, 1, groups=p, bias=False)
                block.bn1 = nn.BatchNorm2d(p * w)
                block.conv2 = nn.Conv2d(p * w, p * w, 3, 1, 1, groups=p, bias=False)
                block.bn2 = nn.BatchNorm2d(p * w)
                block.spec = (s, b, prev, w, stride)
                self.blocks.append(block)
                prev = w
        self.fc_weight = nn.Parameter(torch.empty(p, num_classes, prev))
        self.fc_bias = nn.Parameter(torch.empty(p, num_classes))
        stem_mask, masks, active = self._masks()
        self.register_buffer("stem_mask", stem_mask)
        self.register_buffer("masks", masks)
        self.register_buffer("active", active)
        self.reset_parameters()

    def _masks(self) -> tuple[Tensor, Tensor, Tensor]:
        space, p = self.space, self.num_students
        wmax = max(space.widths)
        masks = torch.zeros(len(self.blocks), p, wmax)
        active = torch.zeros(len(self.blocks), p)
        stem = torch.zeros(p, space.widths[0])
        for i, arch in enumerate(self.archs):
            channels = space.channels(arch)
            stem[i, : channels[0][0]] = 1
            for j, block in enumerate(self.blocks):
                s, b = block.spec[:2]
                if b < len(channels[s]):
                    masks[j, i, : channels[s][b]] = 1
                    active[j, i] = 1
        return stem.flatten(), masks, active

    def reset_parameters(self) -> None:
        """Random initial weights (teacher-shaped Kaiming, as the teacher's own)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
        bound = 1 / self.fc_weight.shape[-1] ** 0.5
        nn.init.uniform_(self.fc_weight, -bound, bound)
        nn.init.uniform_(self.fc_bias, -bound, bound)

    @torch.no_grad()
    def load_teacher(self, state: dict[str, Tensor]) -> BatchedResNet:
        """Copies a teacher's state dict (a :class:`~dassgnn.space.ResNet` of the
        space's teacher) into every student: ``copy_first`` remapping."""
        p = self.num_students

        def tile(t: Tensor) -> Tensor:
            return t.repeat(p, *([1] * (t.dim() - 1))) if t.dim() else t

        self.stem.weight.copy_(tile(state["stem.conv.weight"]))
        _copy_bn(self.stem_bn, state, "stem.bn", tile)
        for block in self.blocks:
            s, b = block.spec[:2]
            prefix = f"stages.{s}.{b}"
            block.conv1.weight.copy_(tile(state[f"{prefix}.conv1.weight"]))
            block.conv2.weight.copy_(tile(state[f"{prefix}.conv2.weight"]))
            _copy_bn(block.bn1, state, f"{prefix}.bn1", tile)
            _copy_bn(block.bn2, state, f"{prefix}.bn2", tile)
        self.fc_weight.copy_(state["fc.weight"].expand(p, -1, -1))
        self.fc_bias.copy_(state["fc.bias"].expand(p, -1))
        return self

    def forward(self, x: Tensor) -> Tensor:
        p = self.num_students
        h = F.relu(self.stem_bn(self.stem(x))) * self.stem_mask.view(1, -1, 1, 1)
        for j, block in enumerate(self.blocks):
            _, b, c_in, w, stride = block.spec
            mask = self.masks[j, :, :w].reshape(1, -1, 1, 1)
            out = F.relu(block.bn1(block.conv1(h))) * mask
            out = block.bn2(block.conv2(out)) * mask
            skip = h
            if stride > 1:
                skip = F.max_pool2d(skip, stride, stride, ceil_mode=True)
            if w != c_in:
                n, _, hh, ww = skip.shape
                skip = skip.view(n, p, c_in, hh, ww)
                skip = F.pad(skip, (0, 0, 0, 0, 0, w - c_in)) if w > c_in else skip[:, :, :w]
                skip = skip.reshape(n, p * w, hh, ww)
            out = F.relu(out + skip * mask)
            if b > 0:  # first blocks are always active
                keep = self.active[j].view(1, p, 1, 1, 1)
                n, _, hh, ww = out.shape
                out = torch.lerp(h.view(n, p, w, hh, ww), out.view(n, p, w, hh, ww), keep)
                out = out.view(n, p * w, hh, ww)
            h = out
        feats = h.mean(dim=(2, 3)).view(h.shape[0], p, -1)
        return torch.einsum("npc,pkc->npk", feats, self.fc_weight) + self.fc_bias

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(students={self.num_students}, "
            f"num_classes={self.num_classes}, space={self.space!r})"
        )


def _copy_bn(bn: nn.BatchNorm2d, state: dict[str, Tensor], prefix: str, tile: Any) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(bn, name).copy_(tile(state[f"{prefix}.{name}"]))


def train_batched(
    space: ResNetSpace,
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
    :func:`~dassgnn.kd.train` for the same recipe and seed. A student whose loss
    diverges is dropped from the loss (its parameters are independent of the
    others') and reported as an exception in its slot.

    Args:
        space (ResNetSpace): The space.
        archs (Sequence[Arch]): The students.
        data (DatasetSplits): Train and test sets.
        recipe (Recipe): The recipe; ``recipe.init`` must be ``"copy_first"`` for KD.
        teacher (nn.Module, optional): The trained teacher (a network of ``space``).
        seed (int, optional): Seeds the batches and random weights. (default: :obj:`0`)
        device (str or torch.device, optional): (default: :obj:`"cpu"`)

    Returns:
        list: A :class:`~dassgnn.kd.TrainResult` per student, or the exception
        that stopped it.
    """
    from dassgnn.kd.train import check_loss

    if teacher is not None and recipe.init != "copy_first":
        raise ValueError(f"the batched trainer remaps copy_first only, got init={recipe.init!r}")
    device = torch.device(device)
    start = time.perf_counter()
    stream = BatchStream(data.train, data.test, recipe, seed, device)
    k = data.num_classes
    stream.check_labels(k)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BatchedResNet(space, archs, k, data.channels)
    if teacher is not None:
        teacher = teacher.to(device, memory_format=torch.channels_last).eval()
        model.load_teacher({n: t.detach().cpu() for n, t in teacher.state_dict().items()})
    model.to(device, memory_format=torch.channels_last)
    p = len(archs)
    alpha = recipe.alpha if teacher is not None else 1.0
    optimizer, scheduler = make_optimizer(model.parameters(), recipe, stream.steps_per_epoch)
    autocast = recipe.amp and device.type == "cuda"
    alive = torch.ones(p, dtype=torch.bool, device=device)
    errors: list[Exception | None] = [None] * p
    results = [TrainResult(0.0, 0.0, [], device=str(device)) for _ in range(p)]
    t = recipe.temperature
    for epoch in range(stream.epochs):
        model.train()
        loss_sum = torch.zeros(p, device=device)
        correct = torch.zeros(p, device=device)
        for batch in stream.epoch(epoch):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                logits = model(batch.inputs).float()  # (B, P, K)
                flat = logits.reshape(-1, k)
                targets = batch.targets.repeat_interleave(p)
                ce = F.cross_entropy(
                    flat, targets, reduction="none", label_smoothing=recipe.label_smoothing
                )
                losses = ce.view(-1, p).mean(0)
                if teacher is not None:
                    with torch.no_grad():
                        soft = F.log_softmax(teacher(batch.inputs).float() / t, dim=-1)
                    log_s = F.log_softmax(logits / t, dim=-1)
                    kl = (soft.exp().unsqueeze(1) * (soft.unsqueeze(1) - log_s)).sum(-1).mean(0)
                    losses = alpha * losses + (1 - alpha) * t * t * kl
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
        if errors[i] is not None:
            out.append(errors[i])
            continue
        results[i].best_test_acc = max(a for _, a in results[i].test_curve)
        results[i].wall_time = wall / p
        out.append(results[i])
    return out


@torch.no_grad()
def _evaluate(model: BatchedResNet, stream: BatchStream, k: int) -> tuple[list, list]:
    model.eval()
    hits, labels = [], []
    for x, y in stream.test_batches():
        hits.append((model(x).argmax(-1) == y[:, None]).float())
        labels.append(y)
    hit = torch.cat(hits)  # (N, P)
    per_class = scatter_mean(hit, torch.cat(labels), dim_size=k)  # (K, P)
    return hit.mean(0).tolist(), per_class.t().tolist()
