r"""Zero-cost proxies: scores of a student at initialisation, from one batch of the
task's own images, without training (as compared in
[Abdelfattah et al., 2021](https://arxiv.org/abs/2101.08134)).

Each is computed on the student built with random weights from ``seed`` (the
same for every candidate), higher is better as in its paper, and summed over
the weights of the convolutions and linear layers:

- ``synflow`` ([Tanaka et al., 2020](https://arxiv.org/abs/2006.05467)):
  $\sum_\theta |\theta \odot \partial R / \partial \theta|$ with
  $R = \mathbf{1}^\top f_{|\theta|}(\mathbf{1})$, the network with absolute
  weights and no BatchNorm on an all-ones input, in float64;
- ``snip`` ([Lee et al., 2019](https://arxiv.org/abs/1810.02340)):
  $\sum_\theta |\theta \odot \partial \mathcal{L} / \partial \theta|$ for the
  cross-entropy $\mathcal{L}$ of the batch;
- ``grad_norm``: $\sum_{\text{layers}} \|\partial \mathcal{L} / \partial W\|_2$;
- ``naswot`` ([Mellor et al., 2021](https://arxiv.org/abs/2006.04647)):
  $\log |\det K|$ with $K_{ij}$ the number of ReLU units on which images $i$ and
  $j$ agree (both active or both inactive).

A score that overflows (synflow in very deep networks) is returned as
``inf`` or ``nan`` as it is, never replaced.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from dassgnn.ranking import RankingMethod, Teacher, register_ranker, task_shape
from dassgnn.space import Arch
from dassgnn.utils.validation import check_int, check_seed


def task_batch(task: Any, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
    """``batch_size`` training images of the task (drawn from ``seed``),
    standardised with the training set's channel statistics, and their labels."""
    from dassgnn.kd.augment import channel_stats, normalize

    data = task.load() if hasattr(task, "load") else task
    images, labels = data.train.tensors()
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(images.shape[0], generator=g)[:batch_size]
    mean, std = channel_stats(images)
    return normalize(images[idx], mean, std), labels[idx].long()


def _weights(model: nn.Module) -> list[Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """SynFlow of ``model`` (see the module's text); ``x`` gives the input shape."""
    net = copy.deepcopy(model).double().eval()
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    out = net(torch.ones(1, *x.shape[1:], dtype=torch.float64))
    weights = _weights(net)
    grads = list(torch.autograd.grad(out.sum(), weights))
    return _saliency(weights, grads)


def _saliency(weights: list[Tensor], grads: list[Tensor]) -> float:
    with torch.no_grad():
        return float(
            torch.stack([(w * g).abs().sum() for w, g in zip(weights, grads, strict=True)]).sum()
        )


def _loss_grads(model: nn.Module, x: Tensor, y: Tensor) -> tuple[list[Tensor], list[Tensor]]:
    model.train()
    weights = _weights(model)
    loss = F.cross_entropy(model(x), y)
    return weights, list(torch.autograd.grad(loss, weights))


def snip(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """SNIP saliency of ``model`` on the batch (see the module's text)."""
    weights, grads = _loss_grads(model, x, y)
    return _saliency(weights, grads)


def grad_norm(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """The sum of the layers' gradient norms on the batch (see the module's text)."""
    _, grads = _loss_grads(model, x, y)
    return float(torch.stack([g.norm() for g in grads]).sum())


class _ReLUCodes(TorchFunctionMode):
    """Records the binary activity pattern of every ReLU the network applies,
    module or functional, without knowing the network's layout."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: list[Tensor] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if func in (F.relu, torch.relu, torch.relu_, torch.Tensor.relu):
            self.codes.append((out.detach().flatten(1) > 0).double())
        return out


def naswot(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """NASWOT: the log-determinant of the ReLU-code kernel of the batch
    (NaN where the kernel is singular)."""
    recorder = _ReLUCodes()
    with torch.no_grad(), recorder:
        model.train()(x)
    if not recorder.codes:
        return float("nan")
    c = torch.cat(recorder.codes, dim=1)
    k = c @ c.t() + (1 - c) @ (1 - c).t()
    sign, logdet = torch.linalg.slogdet(k)
    return float(logdet) if float(sign) > 0 else float("nan")


PROXIES: dict[str, Callable[[nn.Module, Tensor, Tensor], float]] = {
    "synflow": synflow,
    "snip": snip,
    "grad_norm": grad_norm,
    "naswot": naswot,
}
"""The zero-cost proxies by name."""


class ZeroCostProxy(RankingMethod):
    """A zero-cost proxy as a ranking method (training-free; ``fit`` is a no-op; measured
    students are ignored).

    Args:
        batch_size (int, optional): Images of the task a score is computed on. (default: `64`)
        seed (int, optional): Seeds the batch and the students' initial weights. (default: `0`)
    """

    proxy: str = ""

    def __init__(self, batch_size: int = 64, seed: int = 0) -> None:
        self.batch_size = batch_size
        self.seed = seed

    def _check_proxy(self) -> str:
        if self.proxy not in PROXIES:
            raise ValueError(
                f"{type(self).__name__} names no proxy (proxy={self.proxy!r}): use one of the "
                f"registered proxies {', '.join(PROXIES)} (create_ranker(name)), or subclass "
                "ZeroCostProxy with proxy = <one of them>"
            )
        return self.proxy

    def _fit(self, records: Any) -> None:
        self._check_proxy()

    def _score(
        self, task: Any, teacher: Teacher, archs: list[Arch], measured: dict[Arch, float]
    ) -> np.ndarray:
        fn = PROXIES[self._check_proxy()]
        batch_size = check_int(self.batch_size, "batch_size", minimum=2)
        seed = check_seed(self.seed)
        k, c, _ = task_shape(task)
        x, y = task_batch(task, batch_size, seed)
        out = []
        for arch in archs:
            model = teacher.space.build(arch, k, c, seed=seed)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                out.append(fn(model, x, y))
        return np.asarray(out, dtype=np.float64)


@register_ranker("synflow")
class SynFlow(ZeroCostProxy):
    """SynFlow at initialisation: a
    [`ZeroCostProxy`][dassgnn.baselines.ZeroCostProxy] (see ``dassgnn.baselines.zero_cost``)."""

    proxy = "synflow"


@register_ranker("snip")
class Snip(ZeroCostProxy):
    """SNIP at initialisation: a
    [`ZeroCostProxy`][dassgnn.baselines.ZeroCostProxy] (see ``dassgnn.baselines.zero_cost``)."""

    proxy = "snip"


@register_ranker("grad_norm")
class GradNorm(ZeroCostProxy):
    """Gradient norm at initialisation: a
    [`ZeroCostProxy`][dassgnn.baselines.ZeroCostProxy] (see ``dassgnn.baselines.zero_cost``)."""

    proxy = "grad_norm"


@register_ranker("naswot")
class NASWOT(ZeroCostProxy):
    """NASWOT at initialisation: a
    [`ZeroCostProxy`][dassgnn.baselines.ZeroCostProxy] (see ``dassgnn.baselines.zero_cost``)."""

    proxy = "naswot"
