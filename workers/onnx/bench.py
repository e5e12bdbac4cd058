#!/usr/bin/env python3
"""Convenience wrapper: `python workers/onnx/bench.py --model DIR ...` == `rerank-onnx-worker bench ...`."""
import sys

from rerank_onnx_worker.cli import main

raise SystemExit(main(["bench", *sys.argv[1:]]))
