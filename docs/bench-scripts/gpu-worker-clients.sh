#!/bin/bash
# Is the Python bench client, not the worker, what limits C=32 on the GPU? One worker (CUDA, defaults), then the
# same total concurrency from one client process and from several (each process is one asyncio loop + httpx).
# Runs like gpu-worker-run.sh (same parts in /tmp/parts; this script in the last part's folder).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$PWD
mkdir -p /tmp/parts /tmp/gpu && cp "$here"/part.* /tmp/parts/ 2>/dev/null
cat /tmp/parts/part.* | LD_LIBRARY_PATH="$here/zb" "$here/zb/zstd" -d -q --long=27 | tar xf - -C /tmp/gpu || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu/site /tmp/gpu/wheels/*.whl || exit 1
sp=$(python3 -c "import site; print(site.getsitepackages()[0])")
export LD_LIBRARY_PATH=$(python3 -c "import glob, os; print(':'.join(sorted({os.path.dirname(p) for p in glob.glob('$sp/nvidia/**/*.so*', recursive=True)})))")
export PYTHONPATH=/tmp/gpu/site:$repo/workers/onnx PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -m rerank_onnx_worker serve --model /tmp/gpu/model --port 18001 --provider cuda --max-queue 8192 --max-client-batch-size 64 > /tmp/w.log 2>&1 &
W=$!
for i in $(seq 120); do curl -sf http://127.0.0.1:18001/health >/dev/null && break; sleep 0.5; done
# $1 processes × $2 connections each, $3 docs per request; prints the summed pairs/s and the worst p50/p99.
point() {
  local procs=$1 conc=$2 docs=$3 pids=() i
  rm -f /tmp/pt.*.json
  nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 250 > /tmp/util.txt &
  local smi=$!
  for i in $(seq "$procs"); do
    python3 workers/onnx/bench.py --url http://127.0.0.1:18001 --docs "$docs" --duration 8 --warmup 2 --concurrency "$conc" \
      --json /tmp/pt.$i.json > /dev/null 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done   # only the clients: never a bare `wait` (the worker never exits)
  kill $smi; wait $smi 2>/dev/null
  python3 - "$procs" "$conc" "$docs" <<'PY'
import glob, json, sys
rs = [json.load(open(f))[0] for f in sorted(glob.glob("/tmp/pt.*.json"))]
u = [int(x) for x in open("/tmp/util.txt").read().split() if x.strip().isdigit()]
busy = sorted(u)[len(u) // 2] if u else -1
print(f"procs={sys.argv[1]:>2} conc/proc={sys.argv[2]:>2} total C={int(sys.argv[1]) * int(sys.argv[2]):>3} docs={sys.argv[3]:>2}  "
      f"pairs/s={sum(r['pairs_per_s'] for r in rs):8.0f}  p50={max(r['p50_ms'] for r in rs):6.1f} ms  "
      f"p99={max(r['p99_ms'] for r in rs):6.1f} ms  errors={sum(r['errors'] for r in rs)}  gpu util median={busy}%")
PY
}
{
point 1 8 8
point 1 32 8
point 4 8 8
point 8 4 8
point 8 8 8
point 1 8 64
point 4 8 64
} 2>&1 | tee "$OUT/clients.log"
curl -s http://127.0.0.1:18001/metrics | grep -E '_(sum|count) ' > "$OUT/metrics.txt"
kill $W; wait $W 2>/dev/null
