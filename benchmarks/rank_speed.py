"""How fast the predictor ranks many candidates for a new task, phase by phase,
beside the naive per-student loop.

    python benchmarks/rank_speed.py                    # 10,000 candidates on the CPU
    python benchmarks/rank_speed.py --device cuda --candidates 10000

The task is the shipped MNIST-5k (10 classes) with a teacher of the default
space, trained here for a few epochs (its accuracy does not matter for speed).
The predictor is the committed checkpoint (or ``--checkpoint``). Phases:
graphs (``to_graph`` for every candidate), functional maps (one masked pass of
the teacher per chunk of students), the rest of the inputs (costs, dataset
sample), and the network (encoders, adaptation on the teacher, head). The
naive loop builds each student, remaps the teacher into it, runs it on the
noise and scores it alone; it is timed on ``--naive`` students and scaled to
all the candidates (stated as such in the output). Peak memory is the
process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from dassgnn.data import Task
from dassgnn.encoders import functional_maps
from dassgnn.kd import Recipe, train_teacher
from dassgnn.predictor import DaSSRanker, default_checkpoint_path, prepare_inputs
from dassgnn.ranking import Teacher
from dassgnn.space import ResNetSpace


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="predictor (default: the committed one)")
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=100, help="students timed in the naive loop")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ranker = DaSSRanker.load(args.checkpoint or default_checkpoint_path())
    config = ranker.config_
    data = Task("mnist5k", classes=tuple(range(10))).load()
    space = ResNetSpace()
    model, result = train_teacher(space, data, Recipe(epochs=1, eval_every=0), seed=0)
    model = model.to(args.device).eval()
    teacher = Teacher(model, space, result.test_acc)
    archs = space.sample(args.candidates, seed=0)
    print(
        f"{args.candidates} candidates of {space!r}, device {args.device}, "
        f"{torch.get_num_threads()} threads; noise {config.noise}"
    )

    t0 = time.perf_counter()
    end_to_end = ranker.score(data, teacher, archs)
    total = time.perf_counter() - t0
    print(
        f"end to end (DaSSRanker.score): {total:.2f} s, "
        f"{1e3 * total / len(archs):.3f} ms a candidate"
    )

    t = time.perf_counter()
    graphs = [space.to_graph(a) for a in archs]
    t_graphs = time.perf_counter() - t
    t = time.perf_counter()
    grams = functional_maps(space, model, [space.teacher, *archs], config.noise)
    t_maps = time.perf_counter() - t
    t = time.perf_counter()
    inputs = prepare_inputs(
        config, space, model, data, archs, result.test_acc, grams=grams, one_batch=True
    )
    t_inputs = time.perf_counter() - t
    t = time.perf_counter()
    pred = ranker.predict_inputs(inputs, space)
    t_net = time.perf_counter() - t
    del graphs
    print(f"  graphs one at a time (to_graph)   {t_graphs:7.2f} s  (not used by score)")
    print(f"  functional maps                   {t_maps:7.2f} s")
    print(f"  other inputs (graph batch, costs) {t_inputs:7.2f} s")
    print(f"  network ({len(ranker.members_)} member(s))             {t_net:7.2f} s")
    assert np.allclose(pred, end_to_end, atol=1e-4)

    n = min(args.naive, len(archs))
    noise = config.noise.make(data.channels).to(args.device)
    t = time.perf_counter()
    with torch.no_grad():
        for arch in archs[:n]:
            student = space.remap(model, space.build(arch, 10, data.channels).to(args.device))
            space.features(student.eval(), noise)
    t_students = time.perf_counter() - t
    t = time.perf_counter()
    for arch in archs[:n]:
        ranker.score(data, teacher, [arch])
    t_loop = time.perf_counter() - t
    scale = len(archs) / n
    print(f"naive loop, timed on {n} students and scaled x{scale:.0f}:")
    print(f"  build + remap + forward a student: {t_students * scale:8.1f} s")
    print(f"  score() one student at a time:     {t_loop * scale:8.1f} s")
    print(f"peak memory (max RSS): {_peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
