"""The real console entry point in a subprocess: serve on port 0, answer, exit cleanly on signals."""

import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from .conftest import BREAD_DOCS, BREAD_QUERY


def start(model_dir, *extra):
    p = subprocess.Popen(
        [sys.executable, "-m", "rerank_onnx_worker", "serve", "--model", str(model_dir), "--port", "0", *extra],
        stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = p.stderr.readline()
        lines.append(line)
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return p, m.group(1)
        if not line and p.poll() is not None:
            break
    p.kill()
    raise AssertionError("worker did not start:\n" + "".join(lines))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_subprocess_and_clean_exit(exported, sig):
    p, url = start(exported["bi"], "--provider", "auto")
    try:
        assert httpx.get(url + "/health", timeout=10).status_code == 200
        r = httpx.post(url + "/rerank", json={"query": BREAD_QUERY, "texts": BREAD_DOCS, "raw_scores": False}, timeout=30)
        assert r.status_code == 200 and r.json()[0]["index"] == 1
    finally:
        p.send_signal(sig)
        rc = p.wait(20)
        err = p.stderr.read()
    assert rc == 0, err
    assert "Traceback" not in err


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "rerank_onnx_worker", "serve", "--help"], capture_output=True, text=True)
    for flag in ("--provider", "--fp16", "--max-batch-tokens", "--max-wait-ms", "--max-queue"):
        assert flag in out.stdout
