#!/bin/bash
# Why is the worker slower at C=32 than at C=8 on the GPU? Its metrics, a py-spy sample, and three batching knobs.
# Runs like gpu-worker-run.sh (same parts); py-spy's wheel goes in the last part's folder under extra/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$PWD
mkdir -p /tmp/parts /tmp/gpu && cp "$here"/part.* /tmp/parts/ 2>/dev/null
cat /tmp/parts/part.* | LD_LIBRARY_PATH="$here/zb" "$here/zb/zstd" -d -q --long=27 | tar xf - -C /tmp/gpu || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu/site /tmp/gpu/wheels/*.whl "$here"/extra/*.whl || exit 1
sp=$(python3 -c "import site; print(site.getsitepackages()[0])")
export LD_LIBRARY_PATH=$(python3 -c "import glob, os; print(':'.join(sorted({os.path.dirname(p) for p in glob.glob('$sp/nvidia/**/*.so*', recursive=True)})))")
export PYTHONPATH=/tmp/gpu/site:$repo/workers/onnx PYTHONUNBUFFERED=1
SPY=/tmp/gpu/site/bin/py-spy; ls -la $SPY
bench() { python3 workers/onnx/bench.py --url http://127.0.0.1:18001 --docs 8 --duration 8 --warmup 2 --concurrency "$1" 2>&1 | grep -v 'httpx: HTTP Request'; }
serve() {
  python3 -m rerank_onnx_worker serve --model /tmp/gpu/model --port 18001 --provider cuda "$@" > /tmp/w.log 2>&1 &
  W=$!
  for i in $(seq 60); do curl -sf http://127.0.0.1:18001/health >/dev/null && break; sleep 0.5; done
}
stop() { kill $W; wait $W 2>/dev/null; }
{
echo "== default, C=8 then C=32, metrics after each"
serve
bench 8; curl -s http://127.0.0.1:18001/metrics | grep -E '_(sum|count) ' > $OUT/metrics8.txt
bench 32; curl -s http://127.0.0.1:18001/metrics | grep -E '_(sum|count) ' > $OUT/metrics32.txt
echo "== py-spy during C=32"
( sleep 4; timeout 20 $SPY dump --pid $W > $OUT/spydump.txt 2>&1; timeout 20 $SPY record --pid $W -d 5 -r 100 --threads --format raw -o $OUT/spy.raw > $OUT/spyrec.log 2>&1 ) &
S=$!
bench 32
wait $S   # not a bare `wait`: that also waits for the worker, which never exits by itself
stop
echo "== --max-batch-tokens 65536, C=32"; serve --max-batch-tokens 65536; bench 32; stop
echo "== --max-padding 0.25, C=32"; serve --max-padding 0.25; bench 32; stop
echo "== --max-wait-ms 0, C=32"; serve --max-wait-ms 0; bench 32; stop
} 2>&1 | tee $OUT/profile.log
