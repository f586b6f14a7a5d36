"""dassgnn's main job: the benchmark suite (``dassgnn.bench``).

Every ranking method (the DaSS predictor, its pooled and MetaD2A-style
variants, parameters, FLOPs, zero-cost proxies, DisWOT, random) ranks the
measured students of every meta-test task of the committed records; the run
reports Spearman, Kendall, Pearson, precision@5 and regret@1 against the
seed-mean KD accuracy beside each task's ceiling, with bootstrap intervals,
the students each method picks under a parameter budget (among the measured
ones, and in a sampled pool whose picks are KD-trained), and a verdict.

    python benchmarks/run.py                      # embedded default, about 15 min on 2 CPU cores
    python benchmarks/run.py --config full --device cuda
    python benchmarks/run.py --methods dass params flops --tasks omniglot_small2 --out /tmp/r

Without ``--data`` the datasets are looked up in ``DASSGNN_DATA`` or
``../shared/datasets`` beside the checkout; tasks whose data is missing are
skipped with the reason (MNIST-5k, the 8x8 digits and the skimage textures
ship with the dependencies). Results go to ``benchmarks/results/<config>/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dassgnn.bench import main

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    shared = here.parent.parent / "shared" / "datasets"
    if not os.environ.get("DASSGNN_DATA") and "--data" not in sys.argv and shared.is_dir():
        os.environ["DASSGNN_DATA"] = str(shared)
    sys.exit(main(results_root=here / "results"))
