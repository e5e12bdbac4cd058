import json
import subprocess
import sys
from pathlib import Path

import pytest

from rerank_onnx_worker.batcher import Batcher
from rerank_onnx_worker.model import RerankModel
from rerank_onnx_worker.runner import BackgroundServer
from rerank_onnx_worker.server import ServerConfig, build_app

BREAD_QUERY = "How do I bake bread?"
BREAD_DOCS = [
    "The quarterly report shows the stock market fell 3% as investors sold technology shares and moved into bonds.",
    "Bread recipe: mix 500 g flour, 10 g salt, 7 g yeast and 350 ml warm water, knead for ten minutes, let the dough rise "
    "for an hour, shape the loaf and bake at 230 C for 35 minutes until golden.",
    "The committee meeting is scheduled for Thursday afternoon in room 4.",
    "Please remember to water the plants in the office while I am away.",
]


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """Export both graphs once per session through the real CLI (with the numpy check)."""
    out = tmp_path_factory.mktemp("models")
    proc = subprocess.run(
        [sys.executable, "-m", "rerank_onnx_worker", "--log-level", "warning", "export-minilm", "--out", str(out), "--mode", "both"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    return {"bi": out / "bi", "cross": out / "cross", "report": report}


@pytest.fixture(scope="session")
def bi_model(exported):
    return RerankModel(exported["bi"], provider="cpu")


@pytest.fixture(scope="session")
def cross_model(exported):
    return RerankModel(exported["cross"], provider="cpu")


class Running:
    def __init__(self, model, **kw):
        cfg = ServerConfig(max_client_batch_size=kw.pop("max_client_batch_size", 32))
        self.batcher = Batcher(model, **kw)
        self.model = model
        self.server = BackgroundServer(build_app(model, self.batcher, cfg))
        self.url = self.server.start()


@pytest.fixture(scope="session")
def bi_server(bi_model):
    r = Running(bi_model, max_batch_tokens=4096, max_wait_ms=5, max_queue=512)
    yield r
    r.server.stop()


@pytest.fixture(scope="session")
def cross_server(cross_model):
    r = Running(cross_model, max_batch_tokens=4096, max_wait_ms=5, max_queue=512)
    yield r
    r.server.stop()


@pytest.fixture()
def small_queue_server(cross_model):
    r = Running(cross_model, max_batch_tokens=4096, max_wait_ms=1, max_queue=4, max_client_batch_size=4)
    yield r
    r.batcher.resume()
    r.server.stop()


def worker_dir() -> Path:
    return Path(__file__).resolve().parents[1]
