"""Throughput / latency benchmark over real HTTP (TEI /rerank).

For each variant (``naive``: one sequence per session.run, ``dynamic``:
dynamic batching) it starts one ``rerank-onnx-worker serve`` subprocess on a
free port, then for each concurrency C runs C closed-loop clients, each
sending ``--docs`` documents per request, for ``--duration`` seconds after a
warm-up.  pairs/s = scored pairs / wall time; latency is per request.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shlex
import subprocess
import sys
import time

SENTENCES = [
    "Mix the flour, water, salt and yeast until a shaggy dough forms, then knead it for about ten minutes until it is smooth and elastic.",
    "Let the dough rise in a warm place until it has doubled in size, which usually takes one to two hours depending on the temperature of the kitchen.",
    "Bake the loaf at 230 degrees Celsius for thirty-five minutes, until the crust is deep brown and the bottom sounds hollow when tapped.",
    "A sourdough starter is a fermented mixture of flour and water that contains wild yeast and lactic acid bacteria.",
    "Stock markets fell sharply on Tuesday after the central bank signalled that interest rates would stay higher for longer than investors had expected.",
    "Shares of technology companies led the decline, while energy stocks gained as oil prices rose above ninety dollars a barrel.",
    "Analysts warned that quarterly earnings could disappoint if consumer spending slows in the second half of the year.",
    "The bond market rallied as traders priced in a possible recession, pushing the ten-year yield to its lowest level in three months.",
    "The city council approved a new budget that increases spending on public transport and road maintenance by twelve percent.",
    "Residents complained about the noise from the construction site, which has been operating late into the night for several weeks.",
    "The museum's new exhibition brings together more than two hundred paintings from private collections across Europe.",
    "Visitors can book guided tours in English, French and German, and the gallery is open until nine in the evening on Fridays.",
    "Regular exercise improves cardiovascular health, helps control weight and reduces the risk of several chronic diseases.",
    "Doctors recommend at least one hundred and fifty minutes of moderate aerobic activity every week for most adults.",
    "Getting enough sleep is just as important as diet and exercise, and most adults need between seven and nine hours a night.",
    "The new smartphone features a larger battery, a faster processor and a camera system that performs better in low light.",
    "Reviewers praised the display but criticised the price, which is significantly higher than that of the previous model.",
    "Software updates will be provided for at least five years, according to the manufacturer's announcement at the launch event.",
    "The hiking trail climbs steeply through pine forest before reaching a ridge with views over the valley and the lake below.",
    "Hikers should carry water, a map and warm clothing, because the weather in the mountains can change quickly in the afternoon.",
    "The committee will review all applications received before the deadline and notify candidates of its decision within six weeks.",
    "Applicants must submit a cover letter, a curriculum vitae and the names of two referees who can comment on their work.",
    "The football club confirmed that its captain will miss the rest of the season after suffering a knee injury in training.",
    "The team has won only two of its last ten matches and is now just three points above the relegation zone.",
    "Climate scientists reported that the past decade was the warmest on record, with sea levels rising faster than predicted.",
    "Renewable energy sources such as wind and solar power now provide more than a third of the country's electricity.",
    "Historians believe the castle was built in the twelfth century to defend the river crossing against raids from the north.",
    "The library offers free access to computers, printing services and a large collection of books in several languages.",
    "To reset your password, open the account settings page, choose security, and follow the instructions sent to your email address.",
    "If the problem persists, restart the router, wait thirty seconds, and check whether the status light turns green.",
]

QUERIES = [
    "How do I bake bread at home?",
    "Why did the stock market drop?",
    "What are the health benefits of exercise?",
    "Which smartphone has the best camera?",
    "What should I bring on a mountain hike?",
    "How do I apply for the position?",
    "How can I reset my password?",
    "Is the climate getting warmer?",
]


def make_corpus(n: int = 400, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        target = rng.randint(50, 200)
        words: list[str] = []
        while len(words) < target:
            words += rng.choice(SENTENCES).split()
        docs.append(" ".join(words[:target]).rstrip(",") + ".")
    return docs


def start_worker(model: str, extra: list[str]) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "rerank_onnx_worker", "serve", "--model", model, "--port", "0", *extra]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}")
            continue
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            # keep draining stderr so the worker never blocks on a full pipe
            import threading

            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, m.group(1)
    proc.kill()
    raise RuntimeError("worker did not start")


async def _run_load(url: str, concurrency: int, docs_per_req: int, duration: float, warmup: float, corpus: list[str]):
    import httpx

    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        lat: list[float] = []
        pairs = 0
        errors = 0
        t_measure = time.perf_counter() + warmup
        t_end = t_measure + duration

        async def one_client(cid: int):
            nonlocal pairs, errors
            rng = random.Random(cid)
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                body = {"query": rng.choice(QUERIES), "texts": rng.sample(corpus, docs_per_req)}
                r = await client.post("/rerank", json=body)
                t1 = time.perf_counter()
                if r.status_code != 200:
                    errors += 1
                    continue
                if t0 >= t_measure:
                    lat.append(t1 - t0)
                    pairs += docs_per_req

        await asyncio.gather(*(one_client(i) for i in range(concurrency)))
        wall = time.perf_counter() - t_measure
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")  # noqa: E731
    return {"pairs_per_s": pairs / wall, "requests": len(lat), "p50_ms": pct(0.50), "p99_ms": pct(0.99), "errors": errors}


def run_bench(a) -> int:
    conc = [int(c) for c in str(a.concurrency).split(",") if c]
    corpus = make_corpus()
    words = [len(d.split()) for d in corpus]
    print(f"# corpus: {len(corpus)} docs, {min(words)}-{max(words)} words (mean {sum(words)/len(words):.0f}); "
          f"{a.docs} docs/request; {a.duration:g}s per point after {a.warmup:g}s warm-up; cpus={os.cpu_count()}; "
          f"loadavg at start {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    if a.url:
        variants = [("external", None)]
    else:
        if not a.model:
            print("bench: --model or --url is required", file=sys.stderr)
            return 2
        variants = [(v, v) for v in a.variants.split(",")]
    print(f"{'variant':<10} {'conc':>4} {'pairs/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'reqs':>6} {'errs':>5}", flush=True)
    for label, v in variants:
        proc = None
        url = a.url
        if v is not None:
            extra = shlex.split(a.serve_args) + (["--naive"] if v == "naive" else [])
            extra += ["--max-queue", str(max(2048, 64 * a.docs)), "--max-client-batch-size", str(max(32, a.docs))]
            proc, url = start_worker(a.model, extra)
        try:
            for c in conc:
                r = asyncio.run(_run_load(url, c, a.docs, a.duration, a.warmup, corpus))
                r.update(variant=label, concurrency=c, docs_per_request=a.docs)
                results.append(r)
                print(f"{label:<10} {c:>4} {r['pairs_per_s']:>9.1f} {r['p50_ms']:>9.1f} {r['p99_ms']:>9.1f} {r['requests']:>6} {r['errors']:>5}", flush=True)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
    print(f"# loadavg at end {os.getloadavg()[0]:.2f} (a busy box skews every number above)", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0
