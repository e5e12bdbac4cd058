#!/usr/bin/env bash
# Runs every test: the Swift suites (unit + app tests over real HTTP and real SQLite files), then the
# ONNX worker's pytest suite, which includes the end-to-end proxy-in-front-of-worker test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# The Redis suites read REDIS_URL (.ci/run sets it). Without it, start a private memory-only redis-server
# when one is installed, and stop it on exit; with neither, those suites are skipped and say why.
if [[ -z "${REDIS_URL:-}" ]] && command -v redis-server >/dev/null 2>&1; then
  REDIS_PORT="${REDIS_PORT:-6391}"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "/tmp/rerank-test-redis-$REDIS_PORT.pid" >/dev/null
  trap 'redis-cli -p '"$REDIS_PORT"' shutdown nosave >/dev/null 2>&1 || true' EXIT
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

echo "== swift build (debug, with tests)"
swift build --build-tests
echo "== swift test"
swift test --skip-build
echo "== benchmark smoke (a few seconds of scenarios 1 and 4, no thresholds)"
"$ROOT/.build/debug/rerank-bench" suite --smoke --proxy-bin "$ROOT/.build/debug/rerank-proxy"
echo "== worker tests (pytest), with the end-to-end proxy test"
RERANK_PROXY_BIN="$ROOT/.build/debug/rerank-proxy" "$ROOT/scripts/test-worker.sh"
