#!/bin/bash
# Runs on the lent GPU machine, in the repo root, after the parts made by gpu-worker-bundle.sh are in /tmp/parts
# (this script's own folder holds the last part and a zstd binary). Benchmarks the worker over real HTTP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$PWD
mkdir -p /tmp/parts /tmp/gpu && cp "$here"/part.* /tmp/parts/
cat /tmp/parts/part.* | LD_LIBRARY_PATH="$here/zb" "$here/zb/zstd" -d -q --long=27 | tar xf - -C /tmp/gpu || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu/site /tmp/gpu/wheels/*.whl || exit 1
# onnxruntime-gpu loads cuBLAS/cuDNN/cuRAND 13 from the image's PyTorch nvidia-* packages.
sp=$(python3 -c "import site; print(site.getsitepackages()[0])")
export LD_LIBRARY_PATH=$(python3 -c "import glob, os; print(':'.join(sorted({os.path.dirname(p) for p in glob.glob('$sp/nvidia/**/*.so*', recursive=True)})))")
export PYTHONPATH=/tmp/gpu/site:$repo/workers/onnx PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import onnxruntime as o; print(o.__version__, o.get_available_providers())"
bench="python3 workers/onnx/bench.py --model /tmp/gpu/model --duration 8 --warmup 2"
{
echo "== cuda fp32, 8 docs"; $bench --docs 8 --concurrency 1,8,32 --serve-args='--provider cuda' --json "$OUT/cuda8.json"
echo "== cuda fp16, 8 docs"; $bench --docs 8 --concurrency 1,8,32 --variants dynamic --serve-args='--provider cuda --fp16' --json "$OUT/cuda8fp16.json"
echo "== cuda fp32, 64 docs"; $bench --docs 64 --concurrency 1,8 --serve-args='--provider cuda' --json "$OUT/cuda64.json"
echo "== cpu 16 cores, 8 docs"; $bench --docs 8 --concurrency 1,8,32 --variants dynamic --serve-args='--provider cpu --threads 16' --json "$OUT/cpu8.json"
} 2>&1 | grep -v 'httpx: HTTP Request' | tee "$OUT/bench.log"
