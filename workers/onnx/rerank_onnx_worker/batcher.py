"""Dynamic batching across concurrent requests.

Requests put their sequences into one bounded FIFO (``max_queue`` sequences).
A single inference thread:

1. waits for the first sequence;
2. keeps taking sequences in arrival order while the batch's real token count
   stays within ``max_batch_tokens``; if the budget is not filled it waits for
   more until ``max_wait_ms`` after the *oldest* taken sequence was enqueued
   (sequences that already waited while the model was busy do not wait again);
3. sorts the taken sequences by length and cuts them into batches whose
   padded size (rows x longest) fits ``max_batch_tokens`` and whose rows are
   at most ``max_padding`` padding (default 0.1 on CPU, unlimited on CUDA)
   -- one ``session.run`` per batch, right padding;
4. hands every finished request its outputs on its event loop.

A request whose sequences would overflow the queue is rejected at once
(``QueueFull`` -> HTTP 429); it is never partially enqueued.
With ``naive=True`` every sequence is run alone (batch size 1), which is the
one-pair-per-call baseline used by the benchmark.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque

import numpy as np

from .metrics import Metrics
from .model import RerankModel, Seq

log = logging.getLogger("rerank_onnx_worker.batcher")


class QueueFull(Exception):
    pass


class BatcherStopped(Exception):
    pass


class _Request:
    __slots__ = ("loop", "future", "outputs", "remaining", "error")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()
        self.outputs: list = [None] * n
        self.remaining = n
        self.error: BaseException | None = None


class _Item:
    __slots__ = ("seq", "req", "slot", "t_enq")

    def __init__(self, seq: Seq, req: _Request, slot: int, t_enq: float) -> None:
        self.seq, self.req, self.slot, self.t_enq = seq, req, slot, t_enq


def _resolve(fut: asyncio.Future, value=None, exc: BaseException | None = None) -> None:
    if fut.done():  # client went away / cancelled
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)


class Batcher:
    def __init__(
        self,
        model: RerankModel,
        max_batch_tokens: int = 16384,
        max_wait_ms: float = 2.0,
        max_queue: int = 2048,
        metrics: Metrics | None = None,
        naive: bool = False,
        max_padding: float | None = None,
    ) -> None:
        self.model = model
        self.max_batch_tokens = max(int(max_batch_tokens), 1)
        self.max_wait = max(float(max_wait_ms), 0.0) / 1000.0
        self.max_queue = int(max_queue)
        self.metrics = metrics or Metrics()
        self.metrics.queue_capacity = self.max_queue
        self.naive = naive
        # Longest share of a row that may be padding.  Padded tokens cost full
        # compute: on CPU a single ~150-token sequence already keeps the GEMMs
        # busy, so only near-equal lengths are worth batching; on a GPU small
        # batches are launch-bound and padding is nearly free.
        if max_padding is None:
            max_padding = 1.0 if model.device == "cuda" else 0.1
        self.max_padding = min(max(float(max_padding), 0.0), 1.0)
        self._dq: deque[_Item] = deque()
        self._cv = threading.Condition()
        self._stop = False
        self._paused = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ #
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="inference", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cv:
            self._stop = True
            self._paused = False
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def pause(self) -> None:
        """Hold the inference loop (tests / maintenance); requests still queue."""
        with self._cv:
            self._paused = True

    def resume(self) -> None:
        with self._cv:
            self._paused = False
            self._cv.notify_all()

    @property
    def depth(self) -> int:
        return len(self._dq)

    # ------------------------------------------------------------------ #
    def submit(self, seqs: list[Seq], loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Future:
        """Enqueue all of a request's sequences (all or nothing).
        Returns a future resolving to the list of per-sequence outputs."""
        loop = loop or asyncio.get_running_loop()
        req = _Request(loop, len(seqs))
        if not seqs:
            req.future.set_result([])
            return req.future
        now = time.monotonic()
        with self._cv:
            if self._stop:
                raise BatcherStopped("worker is shutting down")
            if len(self._dq) + len(seqs) > self.max_queue:
                raise QueueFull(f"Model is overloaded: queue holds {len(self._dq)} of {self.max_queue} sequences, request needs {len(seqs)}")
            self._dq.extend(_Item(s, req, i, now) for i, s in enumerate(seqs))
            self.metrics.queue_depth = len(self._dq)
            self._cv.notify()
        return req.future

    # ------------------------------------------------------------------ #
    def _take(self) -> list[_Item] | None:
        """Collect one window of work (under the token budget)."""
        with self._cv:
            while (not self._dq or self._paused) and not self._stop:
                self._cv.wait()
            if self._stop:
                return None
            if self.naive:
                item = self._dq.popleft()
                self.metrics.queue_depth = len(self._dq)
                return [item]
            taken: list[_Item] = []
            tokens = 0
            deadline = self._dq[0].t_enq + self.max_wait
            while True:
                while self._dq:
                    n = len(self._dq[0].seq)
                    if taken and tokens + n > self.max_batch_tokens:
                        break
                    taken.append(self._dq.popleft())
                    tokens += n
                if self._dq or tokens >= self.max_batch_tokens:
                    break  # budget full
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop:
                    break
                self._cv.wait(remaining)
            self.metrics.queue_depth = len(self._dq)
            return taken

    def _split(self, items: list[_Item]) -> list[list[_Item]]:
        items.sort(key=lambda it: len(it.seq))
        batches: list[list[_Item]] = []
        cur: list[_Item] = []
        for it in items:  # ascending length: the newest item is the longest
            n = len(it.seq)
            if cur and ((len(cur) + 1) * n > self.max_batch_tokens or n - len(cur[0].seq) > self.max_padding * n):
                batches.append(cur)
                cur = []
            cur.append(it)
        if cur:
            batches.append(cur)
        return batches

    def _loop(self) -> None:
        log.debug("inference loop started")
        while True:
            items = self._take()
            if items is None:
                break
            now = time.monotonic()
            for it in items:
                self.metrics.observe_queue_wait(now - it.t_enq)
            for batch in self._split(items):
                self._run(batch)
        # fail whatever is still queued
        with self._cv:
            left = list(self._dq)
            self._dq.clear()
            self.metrics.queue_depth = 0
        for it in left:
            it.req.loop.call_soon_threadsafe(_resolve, it.req.future, None, BatcherStopped("worker is shutting down"))
        log.debug("inference loop stopped")

    def _run(self, batch: list[_Item]) -> None:
        t0 = time.perf_counter()
        try:
            out = self.model.run_batch([it.seq for it in batch])
            err = None
        except Exception as e:  # noqa: BLE001 - reported to the waiting requests
            log.exception("session.run failed for a batch of %d", len(batch))
            out, err = None, e
        dt = time.perf_counter() - t0
        self.metrics.observe_batch(len(batch), len(batch) * max(len(it.seq) for it in batch), dt)
        done: list[_Request] = []
        for r, it in enumerate(batch):
            req = it.req
            if err is not None:
                req.error = err
            else:
                req.outputs[it.slot] = np.array(out[r], copy=True)
            req.remaining -= 1
            if req.remaining == 0:
                done.append(req)
        for req in done:
            if req.error is not None:
                req.loop.call_soon_threadsafe(_resolve, req.future, None, req.error)
            else:
                req.loop.call_soon_threadsafe(_resolve, req.future, req.outputs, None)
