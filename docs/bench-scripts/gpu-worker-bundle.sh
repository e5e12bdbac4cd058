#!/bin/bash
# Packs what the ONNX worker needs on a lent GPU machine that has no network and takes at most 64 MiB per call:
# onnxruntime-gpu 1.31.1 (CUDA 13, matching the machine's PyTorch cu130 libraries), starlette and uvicorn wheels,
# the cross-shaped MiniLM-L6 export, and a zstd binary (the machine has none). Output: .gpu1 … .gpu5 in the repo
# root (add `/.gpu*/` to .git/info/exclude), one 62 MB part each; send them in consecutive warm calls
# (`cp .gpuN/part.* /tmp/parts/`, carry [".gpuN"]), then run `bash .gpu5/run.sh` (docs/bench-scripts/gpu-worker-run.sh).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
plat="--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64"
python3 -m pip download -q --no-deps $plat -d "$work/dl" onnxruntime-gpu==1.31.1 "starlette>=0.37,<1" "uvicorn>=0.29,<1"
mkdir -p "$work/site" "$work/wheels"
(cd "$work/site" && unzip -q "$work"/dl/onnxruntime_gpu-*.whl)
# Not needed by the Python API: TensorRT provider, C-API library, conversion tools.
rm -rf "$work"/site/onnxruntime/capi/libonnxruntime_providers_tensorrt.so "$work"/site/onnxruntime/capi/libonnxruntime.so.* \
       "$work"/site/onnxruntime/transformers "$work"/site/onnxruntime/tools
mv "$work"/dl/starlette-*.whl "$work"/dl/uvicorn-*.whl "$work/wheels/"
"$root"/workers/onnx/.venv/bin/rerank-onnx-worker export-minilm --out "$work/model" --mode cross >/dev/null
tar cf - -C "$work" site wheels model | zstd -q -10 -T1 --long=27 -o "$work/bundle.tar.zst"
(cd "$work" && split -b 62000000 -d -a 1 bundle.tar.zst part.)
i=1
for part in "$work"/part.*; do rm -rf "$root/.gpu$i"; mkdir -p "$root/.gpu$i"; mv "$part" "$root/.gpu$i/"; i=$((i + 1)); done
last="$root/.gpu$((i - 1))"
mkdir -p "$last/zb"
cp /usr/bin/zstd "$last/zb/"
for lib in $(ldd /usr/bin/zstd | awk '/=>/{print $3}' | grep -v -E 'libc\.so|libpthread|libm\.so|libdl'); do cp -L "$lib" "$last/zb/"; done
cp "$root/docs/bench-scripts/gpu-worker-run.sh" "$last/run.sh"
rm -rf "$work"
ls -la "$root"/.gpu*/
