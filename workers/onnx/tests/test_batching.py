import asyncio

import numpy as np
import pytest

from rerank_onnx_worker.batcher import Batcher, QueueFull
from rerank_onnx_worker.bench import make_corpus
from rerank_onnx_worker.model import InputTooLong

from .conftest import BREAD_DOCS, BREAD_QUERY

TEXTS = ["short", "a somewhat longer document about bread and baking", *make_corpus(6, seed=7), *BREAD_DOCS]


@pytest.mark.parametrize("mode", ["bi", "cross"])
def test_padded_batch_equals_one_at_a_time(mode, bi_model, cross_model):
    m = bi_model if mode == "bi" else cross_model
    seqs = m.tokenize(BREAD_QUERY, TEXTS)
    assert len({len(s) for s in seqs}) > 3  # real padding happens
    batched = m.run_batch(seqs)
    single = np.stack([m.run_batch([s])[0] for s in seqs])
    assert np.abs(batched - single).max() <= 1e-5
    s_b = m.scores(list(batched), raw_scores=False)
    s_1 = m.score_unbatched(BREAD_QUERY, TEXTS)
    assert len(s_b) == len(TEXTS)
    assert max(abs(a - b) for a, b in zip(s_b, s_1, strict=True)) <= 1e-5


def test_cross_uses_token_type_ids(cross_model):
    (s,) = cross_model.tokenize("query words", ["document words here"])
    assert cross_model.has_token_types and s.type_ids is not None
    assert s.type_ids[0] == 0 and s.type_ids[-1] == 1


def test_truncation(cross_model, bi_model):
    long = " ".join(f"w{i}" for i in range(2000))
    r = cross_model.tokenize("q", [long], True, "right")[0]
    l_ = cross_model.tokenize("q", [long], True, "left")[0]
    assert len(r) == len(l_) == cross_model.max_length
    assert not np.array_equal(r.ids, l_.ids)
    with pytest.raises(InputTooLong):
        cross_model.tokenize("q", [long], False, "right")
    assert len(bi_model.tokenize("q", [long])[1]) == bi_model.max_length == 256


def _run_concurrent(batcher, model, requests):
    async def go():
        batcher.pause()
        futs = [batcher.submit(model.tokenize(q, t)) for q, t in requests]
        batcher.resume()
        return await asyncio.gather(*futs)

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["bi", "cross"])
def test_batcher_across_requests_matches_unbatched(mode, bi_model, cross_model):
    m = bi_model if mode == "bi" else cross_model
    corpus = make_corpus(40, seed=3)
    reqs = [(f"query number {i} about bread", corpus[i : i + 5]) for i in range(12)]
    b = Batcher(m, max_batch_tokens=2048, max_wait_ms=5, max_queue=1000)
    b.start()
    try:
        outs = _run_concurrent(b, m, reqs)
    finally:
        b.stop()
    # batches spanned several requests, each under the token budget
    assert b.metrics.batches_total < sum(len(t) + (mode == "bi") for _, t in reqs)
    assert b.metrics.batch_size.sum / b.metrics.batch_size.count > 2
    assert b.metrics.batch_tokens.counts[-1] == b.metrics.batch_tokens.count  # all <= 32768
    for (q, t), o in zip(reqs, outs, strict=True):
        got = m.scores(o, False)
        want = m.score_unbatched(q, t)
        assert max(abs(a - c) for a, c in zip(got, want, strict=True)) <= 1e-5


def test_split_respects_token_budget(cross_model):
    b = Batcher(cross_model, max_batch_tokens=600)
    from rerank_onnx_worker.batcher import _Item

    seqs = cross_model.tokenize("q", make_corpus(20, seed=5))
    items = [_Item(s, None, i, 0.0) for i, s in enumerate(seqs)]
    batches = b._split(items)
    assert sum(len(x) for x in batches) == 20
    for batch in batches:
        lens = [len(it.seq) for it in batch]
        assert lens == sorted(lens)
        assert len(batch) == 1 or len(batch) * max(lens) <= 600
        assert lens[-1] - lens[0] <= b.max_padding * lens[-1]
    # with no padding limit only the token budget cuts batches
    loose = Batcher(cross_model, max_batch_tokens=100_000, max_padding=1.0)._split(list(items))
    assert len(loose) == 1


def test_default_padding_limit_by_device(cross_model):
    assert Batcher(cross_model).max_padding == (1.0 if cross_model.device == "cuda" else 0.1)


def test_queue_full_is_all_or_nothing(cross_model):
    b = Batcher(cross_model, max_queue=5)

    async def go():
        b.submit(cross_model.tokenize("q", ["a", "b", "c"]))
        with pytest.raises(QueueFull):
            b.submit(cross_model.tokenize("q", ["a", "b", "c"]))
        assert b.depth == 3

    asyncio.run(go())
