#!/usr/bin/env bash
# Runs every test: the Swift suites (unit + app tests over real HTTP and real SQLite files), then the
# ONNX worker's pytest suite, which includes the end-to-end proxy-in-front-of-worker test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "== swift build (debug, with tests)"
swift build --build-tests
echo "== swift test"
swift test --skip-build
echo "== benchmark smoke (a few seconds of scenarios 1 and 4, no thresholds)"
"$ROOT/.build/debug/rerank-bench" suite --smoke --proxy-bin "$ROOT/.build/debug/rerank-proxy"
echo "== worker tests (pytest), with the end-to-end proxy test"
RERANK_PROXY_BIN="$ROOT/.build/debug/rerank-proxy" "$ROOT/scripts/test-worker.sh"
