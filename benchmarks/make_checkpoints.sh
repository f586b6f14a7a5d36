#!/usr/bin/env bash
# Remakes the committed checkpoints of the learned ranking methods
# (dassgnn/assets/checkpoints/*.pt) from the committed records, with the library's defaults.
# Needs DASSGNN_DATA (the meta-training tasks' datasets: cifar10, fashion_mnist, omniglot_small1,
# usps, medical_mnist, simpsons_mnist, chinese_mnist). About a minute each on 2 CPU cores;
# set OMP_NUM_THREADS=1 while other jobs share the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dassgnn/assets/checkpoints
mkdir -p "$out"
dassgnn meta-train --method dass --out "$out/dass.pt" --quiet
dassgnn meta-train --method dass_pooled --out "$out/dass_pooled.pt" --quiet
# metad2a learns from the scratch runs of the meta-training tasks
# (benchmarks/plans/meta_train_scratch.toml and meta_train_scratch_new.toml).
dassgnn meta-train --method metad2a --out "$out/metad2a.pt" --quiet
ls -la "$out"
