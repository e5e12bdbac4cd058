"""Real HTTP against uvicorn on an ephemeral port."""

import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from rerank_onnx_worker.bench import make_corpus

from .conftest import BREAD_DOCS, BREAD_QUERY


def post(url, path, body, **kw):
    return httpx.post(url + path, json=body, timeout=60, **kw)


def test_bread_recipe_ranks_first_bi(bi_server):
    r = post(bi_server.url, "/rerank", {"query": BREAD_QUERY, "texts": BREAD_DOCS, "raw_scores": False})
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body, list) and len(body) == 4
    assert body[0]["index"] == 1  # the recipe
    assert set(body[0]) == {"index", "score"}
    scores = [x["score"] for x in body]
    assert scores == sorted(scores, reverse=True)
    # same values as the one-at-a-time path, and the JSON is the float64 repr
    ref = bi_server.model.score_unbatched(BREAD_QUERY, BREAD_DOCS)
    for x in body:
        assert abs(x["score"] - ref[x["index"]]) <= 1e-5
    raw = json.loads(r.content, parse_float=str)
    for x in raw:
        assert x["score"] == repr(float(x["score"]))
    assert r.headers["x-compute-type"] == "cpu"


def test_tei_options(cross_server):
    texts = ["alpha document", "beta text that is longer than the first one", "gamma"]
    r = post(cross_server.url, "/rerank", {"query": "q", "texts": texts, "return_text": True, "truncate": True, "truncation_direction": "Left"})
    assert r.status_code == 200
    body = r.json()
    assert {x["text"] for x in body} == set(texts)
    for x in body:
        assert texts[x["index"]] == x["text"]
    raw = post(cross_server.url, "/rerank", {"query": "q", "texts": texts, "raw_scores": True}).json()
    sig = {x["index"]: x["score"] for x in post(cross_server.url, "/rerank", {"query": "q", "texts": texts}).json()}
    for x in raw:
        assert abs(1 / (1 + math.exp(-x["score"])) - sig[x["index"]]) < 1e-12
    for d in ("right", "left", "Right"):
        assert post(cross_server.url, "/rerank", {"query": "q", "texts": texts, "truncation_direction": d}).status_code == 200


def test_v1_documents_dialect(cross_server, bi_server):
    docs = ["first doc", {"text": "second doc about bread"}, "third"]
    r = post(cross_server.url, "/v1/rerank", {"model": "m1", "query": "bread", "documents": docs, "top_n": 2})
    assert r.status_code == 200
    b = r.json()
    assert b["model"] == "m1" and b["id"].startswith("rerank-")
    assert len(b["results"]) == 2
    assert b["results"][0]["relevance_score"] >= b["results"][1]["relevance_score"]
    assert all("document" in x and isinstance(x["document"]["text"], str) for x in b["results"])
    assert b["usage"]["prompt_tokens"] == b["usage"]["total_tokens"] > 0
    r = post(cross_server.url, "/v1/rerank", {"query": "bread", "documents": docs, "return_documents": False, "top_n": None})
    b = r.json()
    assert len(b["results"]) == 3 and all("document" not in x for x in b["results"])
    assert isinstance(b["model"], str)
    # string booleans (Xinference) are accepted in this dialect
    r = post(bi_server.url, "/v1/rerank", {"query": BREAD_QUERY, "documents": BREAD_DOCS, "return_documents": "false", "top_n": 0})
    assert r.status_code == 200 and r.json()["results"][0]["index"] == 1


@pytest.mark.parametrize(
    "body,status,etype",
    [
        ({"query": "q", "texts": []}, 400, "Empty"),
        ({"query": "q", "texts": ["x"] * 33}, 422, "Validation"),
        ({"query": "q"}, 422, "Validation"),
        ({"texts": ["a"]}, 422, "Validation"),
        ({"query": "q", "texts": "a"}, 422, "Validation"),
        ({"query": "q", "texts": [1, 2]}, 422, "Validation"),
        ({"query": "q", "texts": ["a"], "raw_scores": "yes"}, 422, "Validation"),
        ({"query": "q", "texts": ["a"], "truncation_direction": "up"}, 422, "Validation"),
        ({"query": "q", "texts": [" ".join(["word"] * 600)], "truncate": False}, 422, "Validation"),
    ],
)
def test_tei_errors(cross_server, body, status, etype):
    r = post(cross_server.url, "/rerank", body)
    assert r.status_code == status, r.text
    assert r.json()["error_type"] == etype
    assert isinstance(r.json()["error"], str)


