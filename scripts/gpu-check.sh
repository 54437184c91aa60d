#!/usr/bin/env bash
# One command for a machine with a GPU (under 5 minutes on a recent one): CUDA tests of the training path and
# `awh bench --device cuda`, then one summary table (also written to $OUT/gpu-check.md, OUT default ./gpu-check).
#   scripts/gpu-check.sh            (uses .venv/bin/python if present, else python3)
# What it runs (scripts/gpu_check.py): a short AWH training on generated data on cuda, killed with kill -9
# after its second checkpoint and resumed, against the same run uninterrupted (deterministic: true, so the
# weights must be bit-identical); the same run in bf16, fp16 and with compile: true (final losses beside
# fp32's); the sync budget (torch.cuda.set_sync_debug_mode counts synchronizing calls of one step); and
# awh bench --device cuda (matmul peaks in fp32/TF32/bf16, steps at 256²).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu-check: torch sees no CUDA device')"
exec "$PY" scripts/gpu_check.py --out "$OUT"
