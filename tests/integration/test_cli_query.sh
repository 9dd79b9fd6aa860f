#!/usr/bin/env bash
# vchunk query against a brute force computed independently in Python/numpy, for each metric:
# exact and default search, -k beyond the session size, thresholds, filters, stdin and batch
# input, TSV output, and a query of the wrong dimension.
set -euo pipefail
source "$(dirname "$0")/test_cli_common.sh"
cd "$WORK"

$GEN --count 3000 --dim 32 --clusters 12 --seed 21 data.jsonl 2>/dev/null
"$VCHUNK" keygen key >/dev/null
# queries: five stored vectors and five random ones (seeded), as .fvecs and as JSON lines
$PY - <<'PYEOF'
import json
import numpy as np
rows = [json.loads(l) for l in open("data.jsonl")]
stored = np.array([rows[i]["vector"] for i in (0, 17, 999, 2048, 2999)], dtype=np.float32)
rand = np.random.default_rng(5).normal(size=(5, 32)).astype(np.float32)
q = np.vstack([stored, rand])
out = np.empty((len(q), 33), dtype="<f4")
out[:, 1:] = q
out.view("<i4")[:, 0] = 32
out.tofile("queries.fvecs")
with open("queries.txt", "w") as f:
    for v in q:
        f.write(json.dumps([float(x) for x in v]) + "\n")
PYEOF

# check METRIC RESULTS K [CATEGORY|-] [THRESHOLD|-] [approx]: every line of RESULTS (JSON)
# answers the matching query with the brute-force top K (ties allowed), best first; with
# "approx", with true scores and a mean recall@K of at least 0.9.
check() {
	$PY - "$@" <<'PYEOF'
import json, sys
import numpy as np
metric, path, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
category = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
threshold = float(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] != "-" else None
approx = len(sys.argv) > 6 and sys.argv[6] == "approx"
recalls = []
rows = [json.loads(l) for l in open("data.jsonl")]
ids = [r["id"] for r in rows]
meta = {r["id"]: r["metadata"] for r in rows}
X = np.array([r["vector"] for r in rows], dtype=np.float32).astype(np.float64)
raw = np.fromfile("queries.fvecs", dtype="<i4").reshape(-1, 33)
Q = raw[:, 1:].view("<f4").astype(np.float64)
lines = open(path).read().splitlines()
assert len(lines) == len(Q), "%d result lines for %d queries" % (len(lines), len(Q))
for qi, (q, line) in enumerate(zip(Q, lines)):
    if metric == "cosine":
        s = X @ q / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))
        better = -s
    elif metric == "dot":
        s = X @ q
        better = -s
    else:
        s = np.sqrt(((X - q) ** 2).sum(axis=1))
        better = s
    keep = np.ones(len(ids), dtype=bool)
    if category:
        keep &= np.array([meta[i]["category"] == category for i in ids])
    if threshold is not None:
        keep &= (s >= threshold) if metric != "l2" else (s <= threshold)
    order = [i for i in np.argsort(better, kind="stable") if keep[i]][:k]
    want = [s[i] for i in order]
    got = json.loads(line)
    res = got["results"]
    for field in ("chunks_read", "bytes_read", "frames_decrypted", "cache_hits",
                  "vectors_scored", "elapsed_ms"):
        assert field in got["stats"], "stats lack " + field
    assert len(res) == len(order), "query %d: %d results, brute force has %d" % (qi, len(res), len(order))
    assert len({r["id"] for r in res}) == len(res), "query %d: duplicate ids" % qi
    tol = 1e-4 * max(1.0, float(np.max(np.abs(s))))
    index = {i: n for n, i in enumerate(ids)}
    for n, r in enumerate(res):
        true = s[index[r["id"]]]
        assert abs(r["score"] - true) <= tol, "query %d rank %d: score %r, true %r" % (qi, n, r["score"], true)
        if n > 0:
            worse = r["score"] > res[n - 1]["score"] if metric == "l2" else r["score"] < res[n - 1]["score"]
            assert worse or abs(r["score"] - res[n - 1]["score"]) <= tol, "query %d: not best first" % qi
        if approx:
            continue
        assert abs(r["score"] - want[n]) <= tol, "query %d rank %d: %r is not the brute-force %r" % (qi, n, r["score"], want[n])
    if approx:
        # approximate search: recall against the exact answer (ties count as found)
        cut = want[-1]
        found = sum(1 for r in res if (r["score"] >= cut - tol if metric != "l2" else r["score"] <= cut + tol))
        recalls.append(found / len(order))
        assert r["metadata"] == meta[r["id"]], "query %d: metadata of %s" % (qi, r["id"])
        if category:
            assert r["metadata"]["category"] == category
