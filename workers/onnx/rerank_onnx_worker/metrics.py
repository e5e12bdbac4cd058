"""Tiny thread-safe Prometheus text exposition (no client library needed)."""

from __future__ import annotations

import threading
import time
from collections import deque

PREFIX = "rerank_worker"


class Histogram:
    def __init__(self, name: str, help_: str, buckets: list[float]) -> None:
        self.name, self.help, self.buckets = name, help_, sorted(buckets)
        self.counts = [0] * len(self.buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, v: float) -> None:
        self.sum += v
        self.count += 1
        for i, b in enumerate(self.buckets):
            if v <= b:
                self.counts[i] += 1

    def render(self) -> list[str]:
        n = f"{PREFIX}_{self.name}"
        lines = [f"# HELP {n} {self.help}", f"# TYPE {n} histogram"]
        for b, c in zip(self.buckets, self.counts, strict=True):
            lines.append(f'{n}_bucket{{le="{b:g}"}} {c}')
        lines += [f'{n}_bucket{{le="+Inf"}} {self.count}', f"{n}_sum {self.sum:.6f}", f"{n}_count {self.count}"]
        return lines


class Metrics:
    def __init__(self, window_s: float = 10.0) -> None:
        self.lock = threading.Lock()
        self.window_s = window_s
        self.queue_depth = 0  # sequences waiting (set by the batcher)
        self.queue_capacity = 0
        self.requests: dict[tuple[str, int], int] = {}
        self.pairs_total = 0
        self.batches_total = 0
        self.rejected_total = 0
        self._recent: deque[tuple[float, int]] = deque()
        self.batch_size = Histogram("batch_size", "Sequences per session.run", [1, 2, 4, 8, 16, 32, 64, 128, 256])
        self.batch_tokens = Histogram("batch_tokens", "Padded tokens per session.run", [64, 256, 1024, 2048, 4096, 8192, 16384, 32768])
        self.inference = Histogram("inference_seconds", "Wall time of one session.run", [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])
        self.latency = Histogram("request_duration_seconds", "Rerank request latency (parse to response)", [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
        self.queue_wait = Histogram("queue_wait_seconds", "Time a sequence waited before its batch started", [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])

    def observe_batch(self, n: int, padded_tokens: int, seconds: float) -> None:
        now = time.monotonic()
        with self.lock:
            self.batches_total += 1
            self.pairs_total += n
            self.batch_size.observe(n)
            self.batch_tokens.observe(padded_tokens)
            self.inference.observe(seconds)
            self._recent.append((now, n))
            self._trim(now)

    def observe_request(self, endpoint: str, status: int, seconds: float | None) -> None:
        with self.lock:
            self.requests[(endpoint, status)] = self.requests.get((endpoint, status), 0) + 1
            if status == 429:
                self.rejected_total += 1
            if seconds is not None and status == 200:
                self.latency.observe(seconds)

    def observe_queue_wait(self, seconds: float) -> None:
        with self.lock:
            self.queue_wait.observe(seconds)

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - self.window_s:
            self._recent.popleft()

    def pairs_per_second(self) -> float:
        now = time.monotonic()
        with self.lock:
            self._trim(now)
            return sum(n for _, n in self._recent) / self.window_s

    def render(self) -> str:
        pps = self.pairs_per_second()
        p = PREFIX
        with self.lock:
            lines = [
                f"# HELP {p}_queue_depth Sequences (pairs, or texts in bi mode) waiting for a batch",
                f"# TYPE {p}_queue_depth gauge",
                f"{p}_queue_depth {self.queue_depth}",
                f"# HELP {p}_queue_capacity Maximum queued sequences (--max-queue)",
                f"# TYPE {p}_queue_capacity gauge",
                f"{p}_queue_capacity {self.queue_capacity}",
                f"# HELP {p}_pairs_per_second Sequences scored per second over the last {self.window_s:g}s",
                f"# TYPE {p}_pairs_per_second gauge",
                f"{p}_pairs_per_second {pps:.3f}",
                f"# HELP {p}_pairs_total Sequences scored",
                f"# TYPE {p}_pairs_total counter",
                f"{p}_pairs_total {self.pairs_total}",
                f"# HELP {p}_batches_total session.run calls",
                f"# TYPE {p}_batches_total counter",
                f"{p}_batches_total {self.batches_total}",
                f"# HELP {p}_rejected_total Requests answered 429 because the queue was full",
                f"# TYPE {p}_rejected_total counter",
                f"{p}_rejected_total {self.rejected_total}",
                f"# HELP {p}_requests_total HTTP rerank requests by endpoint and status",
                f"# TYPE {p}_requests_total counter",
            ]
            for (ep, st), c in sorted(self.requests.items()):
                lines.append(f'{p}_requests_total{{endpoint="{ep}",status="{st}"}} {c}')
            for h in (self.batch_size, self.batch_tokens, self.inference, self.latency, self.queue_wait):
                lines += h.render()
        return "\n".join(lines) + "\n"
