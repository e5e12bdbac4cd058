"""Real client SDKs against the real Swift proxy (a child process) in front of the real ONNX worker: the
Cohere SDK with an API key gets exact scores, and with a wrong key an error the SDK reports as an auth error.
Skipped with a reason when the proxy binary is missing (scripts/test.sh builds it and sets RERANK_PROXY_BIN)."""

import cohere
import pytest

from .conftest import BREAD_DOCS, BREAD_QUERY
from .test_proxy_e2e import call, free_port, running_proxy, worker  # noqa: F401  (worker is a fixture)

KEY = "sk-sdk-test-0123456789"


@pytest.fixture()
def keyed_proxy(worker, tmp_path):  # noqa: F811
    port = free_port()
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"""
server: {{ host: 127.0.0.1, port: {port} }}
cache: {{ memory_entries: 1000, store: none }}
auth:
  keys:
    - {{ name: sdk, key: "{KEY}", rate: 100/s }}
models:
  - name: all-minilm-l6-v2
    backends:
      - {{ name: onnx-local, api: tei, url: "{worker}", max_batch: 32, timeout: 30s }}
"""
    )
    with running_proxy(policy, tmp_path) as base:
        yield base
    assert KEY not in (tmp_path / "proxy.log").read_text(), "the API key was logged"


def test_cohere_sdk_with_a_key_gets_the_workers_exact_scores(keyed_proxy, worker):  # noqa: F811
    client = cohere.ClientV2(api_key=KEY, base_url=keyed_proxy)
    answer = client.rerank(model="all-minilm-l6-v2", query=BREAD_QUERY, documents=BREAD_DOCS, top_n=2)
    direct = call(worker + "/rerank", {"query": BREAD_QUERY, "texts": BREAD_DOCS})
    expected = sorted(direct, key=lambda r: -r["score"])[:2]
    assert [r.index for r in answer.results] == [r["index"] for r in expected]
    assert [r.relevance_score for r in answer.results] == [r["score"] for r in expected]


def test_cohere_sdk_with_a_wrong_key_raises_its_auth_error(keyed_proxy):
    client = cohere.ClientV2(api_key="sk-wrong-0123456789", base_url=keyed_proxy)
    with pytest.raises(cohere.errors.UnauthorizedError) as raised:
        client.rerank(model="all-minilm-l6-v2", query=BREAD_QUERY, documents=BREAD_DOCS)
    assert raised.value.status_code == 401
    assert "API key" in str(raised.value.body)
