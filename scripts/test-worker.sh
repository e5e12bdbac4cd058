#!/usr/bin/env bash
# Set up (or reuse) the ONNX worker venv and run its pytest suite.
# Extra arguments go to pytest, e.g. scripts/test-worker.sh -k http -x
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup-worker-venv.sh"
cd "$ROOT"
echo "[worker] ruff check (rules in workers/onnx/pyproject.toml)" >&2
"$ROOT/workers/onnx/.venv/bin/ruff" check workers/onnx
exec "$ROOT/workers/onnx/.venv/bin/python" -m pytest workers/onnx/tests -q -p no:cacheprovider "$@"
