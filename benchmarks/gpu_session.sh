#!/usr/bin/env bash
# The CUDA checks and benchmarks, as one script for a lent GPU machine (its image has torch,
# transformers, pandas, scipy, ...; plotly is carried as a wheel in .wheels/). Writes logs to $OUT.
#   bash benchmarks/gpu_session.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
if ls .wheels/*.whl >/dev/null 2>&1; then python3 -m pip install -q --no-deps --target /tmp/pp .wheels/*.whl; fi
export PYTHONPATH=$PWD/src:/tmp/pp PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, initscope; print('torch', torch.__version__, torch.cuda.get_device_name(), 'cpu threads', torch.get_num_threads())" | tee -a "$OUT/device.txt"
step() { local name=$1 limit=$2; shift 2; echo "== $name"; timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"; echo "== $name rc=$?"; }
step check_cuda 150 python3 benchmarks/check_cuda.py --device cuda
step check_inspect_cuda 300 python3 benchmarks/check_inspect_cuda.py
step network_view 120 python3 benchmarks/bench_network_view.py --device cuda --networks 100000 --naive-networks 20
step engine 150 python3 benchmarks/bench_engine.py --device cuda --parts laws,full,presets,run
