#!/usr/bin/env bash
# Hit path only, old vs new, four alternating 5 s rounds (docs/benchmarks.md section 14). OLD defaults to /tmp/old-release.
set -u
NEW=${NEW:-.build/release}; OLD=${OLD:-/tmp/old-release}
$NEW/rerank-bench backend --port 18001 --base-ms 1 --per-pair-ms 0.05 --concurrency 8 > /tmp/backend.log 2>&1 &
B=$!
$OLD/rerank-proxy serve --config docs/bench-scripts/sim-policy.yaml --port 18080 --log-level error > /tmp/old.log 2>&1 &
O=$!
$NEW/rerank-proxy serve --config docs/bench-scripts/sim-policy.yaml --port 18081 --log-level error > /tmp/new.log 2>&1 &
N=$!
sleep 3
for round in 1 2 3 4; do
  for which in old:18080 new:18081; do
    name=${which%%:*}; port=${which##*:}
    printf "%s hit %s " $name $round
    $NEW/rerank-bench run --url http://127.0.0.1:$port/v1/rerank --fixed-docs 20 --seconds 5 --concurrency 8 --model sim 2>&1 | tail -1 | python3 -c "import sys,json; d=json.loads(sys.stdin.read()); print(round(d['rps']), d['p99_ms'])"
  done
done
kill $B $O $N
