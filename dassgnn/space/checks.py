"""The conformance checks every search space passes (like scikit-learn's ``check_estimator``).

`check_space()` runs a space through what the rest of the library relies
on; ``tests/space/test_conformance.py`` runs it over every registered space,
and an author of a new space calls it from their own tests::

    from dassgnn.space.checks import check_space

    def test_my_space():
        check_space(MySpace())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from dassgnn.space.arch import Arch
from dassgnn.space.base import SearchSpace, space_from_dict

_T = TypeVar("_T")


class SpaceCheckError(AssertionError):
    """A search space broke one of the promises of [`SearchSpace`][dassgnn.space.SearchSpace]."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SpaceCheckError(message)


def count_macs(model: nn.Module, x: Tensor) -> int:
    """Multiply-accumulates of the convolutions and linear layers of one forward
    pass of ``model`` on ``x``, per image, counted with forward hooks."""
    total = 0

    def conv_hook(module: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d)
        kh, kw = module.kernel_size
        per_output = module.in_channels // module.groups * kh * kw
        total += out[0].numel() * per_output

    def linear_hook(module: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Linear)
        total += module.in_features * module.out_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model.eval()(x[:1])
    finally:
        for handle in handles:
            handle.remove()
    return total


def _perturb_batchnorm(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


def check_space(
    space: SearchSpace,
    *,
    num_classes: int = 5,
    in_channels: int = 3,
    image_size: int = 16,
    num_archs: int = 8,
    seed: int = 0,
) -> None:
    """Checks that ``space`` keeps every promise of [`SearchSpace`][dassgnn.space.SearchSpace].

    Sampling (distinct, canonical, reproducible members), the id and JSON round
    trips, settings and key round trips through the registry, building
    (seeded, output shape), analytic parameters and FLOPs against the built
    network (parameters counted, multiply-accumulates of convolutions and
    linear layers counted with hooks), graphs (the schema's sizes, one graph
    per architecture, distinct graphs for distinct architectures), feature
    maps, remapping (the teacher remapped into itself computes the
    teacher's outputs exactly; every sampled student accepts the teacher's weights), and the
    encodings and derivations of `check_encodings()`.

    Args:
        space (SearchSpace): The space.
        num_classes (int, optional): Classes of the built networks. (default: `5`)
        in_channels (int, optional): Image channels. (default: `3`)
        image_size (int, optional): Input size of the forward checks. (default: `16`)
        num_archs (int, optional): Architectures sampled for the checks. (default: `8`)
        seed (int, optional): Seed of the sampling and the inputs. (default: `0`)

    Raises:
        SpaceCheckError: At the first broken promise, saying which.
    """
    _require(isinstance(space, SearchSpace), f"{space!r} lacks members of the SearchSpace protocol")
    k, c = num_classes, in_channels
    teacher = space.teacher
    _require(space.contains(teacher), "the teacher is not a member of its own space")

    again = space_from_dict(space.to_dict())
    _require(again.key == space.key, "to_dict() does not recreate a space with the same key")
    _require(space.to_dict().get("name") == space.name, "to_dict() lacks the space's name")

    archs = space.sample(num_archs, seed=seed)
    _require(len(archs) == num_archs, f"sample({num_archs}) gave {len(archs)} archs")
    _require(len(set(archs)) == num_archs, "sample() gave duplicates")
    _require(archs == space.sample(num_archs, seed=seed), "sample() is not reproducible")
    for arch in archs:
        _require(space.contains(arch), f"sampled {arch!r} is not a member")
        _require(space.canonical(arch) == arch, f"sampled {arch!r} is not canonical")
        _require(space.parse(arch.id) == arch, f"parse(id) does not give back {arch!r}")
        _require(Arch.from_json(arch.to_json()) == arch, f"JSON round trip changes {arch!r}")
    outside = Arch((1,) * (teacher.num_stages + 1), ((1,),) * (teacher.num_stages + 1))
    _require(space.why_not(outside) is not None, f"{outside!r} should be outside the space")
    try:
        space.check(outside)
    except ValueError:
        pass
    else:
        raise SpaceCheckError(f"check({outside!r}) did not raise ValueError")

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, image_size, image_size, generator=g)
    schema = space.graph_schema
    graphs = set()
    for arch in [teacher, *archs]:
        model = space.build(arch, k, c, seed=seed)
        again_model = space.build(arch, k, c, seed=seed)
        _require(
            all(
                torch.equal(a, b)
                for a, b in zip(
                    model.state_dict().values(), again_model.state_dict().values(), strict=True
                )
            ),
            f"build({arch!r}, seed=...) is not reproducible",
        )
        out = model.eval()(x)
        _require(tuple(out.shape) == (2, k), f"{arch!r} gives outputs {tuple(out.shape)}")
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        _require(
            space.params(arch, k, c) == params,
            f"params({arch!r}) = {space.params(arch, k, c)} but the network has {params}",
        )
        macs = count_macs(model, x)
        flops = space.flops(arch, k, c, image_size)
        _require(flops == macs, f"flops({arch!r}) = {flops} but the network does {macs} MACs")
        feats = space.features(model, x)
        _require(
            len(feats) >= 1 and all(f.shape[0] == 2 and f.dim() == 4 for f in feats),
            f"features() of {arch!r} must be a non-empty list of (N, C, H, W) maps",
        )
        graph = space.to_graph(arch)
        _require(
            graph.x.shape[1] == schema.num_node_features,
            f"graph of {arch!r} has {graph.x.shape[1]} node features, the schema "
            f"{schema.num_node_features}",
        )
        _require(
            graph.edge_attr.shape == (graph.edge_index.shape[1], schema.num_edge_features),
            f"edge_attr of {arch!r} does not match the schema's edge types",
        )
        _require(
            int(graph.op.max()) < len(schema.ops) and int(graph.op.min()) >= 0,
            f"graph of {arch!r} has op indices outside the schema",
        )
        _require(graph.arch_id == arch.id, f"graph of {arch!r} names another arch")
        graphs.add((graph.x.numpy().tobytes(), graph.edge_index.numpy().tobytes()))
    _require(len(graphs) == len({teacher, *archs}), "distinct archs gave the same graph")
    builder = getattr(space, "graph_batch", None)
    if builder is not None:
        from torch_geometric.data import Batch

        fast = builder([teacher, *archs])
        slow = Batch.from_data_list([space.to_graph(a) for a in [teacher, *archs]])
        for name in ("x", "edge_index", "edge_attr", "op", "batch"):
            _require(
                torch.equal(getattr(fast, name), getattr(slow, name)),
                f"graph_batch() differs from batching to_graph() in {name!r}",
            )

    trained = space.build(teacher, k, c, seed=seed + 1)
    _perturb_batchnorm(trained, seed)
    copy = space.remap(trained, space.build(teacher, k, c, seed=seed + 2))
    with torch.no_grad():
        _require(
            torch.allclose(copy.eval()(x), trained.eval()(x), atol=1e-6),
            "the teacher remapped into itself does not compute the teacher's outputs",
        )
        for arch in archs:
            student = space.remap(trained, space.build(arch, k, c, seed=seed))
            _require(
                tuple(student.eval()(x).shape) == (2, k),
                f"the remapped student {arch!r} gives wrong shapes",
            )
    check_encodings(space, num_classes=k, in_channels=c, num_archs=num_archs, seed=seed)


