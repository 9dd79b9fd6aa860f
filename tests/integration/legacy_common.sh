#!/usr/bin/env bash
# Helpers shared by the legacy-session integration tests (sourced by test_legacy_*.sh, not a
# test itself): where the genuine fixtures are, and checks against their truth.json written in
# Python, independently of vchunk.

: "${VCHUNK_LEGACY_FIXTURES:=$ROOT/../shared/fixtures/legacy-rust}"
FIXTURES=$VCHUNK_LEGACY_FIXTURES
[ -f "$FIXTURES/tiny/truth.json" ] || fail "no legacy fixtures at $FIXTURES (set VCHUNK_LEGACY_FIXTURES)"

# truth_queries TRUTH OUT: one JSON array per line, the query vectors of TRUTH.
truth_queries() {
	$PY - "$1" "$2" <<'PYEOF'
import json, sys
truth = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as out:
    for q in truth["queries"]:
        out.write(json.dumps(q["vector"]) + "\n")
PYEOF
}

# check_top10 TRUTH RESULTS...: RESULTS (files of {"results": [...]} lines, one per query, in
# order; several files are read one line each) name, for every query of TRUTH, the ids of
# exact_top10 in order, with the same distances (to float32 precision).
check_top10() {
	$PY - "$@" <<'PYEOF'
import json, sys
truth = json.load(open(sys.argv[1]))
answers = []
for path in sys.argv[2:]:
    answers += [json.loads(l) for l in open(path) if l.strip()]
queries = truth["queries"]
if len(answers) != len(queries):
    sys.exit("%d answers for %d queries" % (len(answers), len(queries)))
for qi, (q, a) in enumerate(zip(queries, answers)):
    want = [h["id"] for h in q["exact_top10"]]
    got = [h["id"] for h in a["results"]]
    if got != want:
        sys.exit("query %d: got %s, exact top-10 is %s" % (qi, got, want))
    for h, e in zip(a["results"], q["exact_top10"]):
        if abs(h["score"] - e["distance"]) > 1e-5 * max(1.0, e["distance"]):
            sys.exit("query %d id %s: distance %r, expected %r" % (qi, h["id"], h["score"], e["distance"]))
        idx = e["index"]
        if h["metadata"] != truth["metadata"][idx]:
            sys.exit("query %d id %s: metadata %r, expected %r" % (qi, h["id"], h["metadata"], truth["metadata"][idx]))
print("   %d queries: exact top-10 ids, distances and metadata reproduced" % len(queries))
PYEOF
}

# check_export TRUTH EXPORT.jsonl [DELETED_COUNT]: the export holds exactly the ids of TRUTH
# (less DELETED_COUNT of them, which must be absent), each with the truth's vector bit for bit
# (as float32) and its metadata.
check_export() {
	$PY - "$1" "$2" "${3:-0}" <<'PYEOF'
import json, sys
import numpy as np
truth = json.load(open(sys.argv[1]))
deleted = int(sys.argv[3])
rows = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r["id"] in rows:
        sys.exit("id %r exported twice" % r["id"])
    rows[r["id"]] = r
ids = truth["ids"]
missing = [i for i in ids if i not in rows]
extra = [i for i in rows if i not in set(ids)]
if extra:
    sys.exit("ids not in the truth: %s" % extra[:5])
if len(missing) != deleted:
    sys.exit("%d ids missing, expected %d: %s" % (len(missing), deleted, missing[:5]))
for i, id_ in enumerate(ids):
    if id_ not in rows:
        continue
    want = np.array(truth["vectors"][i], dtype=np.float32)
    got = np.array(rows[id_]["vector"], dtype=np.float32)
    if want.shape != got.shape or not np.array_equal(want.view(np.uint32), got.view(np.uint32)):
        sys.exit("vector of %r differs" % id_)
    if rows[id_].get("metadata") != truth["metadata"][i]:
        sys.exit("metadata of %r: %r != %r" % (id_, rows[id_].get("metadata"), truth["metadata"][i]))
print("   %d ids, vectors bit-exact, metadata equal, %d deleted left out" % (len(rows), len(missing)))
PYEOF
}

# mark_deleted SESSION_DIR: flip the first is_deleted false to true in hnsw_nodes.cbor (the
# copy's, never the fixture's), as the original system records a deletion.
mark_deleted() {
	$PY - "$1/hnsw_nodes.cbor" <<'PYEOF'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
key = b"\x6ais_deleted\xf4"
at = data.find(key)
if at < 0:
    sys.exit("no is_deleted false in " + path)
data[at + len(key) - 1] = 0xF5
open(path, "wb").write(data)
PYEOF
}
