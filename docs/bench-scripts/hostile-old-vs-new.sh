#!/usr/bin/env bash
# Old (28d19dd) and new proxy side by side on one simulated GPU; rerank-bench hostile against each.
set -u
NEW=${NEW:-.build/release}
OLD=${OLD:?set OLD to the release build folder of the commit to compare}
$NEW/rerank-bench backend --port 18001 > /tmp/backend.log 2>&1 &
B=$!
$OLD/rerank-proxy serve --config "$(dirname "$0")/sim-policy.yaml" --port 18080 --log-level error > /tmp/old.log 2>&1 &
O=$!
$NEW/rerank-proxy serve --config "$(dirname "$0")/sim-policy.yaml" --port 18081 --log-level error > /tmp/new.log 2>&1 &
N=$!
sleep 3
for round in 1 2; do
  for which in old:18080 new:18081; do
    name=${which%%:*}; port=${which##*:}
    echo "=== $name round $round"
    $NEW/rerank-bench hostile --url http://127.0.0.1:$port/v1/rerank --seconds ${SECS:-8} --concurrency 4 --bodies 4 --model sim 2>&1 | tail -25
  done
done
kill $B $O $N
