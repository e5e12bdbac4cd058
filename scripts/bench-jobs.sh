#!/usr/bin/env bash
# Interactive latency on the simulated GPU with and without a large rerank job running (issue 11).
# Usage: scripts/bench-jobs.sh [debug|release] [interactive clients]
# Prints the load driver's JSON for the idle run and for the run while a 120k-pair job is running.
set -euo pipefail
config=${1:-release}
clients=${2:-1}
bin=.build/$config
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/policy.yaml" <<YAML
server: { port: 18100, max_documents: 1000 }
cache: { memory_entries: 0, store: sqlite, sqlite: { path: $dir/scores.sqlite } }
jobs: { max_share: 0.5, chunk_pairs: 256, max_body_bytes: 134217728 }
models:
  - name: sim
    backends:
      - { name: gpu, url: "http://127.0.0.1:18101", max_batch: 32, max_concurrency: 2 }
YAML
"$bin/rerank-bench" backend --port 18101 --concurrency 2 > "$dir/backend.log" 2>&1 &
"$bin/rerank-proxy" serve --config "$dir/policy.yaml" > "$dir/proxy.log" 2>&1 &
for _ in $(seq 100); do curl -sf localhost:18100/readyz > /dev/null && break; sleep 0.1; done
run() { "$bin/rerank-bench" run --url http://127.0.0.1:18100/v1/rerank --concurrency "$clients" --seconds 20 --unique-docs 20 | tail -1; }
echo "idle: $(run)"
python3 - "$dir/job.json" <<'PY'
import json, sys
requests = [{"query": f"job query {i}", "documents": [f"job document {i}-{j} " + "lorem ipsum " * 40 for j in range(40)]} for i in range(3000)]
json.dump({"model": "sim", "requests": requests}, open(sys.argv[1], "w"))
PY
id=$(curl -s localhost:18100/v1/rerank/jobs -H 'content-type: application/json' --data-binary @"$dir/job.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
sleep 2
echo "with job: $(run)"
curl -s "localhost:18100/v1/rerank/jobs/$id" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("job:", j["status"], j["progress"])'
curl -s -X DELETE "localhost:18100/v1/rerank/jobs/$id" > /dev/null
