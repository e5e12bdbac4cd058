#!/bin/bash
# `rerank-proxy cache …` timings (issue #8): 200,000 scores (150,000 of model-a, 50,000 of model-b) imported into
# SQLite, exported, imported into Redis, exported again, then model-a purged from both.
# Needs a release build (swift build -c release --product rerank-proxy) and a redis-server at $REDIS_URL.
set -euo pipefail
B=${B:-$PWD/.build/release/rerank-proxy}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
DIR=$(mktemp -d)
cd "$DIR"
python3 - <<'PY'
import hashlib, json, os, random, struct, time
def tag(name): return hashlib.sha256(b"rerank-proxy model tag\0" + name.encode()).digest()[:8]
now = int(time.time()); random.seed(2)
with open("seed.ndjson", "w") as f:
    f.write(json.dumps({"format": "rerank-proxy-cache", "version": 1, "store": "bench", "exported_at": now, "models": {}}) + "\n")
    for model, n in [("model-a", 150000), ("model-b", 50000)]:
        for i in range(n):
            key = (tag(model) + os.urandom(24)).hex()
            f.write('{"k":"%s","s":"%s","t":%d}\n' % (key, struct.pack(">d", random.uniform(-10, 10)).hex(), now - i % 3600))
PY
models='models:
  - {name: model-a, backends: [{name: b, url: "http://127.0.0.1:9"}]}
  - {name: model-b, backends: [{name: b, url: "http://127.0.0.1:9"}]}'
printf 'cache:\n  store: sqlite\n  sqlite: {path: %s/scores.sqlite}\n%s\n' "$DIR" "$models" > sqlite.yaml
printf 'cache:\n  store: redis\n  redis: {url: "%s", prefix: "bench-%s:"}\n%s\n' "$REDIS_URL" "$$" "$models" > redis.yaml
t() {
    local start end
    start=$(date +%s.%N); "$@" > out.txt; end=$(date +%s.%N)
    printf '%-50s %6.2f s  %s\n' "${*:2:4}" "$(echo "$end - $start" | bc)" "$(head -1 out.txt)"
}
t "$B" cache import seed.ndjson --config sqlite.yaml
t "$B" cache stats --config sqlite.yaml
t "$B" cache export --out sqlite.ndjson --config sqlite.yaml
t "$B" cache import sqlite.ndjson --config redis.yaml
t "$B" cache stats --config redis.yaml
t "$B" cache export --out redis.ndjson --config redis.yaml
t "$B" cache purge --model model-a --config redis.yaml
t "$B" cache purge --model model-a --config sqlite.yaml
"$B" cache purge --model model-b --config redis.yaml > /dev/null
rm -rf "$DIR"
