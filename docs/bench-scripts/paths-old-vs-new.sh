#!/usr/bin/env bash
# Miss path (every pair new) and hit path, old vs new, same simulated GPU, alternating.
set -u
NEW=${NEW:-.build/release}
OLD=${OLD:?set OLD to the release build folder of the commit to compare}
$NEW/rerank-bench backend --port 18001 --base-ms 1 --per-pair-ms 0.05 --concurrency 8 > /tmp/backend.log 2>&1 &
B=$!
$OLD/rerank-proxy serve --config "$(dirname "$0")/sim-policy.yaml" --port 18080 --log-level error > /tmp/old.log 2>&1 &
O=$!
$NEW/rerank-proxy serve --config "$(dirname "$0")/sim-policy.yaml" --port 18081 --log-level error > /tmp/new.log 2>&1 &
N=$!
sleep 3
for round in 1 2; do
  for which in old:18080 new:18081; do
    name=${which%%:*}; port=${which##*:}
    echo "=== $name miss round $round"
    $NEW/rerank-bench run --url http://127.0.0.1:$port/v1/rerank --unique-docs 20 --seconds 6 --concurrency 8 --model sim 2>&1 | tail -1
    echo "=== $name hit round $round"
    $NEW/rerank-bench run --url http://127.0.0.1:$port/v1/rerank --fixed-docs 20 --seconds 6 --concurrency 8 --model sim 2>&1 | tail -1
  done
done
kill $B $O $N
