"""How fast the predictor adapts to a new task and ranks many candidates, and its peak
memory, beside the naive per-student loop.

    python benchmarks/rank_speed.py                          # 10,000 candidates, 10 measured
    python benchmarks/rank_speed.py --candidates 100000 --shots 10
    python benchmarks/rank_speed.py --device cuda --candidates 10000
    python benchmarks/rank_speed.py --parts                  # + where one chunk's time goes

The task is the shipped MNIST-5k (10 classes) with a teacher of the default space, trained
here for one epoch (its accuracy does not matter for speed). ``--shots`` students are
"measured" (their accuracies are made up: only the time matters) and the predictor adapts on
them and the teacher before it scores the candidates, in chunks of ``dassgnn.predictor.CHUNK``
so that memory does not grow with the pool. The predictor is the committed checkpoint (or
``--checkpoint``). The naive loop (build each student, remap the teacher into it, run it on
the noise, score it alone) is timed on ``--naive`` students and scaled to all the candidates
(stated as such). Peak memory is the process's maximum resident set size, read after the
end-to-end call (the teacher's training, before it, is small). ``--parts`` also times the
pieces of one chunk of candidates, one after the other: the simple features, the functional
maps, the graph batch, the architecture GNN, and all of the students' embedding (the GNN
again included) with the fusion.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any

import torch

from dassgnn.data import Task
from dassgnn.kd import Recipe, train_teacher
from dassgnn.predictor import CHUNK, DaSSRanker, default_checkpoint_path
from dassgnn.predictor.inputs import functional_maps, prepare_context, prepare_students
from dassgnn.ranking import Teacher
from dassgnn.space import ResNetSpace


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _parts(
    ranker: DaSSRanker, space: ResNetSpace, teacher: Teacher, data: Any, archs: list[Any]
) -> None:
    """Seconds of each piece of scoring one chunk (the first member, no adaptation)."""
    config, (model, _) = ranker.config_, ranker.members_[0]
    part = archs[:CHUNK]
    k, c, size = data.num_classes, data.channels, data.image_size
    times: dict[str, float] = {}

    def timed(name: str, call: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        out = call()
        times[name] = time.perf_counter() - t
        return out

    with torch.no_grad():
        assert teacher.accuracy is not None  # main() gives the teacher its test accuracy
        context = prepare_context(config, space, teacher.model, data, teacher.accuracy)
        timed("simple features", lambda: space.arch_features(part, k, c, size))
        grams = timed(
            "functional maps", lambda: functional_maps(space, teacher.model, part, config.noise)
        )
        timed("graph batch", lambda: space.graph_batch(part))
        students = prepare_students(
            config, space, teacher.model, data, part, grams=grams, one_batch=True
        )
        timed("architecture GNN", lambda: model.arch(students.batch))
        task = model.embed_task(context)
        timed(
            "embed all + fuse",
            lambda: model.fuse(task, model.embed_students(context, students), students.simple),
        )
    print(f"one chunk of {len(part)} candidates, piece by piece:")
    for name, seconds in times.items():
        print(f"  {name:<18} {seconds:6.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="predictor (default: the committed one)")
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--shots", type=int, default=10, help="measured students adapted on")
    parser.add_argument("--naive", type=int, default=50, help="students timed in the naive loop")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--parts", action="store_true", help="time the pieces of one chunk")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ranker = DaSSRanker.load(args.checkpoint or default_checkpoint_path())
    data = Task("mnist5k", classes=tuple(range(10))).load()
    space = ResNetSpace()
    model, result = train_teacher(space, data, Recipe(epochs=1, eval_every=0), seed=0)
    model = model.to(args.device).eval()
    teacher = Teacher(model, space, result.test_acc)
    pool = space.sample(args.candidates + args.shots, seed=0)
    archs, shots = pool[: args.candidates], pool[args.candidates :]
    measured = {a: 0.9 - 0.01 * i for i, a in enumerate(shots)}
    print(
        f"{len(archs)} candidates of {space!r}, {len(shots)} measured students, device "
        f"{args.device}, {torch.get_num_threads()} threads; peak RSS before scoring "
        f"{_peak_mb():.0f} MB"
    )
    t0 = time.perf_counter()
    ranker.score(data, teacher, archs, measured=measured)
    total = time.perf_counter() - t0
    print(
        f"end to end (DaSSRanker.score, adapting on the teacher and {len(shots)} students): "
        f"{total:.2f} s, {1e3 * total / len(archs):.3f} ms a candidate; "
        f"peak RSS {_peak_mb():.0f} MB"
    )
    if args.parts:
        _parts(ranker, space, teacher, data, archs)
    n = min(args.naive, len(archs))
    noise = ranker.config_.noise.make(data.channels).to(args.device)
    t = time.perf_counter()
    with torch.no_grad():
        for arch in archs[:n]:
            student = space.remap(model, space.build(arch, 10, data.channels).to(args.device))
            space.features(student.eval(), noise)
    t_students = time.perf_counter() - t
    t = time.perf_counter()
    for arch in archs[:n]:
        ranker.score(data, teacher, [arch], measured=measured)
    t_loop = time.perf_counter() - t
    scale = len(archs) / n
    print(f"naive loop, timed on {n} students and scaled x{scale:.0f}:")
    print(f"  build + remap + forward a student: {t_students * scale:8.1f} s")
    print(f"  score() one student at a time:     {t_loop * scale:8.1f} s")


if __name__ == "__main__":
    main()
