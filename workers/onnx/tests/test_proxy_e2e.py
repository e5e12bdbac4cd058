"""End to end: the real Swift proxy (a child process) in front of the real ONNX worker, over real HTTP,
with a real SQLite file. The proxy binary comes from RERANK_PROXY_BIN (scripts/test.sh sets it after
building); without it the test is skipped with that reason, never silently passed."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import BREAD_DOCS, BREAD_QUERY, Running

ROOT = Path(__file__).resolve().parents[3]


def proxy_binary() -> Path:
    configured = os.environ.get("RERANK_PROXY_BIN")
    if configured:
        path = Path(configured)
        assert path.is_file(), f"RERANK_PROXY_BIN={configured} does not exist: build it with `swift build`"
        return path
    default = ROOT / ".build" / "debug" / "rerank-proxy"
    if not default.is_file():
        pytest.skip("no rerank-proxy binary: run `swift build` or set RERANK_PROXY_BIN (scripts/test.sh does)")
    return default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return raw if url.endswith("/metrics") else json.loads(raw)


def worker_counter(worker_url: str, name: str) -> float:
    text = call(worker_url + "/metrics").decode()
    match = re.search(rf"^rerank_worker_{name} (\S+)$", text, re.MULTILINE)
    assert match, f"rerank_worker_{name} not in /metrics"
    return float(match.group(1))


@pytest.fixture()
def worker(bi_model):
    running = Running(bi_model, max_batch_tokens=4096, max_wait_ms=2, max_queue=512)
    yield running.url
    running.server.stop()


def sqlite_policy(tmp_path: Path, worker: str, extra: str = "", max_batch: int = 64) -> Path:
    """Writes a policy for the worker behind the proxy, SQLite in tmp_path, on a free port; `extra` is more
    top-level YAML (e.g. `auth:`)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"""
server: {{ host: 127.0.0.1, port: {free_port()} }}
cache:
  memory_entries: 1000
  store: sqlite
  sqlite: {{ path: {tmp_path / 'scores.sqlite'} }}
{extra}
models:
  - name: all-minilm-l6-v2
    backends:
      - {{ name: onnx-local, api: tei, url: "{worker}", max_batch: {max_batch}, timeout: 30s }}
"""
    )
    return policy


@pytest.fixture()
def proxy(worker, tmp_path):
    with running_proxy(sqlite_policy(tmp_path, worker), tmp_path) as base:
        yield base, tmp_path


@contextlib.contextmanager
def running_proxy(policy: Path, tmp_path: Path):
    """Runs `rerank-proxy serve --config policy` until the block ends, then stops it with SIGTERM and checks
    it exits cleanly; yields its base URL (the port is read from the policy)."""
    port = int(re.search(r"port: (\d+)", policy.read_text()).group(1))
    log_path = tmp_path / "proxy.log"
    log = open(log_path, "wb")
    process = subprocess.Popen([str(proxy_binary()), "serve", "--config", str(policy)], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            call(base + "/healthz", timeout=1)
            break
        except Exception:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "proxy did not start"
            time.sleep(0.1)
    yield base
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, log_path.read_text()


def test_proxy_in_front_of_the_real_worker(proxy, worker):
    base, tmp_path = proxy
    body = {"model": "all-minilm-l6-v2", "query": BREAD_QUERY, "documents": BREAD_DOCS}

    first = call(base + "/v1/rerank", body)
    assert first["results"][0]["index"] == 1, "the bread recipe must rank first"
    assert [r["index"] for r in first["results"]] == sorted(range(4), key=lambda i: -next(r["relevance_score"] for r in first["results"] if r["index"] == i))

    # The proxy's scores are exactly the worker's own scores for those pairs.
    direct = call(worker + "/rerank", {"query": BREAD_QUERY, "texts": BREAD_DOCS})
    assert {r["index"]: r["score"] for r in direct} == {r["index"]: r["relevance_score"] for r in first["results"]}

    pairs_before = worker_counter(worker, "pairs_total")
    batches_before = worker_counter(worker, "batches_total")
    second = call(base + "/v1/rerank", body)
    assert second["results"] == first["results"]
    assert worker_counter(worker, "pairs_total") == pairs_before, "the second identical request reached the worker"
    assert worker_counter(worker, "batches_total") == batches_before

    stats = call(base + "/v1/stats")
    assert stats["pairs"]["forwarded"] == 4
    assert stats["pairs"]["hits"] == 4
    assert stats["backends"][0]["pairs"] == 4

    # TEI dialect through the proxy gives the same numbers.
    tei = call(base + "/rerank", {"query": BREAD_QUERY, "texts": BREAD_DOCS})
    assert {r["index"]: r["score"] for r in tei} == {r["index"]: r["score"] for r in direct}
    assert worker_counter(worker, "pairs_total") == pairs_before
