#!/usr/bin/env bash
# One-command local stack: ONNX worker (all-MiniLM-L6-v2, bi mode) + rerank-proxy.
#
#   scripts/run-local.sh            # build, export once, start both, Ctrl-C stops both
#   SKIP_PROXY=1 scripts/run-local.sh   # worker only (no Swift build / proxy)
#
# Env: WORKER_PORT (8001; must match policies/local.yaml), PROXY_CONFIG (policies/local.yaml),
#      MODEL_DIR (data/models/minilm-bi), WORKER_ARGS (extra `serve` flags), PYTHON.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/workers/onnx/.venv"
WORKER_HOST=127.0.0.1
WORKER_PORT="${WORKER_PORT:-8001}"
PROXY_URL="http://127.0.0.1:8080"
PROXY_CONFIG="${PROXY_CONFIG:-policies/local.yaml}"
MODEL_DIR="${MODEL_DIR:-data/models/minilm-bi}"
SKIP_PROXY="${SKIP_PROXY:-0}"
WORKER_URL="http://$WORKER_HOST:$WORKER_PORT"

log() { echo "[run-local] $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- 1. system packages for the proxy ----------------------------------------
if [[ "$SKIP_PROXY" != 1 ]] && command -v dpkg >/dev/null 2>&1 && ! dpkg -s libsqlite3-dev >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]]; then
    log "installing libsqlite3-dev"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libsqlite3-dev >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libsqlite3-dev >/dev/null; }
  else
    log "warning: libsqlite3-dev is missing and we are not root; run: sudo apt-get install -y libsqlite3-dev"
  fi
fi

# --- 2. build the proxy --------------------------------------------------------
if [[ "$SKIP_PROXY" != 1 ]]; then
  log "building rerank-proxy (release)"
  swift build -c release --product rerank-proxy
fi

# --- 3. worker virtualenv -----------------------------------------------------
"$ROOT/scripts/setup-worker-venv.sh"

# --- 4. export the model once --------------------------------------------------
if [[ ! -f "$MODEL_DIR/model.onnx" ]]; then
  log "exporting all-MiniLM-L6-v2 (bi mode) to $MODEL_DIR"
  "$VENV/bin/rerank-onnx-worker" --log-level warning export-minilm --out "$MODEL_DIR" --mode bi >/dev/null
fi

# --- helpers --------------------------------------------------------------------
PIDS=()
cleanup() {
  local code=$?
  trap - INT TERM EXIT
  if ((${#PIDS[@]})); then
    log "stopping (pids ${PIDS[*]})"
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

http_ok() {  # http_ok URL -> 0 when it answers 2xx
  "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if 200 <= r.status < 300 else 1)
except Exception:
    sys.exit(1)
PY
}

wait_ready() {  # wait_ready NAME URL PID TIMEOUT_S
  local name=$1 url=$2 pid=$3 t=$4 i
  for ((i = 0; i < t * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || die "$name exited during startup"
    http_ok "$url" && { log "$name ready: $url"; return 0; }
    sleep 0.25
  done
  die "$name did not become ready at $url within ${t}s"
}

# --- 5. worker ----------------------------------------------------------------
port_free() {  # port_free HOST PORT -> 0 when nothing listens there
  "$VENV/bin/python" -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], int(sys.argv[2])))' "$1" "$2" 2>/dev/null
}
port_free "$WORKER_HOST" "$WORKER_PORT" || die "port $WORKER_PORT on $WORKER_HOST is in use (another run-local or worker?); stop it or set WORKER_PORT and point policies/local.yaml at it"
"$VENV/bin/rerank-onnx-worker" serve --model "$MODEL_DIR" --mode bi --host "$WORKER_HOST" --port "$WORKER_PORT" \
  --served-model-name all-minilm-l6-v2 ${WORKER_ARGS:-} &
PIDS+=($!)
wait_ready worker "$WORKER_URL/health" "${PIDS[-1]}" 120

# --- 6. proxy -----------------------------------------------------------------
if [[ "$SKIP_PROXY" != 1 ]]; then
  port_free 127.0.0.1 8080 || die "port 8080 is in use; stop whatever listens there"
  "$ROOT/.build/release/rerank-proxy" serve --config "$PROXY_CONFIG" &
  PIDS+=($!)
  wait_ready proxy "$PROXY_URL/healthz" "${PIDS[-1]}" 60
  BASE="$PROXY_URL"
else
  BASE="$WORKER_URL"
fi

# --- 7. how to use it -----------------------------------------------------------
cat <<MSG

  worker (TEI /rerank, /v1/rerank, /info, /metrics): $WORKER_URL
$( [[ "$SKIP_PROXY" != 1 ]] && echo "  proxy:                                            $PROXY_URL" || echo "  (SKIP_PROXY=1: no proxy; the example below talks to the worker directly)")

  try:
  curl -s $BASE/v1/rerank -H 'content-type: application/json' -d '{"model":"all-minilm-l6-v2","query":"How do I bake bread?","documents":["Bread recipe: mix 500 g flour, 10 g salt, 7 g yeast and 350 ml warm water, knead for ten minutes, let it rise for an hour, then bake at 230 C for 35 minutes.","The stock market fell 3% today as investors sold technology shares.","The committee meeting is on Thursday afternoon.","Please water the plants while I am away."]}'

  Ctrl-C stops everything.

MSG

# --- 8. run until a child exits or we are signalled ----------------------------
while true; do
  for p in "${PIDS[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then
      rc=0; wait "$p" 2>/dev/null || rc=$?
      log "process $p exited (status $rc); shutting down"
      exit "$rc"
    fi
  done
  sleep 1 &
  wait $! || true
done