if approx:
    assert np.mean(recalls) >= 0.9, "mean recall@%d %.3f below 0.9" % (k, np.mean(recalls))
    print("   %d queries: true scores, best first, mean recall@%d %.3f" % (len(Q), k, np.mean(recalls)))
    sys.exit(0)
print("   %d queries agree with the numpy brute force (k=%d%s%s)" % (len(Q), k,
      ", category=" + category if category else "", ", threshold=%g" % threshold if threshold is not None else ""))
PYEOF
}

for metric in cosine l2 dot; do
	step "$metric: import, then --exact -k 10 over a batch equals the brute force"
	"$VCHUNK" import --key key --metric "$metric" --chunk-size 700 data.jsonl "s-$metric" >/dev/null
	"$VCHUNK" query --key key --exact -k 10 --batch queries.fvecs "s-$metric" >"exact-$metric.json"
	check "$metric" "exact-$metric.json" 10

	step "$metric: default search, -k 25"
	"$VCHUNK" query --key key -k 25 --batch queries.fvecs "s-$metric" >"default-$metric.json"
	check "$metric" "default-$metric.json" 25 - - approx
done

step "-k larger than the session returns every vector, best first"
"$VCHUNK" query --key key --exact -k 5000 --batch queries.fvecs s-l2 >all.json
check l2 all.json 5000

step "stdin: one JSON array per line, answers in query order, same as --batch"
"$VCHUNK" query --key key --exact -k 10 s-cosine <queries.txt >stdin.json
cmp <(jq -c '[.results[].id]' stdin.json) <(jq -c '[.results[].id]' exact-cosine.json) ||
	fail "stdin answers differ from --batch answers"
"$VCHUNK" query --key key --exact -k 3 s-cosine "$(head -1 queries.txt)" >one.json
[ "$(wc -l <one.json)" = 1 ] || fail "QUERY argument: expected one line"
[ "$(jq -r '.results[0].id' one.json)" = doc-0 ] || fail "query with doc-0's vector does not find doc-0 first"

step "query objects on stdin: per-query k, filter and exact override the options"
v0=$(head -1 queries.txt)
printf '%s\n{"vector": %s, "k": 3, "filter": {"category": {"$in": ["art", "music"]}}, "exact": true}\n' \
	"$v0" "$v0" | "$VCHUNK" query --key key -k 7 s-cosine >objects.json
[ "$(wc -l <objects.json)" = 2 ] || fail "expected two answer lines"
[ "$(sed -n 1p objects.json | jq '.results | length')" = 7 ] || fail "first query: -k 7"
[ "$(sed -n 2p objects.json | jq '.results | length')" = 3 ] || fail "second query: k 3"
sed -n 2p objects.json | jq -e '[.results[].metadata.category] | all(. == "art" or . == "music")' \
	>/dev/null || fail "second query: filter not applied"
expect_fail 1 "bad query field \"kk\"" "$VCHUNK" query --key key s-cosine "{\"vector\": $v0, \"kk\": 3}"
expect_fail 1 "no \"vector\"" "$VCHUNK" query --key key s-cosine '{"k": 3}'

step "--format tsv: rank, id, score; queries separated by a blank line"
"$VCHUNK" query --key key --exact -k 4 --format tsv --batch queries.fvecs s-cosine >out.tsv
[ "$(grep -c '^$' out.tsv)" = 9 ] || fail "expected 9 blank separators for 10 queries"
head -4 out.tsv | awk -F'\t' 'NF != 3 || $1 != NR { exit 1 }' || fail "bad TSV rows"
[ "$(head -1 out.tsv | cut -f2)" = doc-0 ] || fail "TSV top hit of query 0"

step "--threshold keeps exactly the brute-force hits past the threshold"
"$VCHUNK" query --key key --exact -k 3000 --threshold 0.8 --batch queries.fvecs s-cosine >thr.json
check cosine thr.json 3000 - 0.8
"$VCHUNK" query --key key --exact -k 3000 --threshold 4.5 --batch queries.fvecs s-l2 >thr-l2.json
check l2 thr-l2.json 3000 - 4.5

step "--filter on metadata equals the filtered brute force"
"$VCHUNK" query --key key --exact -k 10 --filter '{"category": "science"}' \
	--batch queries.fvecs s-dot >filter.json
check dot filter.json 10 science

step "bad queries: wrong dimension, not an array, bad options"
expect_fail 1 "dimension" "$VCHUNK" query --key key s-cosine '[1, 2, 3]'
expect_fail 1 "JSON array" "$VCHUNK" query --key key s-cosine '"text"'
expect_fail 2 "--filter" "$VCHUNK" query --key key --filter '[1' s-cosine '[1]'
expect_fail 2 "-k" "$VCHUNK" query --key key -k 0 s-cosine '[1]'
expect_fail 2 "--format" "$VCHUNK" query --key key --format xml s-cosine '[1]'

echo "test_cli_query: all passed"