def _optional(call: Callable[[], _T]) -> _T | None:
    """``call()``, or `None` where the space does not support it (`NotImplementedError`)."""
    try:
        return call()
    except NotImplementedError:
        return None


def check_encodings(
    space: SearchSpace,
    *,
    num_classes: int = 5,
    in_channels: int = 3,
    num_archs: int = 8,
    seed: int = 0,
) -> None:
    """Checks the encodings and derivations of a space (part of `check_space()`).

    The flat encoding (a float vector of ``flat_size`` per member, distinct for distinct
    members) always; and, where the space supports them (they may raise
    `NotImplementedError`): the genotype (integers within ``genotype_bounds()``,
    ``from_genotype(genotype(a)) == a``, any vector in the bounds, rounded and clipped,
    decoding to a canonical member), the smallest member (canonical, no more parameters or
    FLOPs than any sampled member), and the derivation of the space from its own teacher
    network (``from_module`` gives back an equal space; ``from_state_dict``, given the space's
    settings as hints, gives a space of the same kind whose teacher network loads the
    teacher's weights).

    Raises:
        SpaceCheckError: At the first broken promise, saying which.
    """
    k, c = num_classes, in_channels
    teacher = space.teacher
    archs = [teacher, *space.sample(num_archs, seed=seed)]
    size = space.flat_size
    flats = set()
    for arch in archs:
        flat = space.flat_encoding(arch)
        _require(
            isinstance(flat, Tensor) and flat.dtype.is_floating_point and flat.shape == (size,),
            f"flat_encoding({arch!r}) is not a float vector of flat_size={size}",
        )
        flats.add(flat.numpy().tobytes())
    _require(len(flats) == len(set(archs)), "distinct archs gave the same flat_encoding()")

    bounds = _optional(space.genotype_bounds)
    if bounds is not None:
        lower, upper = (np.asarray(b) for b in bounds)
        _require(
            lower.shape == upper.shape and lower.ndim == 1 and bool((lower <= upper).all()),
            "genotype_bounds() must be two vectors of one length with lower <= upper",
        )
        for arch in archs:
            x = np.asarray(space.genotype(arch))
            _require(
                x.shape == lower.shape and np.issubdtype(x.dtype, np.integer),
                f"genotype({arch!r}) is not an integer vector of the bounds' length",
            )
            _require(
                bool(((lower <= x) & (x <= upper)).all()), f"genotype({arch!r}) is out of bounds"
            )
            _require(space.from_genotype(x) == arch, f"from_genotype(genotype({arch!r})) differs")
        rng = np.random.default_rng(seed)
        for x in [lower, upper, *(rng.uniform(lower - 1, upper + 1) for _ in range(num_archs))]:
            arch = space.from_genotype(x)
            _require(
                space.contains(arch) and space.canonical(arch) == arch,
                f"from_genotype({x.tolist()}) is not a canonical member: {arch!r}",
            )

    smallest = _optional(space.smallest)
    if smallest is not None:
        _require(
            space.contains(smallest) and space.canonical(smallest) == smallest,
            f"smallest() = {smallest!r} is not a canonical member",
        )
        cost = (space.params(smallest, k, c), space.flops(smallest, k, c))
        for arch in archs:
            other = (space.params(arch, k, c), space.flops(arch, k, c))
            _require(
                cost[0] <= other[0] and cost[1] <= other[1],
                f"smallest() = {smallest!r} costs {cost} (params, FLOPs), more than {arch!r}'s "
                f"{other}",
            )

    network = space.build(teacher, k, c, seed=seed)
    found = _optional(lambda: type(space).from_module(network))
    if found is not None:
        _require(found == space, f"from_module(its teacher network) gave {found!r}")
    hints = {k: v for k, v in space.to_dict().items() if k != "name"}
    derived = _optional(lambda: type(space).from_state_dict(network.state_dict(), **hints))
    if derived is not None:
        _require(type(derived) is type(space), f"from_state_dict() gave a {type(derived)}")
        try:
            derived.build(derived.teacher, k, c).load_state_dict(network.state_dict())
        except RuntimeError as error:
            raise SpaceCheckError(
                f"from_state_dict() gave {derived!r}, whose teacher does not load the "
                f"teacher's weights: {str(error).splitlines()[0]}"
            ) from None
