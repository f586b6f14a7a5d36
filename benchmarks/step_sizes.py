"""The learned Meta-SGD step sizes of a DaSS checkpoint, per adapted parameter tensor.

Meta-SGD learns one step size a parameter (stored as its log); how far they moved from
``PredictorConfig.inner_lr`` says how strongly the checkpoint adapts to a support set.

    python benchmarks/step_sizes.py                 # the committed dass checkpoint
    python benchmarks/step_sizes.py --checkpoint runs/dass.pt
"""

from __future__ import annotations

import argparse

from dassgnn.predictor import load_ranker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="dass", help="a method name or a .pt path")
    args = parser.parse_args()
    ranker = load_ranker(args.checkpoint)
    print(f"initial step size (inner_lr): {ranker.config_.inner_lr:.2e}")
    for m, (_, metasgd) in enumerate(ranker.members_):
        if metasgd is None:
            print(f"member {m}: no Meta-SGD (meta=False)")
            continue
        for name, log_lr in metasgd.log_lr.items():
            lr = log_lr.detach().exp()
            print(
                f"member {m} {name:<20} {tuple(lr.shape)!s:<12} min {lr.min():.2e}  "
                f"median {lr.median():.2e}  max {lr.max():.2e}"
            )


if __name__ == "__main__":
    main()
