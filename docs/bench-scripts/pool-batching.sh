#!/usr/bin/env bash
# Cross-request batching over two simulated GPUs (api: vllm), RAG trace at c=32, cold cache each run:
# batch_window 0 against 2ms, for two cost models, then one GPU killed (kill -9) midway through the trace.
# Prints one markdown row per run: throughput, p50/p99, backend calls per request, GPU busy fraction, errors.
#
#   flock /tmp/swiftbuild.lock swift build -c release && docs/bench-scripts/pool-batching.sh
#
# Env: BIN (release folder, default .build/release), REQUESTS (trace length, default 1500), C (concurrency, 32),
# WINDOWS (default "0 2ms"), MODELS ("name:base_ms:per_pair_ms" list, default the T4 model and a faster GPU).
set -u
BIN=${BIN:-.build/release}
REQUESTS=${REQUESTS:-1500}
C=${C:-32}
WINDOWS=${WINDOWS:-"0 2ms"}
MODELS=${MODELS:-"t4:8:3 fast:10:0.3"}
WORK=$(mktemp -d /tmp/pool-batching.XXXX)
GPU_A=18011 GPU_B=18012 PROXY=18090
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

"$BIN/rerank-bench" workload --requests "$REQUESTS" --out "$WORK/trace.jsonl" >&2

wait_up() { for _ in $(seq 100); do curl -sf "$1" > /dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }

start() {   # start <base_ms> <per_pair_ms> <window>: two fresh GPUs and a proxy in front of them
  "$BIN/rerank-bench" backend --port $GPU_A --base-ms "$1" --per-pair-ms "$2" --concurrency 2 > "$WORK/gpu-a.log" 2>&1 &
  A=$!
  "$BIN/rerank-bench" backend --port $GPU_B --base-ms "$1" --per-pair-ms "$2" --concurrency 2 > "$WORK/gpu-b.log" 2>&1 &
  B=$!
  cat > "$WORK/policy.yaml" <<EOF
server: { host: 127.0.0.1, port: $PROXY, max_body_bytes: 16777216, max_documents: 1000 }
cache: { memory_entries: 1000000, store: none }
models:
  - name: sim
    batch_window: $3
    backends:
      - { name: gpu-a, api: vllm, url: "http://127.0.0.1:$GPU_A", max_batch: 64, max_concurrency: 2, timeout: 30s }
      - { name: gpu-b, api: vllm, url: "http://127.0.0.1:$GPU_B", max_batch: 64, max_concurrency: 2, timeout: 30s }
EOF
  "$BIN/rerank-proxy" serve --config "$WORK/policy.yaml" --log-level error > "$WORK/proxy.log" 2>&1 &
  P=$!
  PIDS=($A $B $P)
  wait_up "http://127.0.0.1:$GPU_A/health" && wait_up "http://127.0.0.1:$GPU_B/health" && wait_up "http://127.0.0.1:$PROXY/healthz"
}

stop() { kill "${PIDS[@]}" 2>/dev/null; wait "${PIDS[@]}" 2>/dev/null; PIDS=(); }

gpu_stats() { curl -sf "http://127.0.0.1:$1/stats" || echo '{}'; }

row() {   # row <label> <run json> <gpu-a stats json> <gpu-b stats json>
  python3 - "$@" <<'EOF'
import json, sys
label, run = sys.argv[1], json.loads(sys.argv[2])
gpus = [json.loads(s) for s in sys.argv[3:5]]
calls = sum(g.get("calls", 0) for g in gpus)
pairs = sum(g.get("pairs", 0) for g in gpus)
busy = [g["busy_seconds"] / run["seconds"] for g in gpus if "busy_seconds" in g]
print(f"| {label} | {run['requests']} | {run['rps']:.1f} | {run['p50_ms']:.0f} | {run['p99_ms']:.0f} | {calls} | "
      f"{calls / max(1, run['requests']):.2f} | {pairs / max(1, calls):.1f} | "
      + " / ".join(f"{b:.0%}" for b in busy) + f" | {run['errors']} |")
EOF
}

echo "| run | requests | req/s | p50 ms | p99 ms | backend calls | calls/request | pairs/call | GPU busy (a / b) | failed |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for model in $MODELS; do
  IFS=: read -r name base per <<< "$model"
  for window in $WINDOWS; do
    start "$base" "$per" "$window" || exit 1
    run=$("$BIN/rerank-bench" run --url "http://127.0.0.1:$PROXY/v1/rerank" --trace "$WORK/trace.jsonl" --concurrency "$C" --model sim 2>/dev/null | tail -1)
    row "$name GPU (${base} ms + ${per} ms/pair), batch_window $window" "$run" "$(gpu_stats $GPU_A)" "$(gpu_stats $GPU_B)"
    seconds=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['seconds'])" "$run")
    stop
    # The same run, gpu-b killed (SIGKILL) at 40% of the time it took whole.
    start "$base" "$per" "$window" || exit 1
    ( sleep "$(python3 -c "print($seconds * 0.4)")"; kill -9 "$B" ) &
    killer=$!
    run=$("$BIN/rerank-bench" run --url "http://127.0.0.1:$PROXY/v1/rerank" --trace "$WORK/trace.jsonl" --concurrency "$C" --model sim 2>/dev/null | tail -1)
    wait $killer
    row "$name GPU, batch_window $window, gpu-b killed at 40%" "$run" "$(gpu_stats $GPU_A)" '{}'
    stop
  done
done
