"""HTTP surface (Starlette, served by uvicorn).

* ``POST /rerank``     TEI dialect: ``{query, texts, raw_scores?, return_text?,
  truncate?, truncation_direction?}`` -> bare array sorted by score.
* ``POST /v1/rerank``  documents dialect (Cohere/Jina/vLLM superset).
* ``GET /health``, ``GET /info`` (TEI-style), ``GET /metrics`` (Prometheus).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import __version__
from .batcher import Batcher, BatcherStopped, QueueFull
from .metrics import Metrics
from .model import InputTooLong, RerankModel

log = logging.getLogger("rerank_onnx_worker.server")

_DIRECTIONS = {"Right": "right", "right": "right", "Left": "left", "left": "left"}


@dataclass
class ServerConfig:
    max_client_batch_size: int = 32
    payload_limit: int = 2_000_000
    auto_truncate: bool = True
    served_model_name: str | None = None


class ApiError(Exception):
    """error_type is TEI's enum name; status follows TEI's mapping."""

    STATUS = {"Empty": 400, "Validation": 422, "Tokenizer": 422, "Overloaded": 429, "Backend": 424, "Unhealthy": 503}

    def __init__(self, error_type: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status or self.STATUS.get(error_type, 500)


def _dumps(obj) -> bytes:
    # json.dumps of Python floats: shortest repr that round-trips the float64
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


class _JSON(JSONResponse):
    def render(self, content) -> bytes:
        return _dumps(content)


def _parse_bool(v, field: str, lax: bool = False):
    if v is None or isinstance(v, bool):
        return v
    if lax and isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    if lax and isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise ApiError("Validation", f"`{field}` must be a boolean")


def build_app(model: RerankModel, batcher: Batcher, cfg: ServerConfig | None = None, metrics: Metrics | None = None) -> Starlette:
    cfg = cfg or ServerConfig()
    metrics = metrics or batcher.metrics
    served_name = cfg.served_model_name or model.model_id

    async def read_json(request: Request) -> dict:
        body = await request.body()
        if len(body) > cfg.payload_limit:
            raise ApiError("Validation", "Failed to buffer the request body: length limit exceeded", status=413)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError("Validation", f"Failed to parse the request body as JSON: {e}") from None
        if not isinstance(data, dict):
            raise ApiError("Validation", "Failed to deserialize the JSON body: expected an object")
        return data

    async def score(query: str, texts: list[str], raw: bool, truncate: bool, direction: str):
        """Tokenize, queue, await; returns (scores, tokens, timings)."""
        t0 = time.perf_counter()
        try:
            seqs = await asyncio.to_thread(model.tokenize, query, texts, truncate, direction)
        except InputTooLong as e:
            raise ApiError("Validation", str(e)) from None
        except Exception as e:  # noqa: BLE001
            raise ApiError("Tokenizer", f"tokenization failed: {e}") from None
        t1 = time.perf_counter()
        try:
            fut = batcher.submit(seqs)
        except QueueFull as e:
            raise ApiError("Overloaded", str(e)) from None
        except BatcherStopped as e:
            raise ApiError("Unhealthy", str(e)) from None
        try:
            outputs = await fut
        except BatcherStopped as e:
            raise ApiError("Unhealthy", str(e)) from None
        except Exception as e:  # noqa: BLE001
            raise ApiError("Backend", f"inference failed: {e}") from None
        t2 = time.perf_counter()
        return model.scores(outputs, raw), model.count_tokens(seqs), (t1 - t0, t2 - t1)

    def timing_headers(tokens: int, chars: int, t_start: float, tok_s: float, inf_s: float) -> dict:
        return {
            "x-compute-type": model.device,
            "x-compute-characters": str(chars),
            "x-compute-tokens": str(tokens),
            "x-total-time": str(int((time.perf_counter() - t_start) * 1000)),
            "x-tokenization-time": str(int(tok_s * 1000)),
            "x-inference-time": str(int(inf_s * 1000)),
        }

    def common_args(data: dict, lax: bool):
        query = data.get("query")
        if not isinstance(query, str):
            raise ApiError("Validation", "`query` is required and must be a string")
        truncate = _parse_bool(data.get("truncate"), "truncate", lax)
        truncate = cfg.auto_truncate if truncate is None else truncate
        d = data.get("truncation_direction")
        if d is None:
            direction = "right"
        elif d in _DIRECTIONS:
            direction = _DIRECTIONS[d]
        else:
            raise ApiError("Validation", "`truncation_direction` must be one of Right, Left")
        raw = bool(_parse_bool(data.get("raw_scores"), "raw_scores", lax))
        return query, truncate, direction, raw

    def check_count(n: int) -> None:
        if n == 0:
            raise ApiError("Empty", "`texts` cannot be empty")
        if n > cfg.max_client_batch_size:
            raise ApiError("Validation", f"batch size {n} > maximum allowed batch size {cfg.max_client_batch_size}")

    # ---------------------------------------------------------------- TEI
    async def rerank(request: Request) -> Response:
        t_start = time.perf_counter()
        try:
            data = await read_json(request)
            query, truncate, direction, raw = common_args(data, lax=False)
            texts = data.get("texts")
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ApiError("Validation", "`texts` is required and must be a list of strings")
            check_count(len(texts))
            return_text = bool(_parse_bool(data.get("return_text"), "return_text"))
            scores, tokens, (tok_s, inf_s) = await score(query, texts, raw, truncate, direction)
        except ApiError as e:
            metrics.observe_request("/rerank", e.status, None)
            if e.status == 413:
                return PlainTextResponse(e.message, status_code=413)
            return _JSON({"error": e.message, "error_type": e.error_type}, status_code=e.status)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        body = []
        for i in order:
            r = {"index": i, "score": scores[i]}
            if return_text:
                r["text"] = texts[i]
            body.append(r)
        metrics.observe_request("/rerank", 200, time.perf_counter() - t_start)
        chars = len(query) * len(texts) + sum(len(t) for t in texts)
        return _JSON(body, headers=timing_headers(tokens, chars, t_start, tok_s, inf_s))

    # ---------------------------------------------------------- documents
    def v1_error(e: ApiError) -> Response:
        status = {422: 400, 424: 502}.get(e.status, e.status)  # documents dialect: 400 for validation
        etype = {400: "invalid_request_error", 413: "invalid_request_error", 429: "overloaded_error", 503: "service_unavailable"}.get(status, "api_error")
        return _JSON({"error": {"message": e.message, "type": etype, "param": None, "code": status}, "message": e.message, "detail": e.message}, status_code=status)

    async def v1_rerank(request: Request) -> Response:
        t_start = time.perf_counter()
        try:
            data = await read_json(request)
            query, truncate, direction, raw = common_args(data, lax=True)
            docs = data.get("documents")
            if not isinstance(docs, list):
                raise ApiError("Validation", "`documents` is required and must be a list")
            texts = []
            for d in docs:
                if isinstance(d, str):
                    texts.append(d)
                elif isinstance(d, dict) and isinstance(d.get("text"), str):
                    texts.append(d["text"])
                else:
                    raise ApiError("Validation", "each document must be a string or an object with a `text` string")
            if not texts:
                raise ApiError("Empty", "`documents` cannot be empty")
            check_count(len(texts))
            top_n = data.get("top_n")
            if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int)):
                raise ApiError("Validation", "`top_n` must be an integer")
            if top_n is not None and top_n < 0:
                raise ApiError("Validation", "`top_n` must be >= 0")
            rd = _parse_bool(data.get("return_documents"), "return_documents", lax=True)
            return_documents = True if rd is None else rd
            model_name = data.get("model") if isinstance(data.get("model"), str) else served_name
            scores, tokens, (tok_s, inf_s) = await score(query, texts, raw, truncate, direction)
        except ApiError as e:
            metrics.observe_request("/v1/rerank", e.status, None)
            return v1_error(e)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        if top_n:  # None or 0 means all
            order = order[:top_n]
        results = []
        for i in order:
            r = {"index": i, "relevance_score": scores[i]}
            if return_documents:
                r["document"] = {"text": texts[i]}
            results.append(r)
        metrics.observe_request("/v1/rerank", 200, time.perf_counter() - t_start)
        body = {
            "id": f"rerank-{uuid.uuid4().hex}",
            "model": model_name,
            "results": results,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        chars = len(query) * len(texts) + sum(len(t) for t in texts)
        return _JSON(body, headers=timing_headers(tokens, chars, t_start, tok_s, inf_s))

    # ------------------------------------------------------------- others
    async def health(request: Request) -> Response:
        if not batcher.alive():
            return _JSON({"error": "inference loop is not running", "error_type": "Unhealthy"}, status_code=503)
        return Response(status_code=200)

    async def info(request: Request) -> Response:
        return _JSON(
            {
                "model_id": model.model_id,
                "model_sha": None,
                "model_dtype": model.dtype,
                # the worker serves reranking only, so it presents itself as a
                # reranker in both modes (Dify's TEI plugin checks this key)
                "model_type": {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}},
                "worker_mode": model.mode,
                "pooling": "mean" if model.mode == "bi" else None,
                "max_concurrent_requests": batcher.max_queue,
                "max_input_length": model.max_length,
                "max_batch_tokens": batcher.max_batch_tokens,
                "max_batch_requests": None,
                "max_client_batch_size": cfg.max_client_batch_size,
                "max_queue": batcher.max_queue,
                "max_wait_ms": batcher.max_wait * 1000.0,
                "auto_truncate": cfg.auto_truncate,
                "tokenization_workers": 1,
                "served_model_name": served_name,
                "version": f"rerank-onnx-worker {__version__}",
                "sha": None,
                "docker_label": None,
                "providers": model.providers,
            }
        )

    async def prom(request: Request) -> Response:
        metrics.queue_depth = batcher.depth
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        try:
            yield
        finally:
            batcher.stop()

    routes = [
        Route("/rerank", rerank, methods=["POST"]),
        Route("/v1/rerank", v1_rerank, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/metrics", prom, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.model = model
    app.state.batcher = batcher
    return app