def test_tei_error_messages(cross_server):
    r = post(cross_server.url, "/rerank", {"query": "q", "texts": ["x"] * 40})
    assert r.json()["error"] == "batch size 40 > maximum allowed batch size 32"
    r = httpx.post(cross_server.url + "/rerank", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error_type"] == "Validation"
    # a long input is truncated by default (auto-truncate)
    r = post(cross_server.url, "/rerank", {"query": "q", "texts": [" ".join(["word"] * 600)]})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"query": "q", "documents": []},
        {"query": "q", "documents": [{"nope": 1}]},
        {"query": "q", "documents": ["a"], "top_n": -1},
        {"query": "q", "documents": ["a"] * 33},
        {"documents": ["a"]},
    ],
)
def test_v1_errors(cross_server, body):
    r = post(cross_server.url, "/v1/rerank", body)
    assert r.status_code == 400, r.text
    b = r.json()
    assert b["error"]["message"] == b["message"] == b["detail"]
    assert b["error"]["type"] == "invalid_request_error"


def test_full_queue_answers_429_at_once(small_queue_server):
    s = small_queue_server
    s.batcher.pause()  # hold the inference loop so the queue stays full
    first = {}

    def send_first():
        first["r"] = post(s.url, "/rerank", {"query": "q", "texts": ["a", "b", "c"]})

    t = threading.Thread(target=send_first)
    t.start()
    deadline = time.time() + 10
    while s.batcher.depth < 3 and time.time() < deadline:
        time.sleep(0.01)
    assert s.batcher.depth == 3
    t0 = time.perf_counter()
    r = post(s.url, "/rerank", {"query": "q", "texts": ["d", "e"]})
    assert time.perf_counter() - t0 < 1.0
    assert r.status_code == 429
    assert r.json() == {"error": r.json()["error"], "error_type": "Overloaded"}
    r = post(s.url, "/v1/rerank", {"query": "q", "documents": ["d", "e"]})
    assert r.status_code == 429 and r.json()["error"]["type"] == "overloaded_error"
    s.batcher.resume()
    t.join(30)
    assert first["r"].status_code == 200 and len(first["r"].json()) == 3
    m = httpx.get(s.url + "/metrics").text
    assert "rerank_worker_rejected_total 2" in m


def test_concurrent_http_batches_and_matches(cross_server):
    corpus = make_corpus(64, seed=11)
    reqs = [(f"question {i}", corpus[i * 4 : i * 4 + 4]) for i in range(16)]
    before = cross_server.batcher.metrics.batches_total

    def call(qt):
        q, t = qt
        return post(cross_server.url, "/rerank", {"query": q, "texts": t}).json()

    with ThreadPoolExecutor(16) as ex:
        outs = list(ex.map(call, reqs))
    batches = cross_server.batcher.metrics.batches_total - before
    assert batches < 64  # pairs from different requests shared session.run calls
    for (q, t), body in zip(reqs, outs, strict=True):
        ref = cross_server.model.score_unbatched(q, t)
        assert len(body) == 4
        for x in body:
            assert abs(x["score"] - ref[x["index"]]) <= 1e-5


def test_health_info_metrics(bi_server):
    assert httpx.get(bi_server.url + "/health").status_code == 200
    info = httpx.get(bi_server.url + "/info").json()
    assert info["max_client_batch_size"] == 32
    assert info["max_input_length"] == 256
    assert info["worker_mode"] == "bi"
    assert "reranker" in info["model_type"]
    post(bi_server.url, "/rerank", {"query": "q", "texts": ["a", "b"]})
    m = httpx.get(bi_server.url + "/metrics")
    assert m.headers["content-type"].startswith("text/plain")
    for name in (
        "rerank_worker_queue_depth",
        "rerank_worker_pairs_per_second",
        "rerank_worker_batch_size_bucket",
        "rerank_worker_request_duration_seconds_bucket",
        'rerank_worker_requests_total{endpoint="/rerank",status="200"}',
    ):
        assert name in m.text
