#!/usr/bin/env bash
# vchunk over sessions written by the original Rust system (the genuine fixtures): query
# reproduces the exact top-10 of truth.json, inspect/cat/export/verify read them, convert
# writes an encrypted session of ours that verifies and exports the same data (also over a
# real nginx), deleted vectors are left out, and hostile files give clear errors.
source "$(dirname "$0")/test_cli_common.sh"
source "$(dirname "$0")/legacy_common.sh"
cd "$WORK"
"$VCHUNK" keygen key >/dev/null

for name in tiny small; do
	S=$FIXTURES/$name/session
	T=$FIXTURES/$name/truth.json
	n=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["ids"]))' "$T")

	step "$name: inspect says legacy, $n live vectors"
	"$VCHUNK" inspect --json "$S" >inspect.json
	$PY - inspect.json "$n" <<'PYEOF'
import json, sys
i = json.load(open(sys.argv[1]))
assert i["format"] == "legacy-rust", i["format"]
assert i["total_vectors"] == int(sys.argv[2]), i["total_vectors"]
assert i["ids"]["recovered"] == int(sys.argv[2]), i["ids"]
PYEOF
	"$VCHUNK" inspect "$S" | grep -q "original Rust system" || fail "inspect text lacks the format"

	step "$name: query (stdin, one per line) reproduces every exact top-10"
	truth_queries "$T" queries.jsonl
	"$VCHUNK" query -k 10 "$S" <queries.jsonl >answers.jsonl
	check_top10 "$T" answers.jsonl
	# the same through the QUERY argument, as a JSON object asking for exact search
	: >answers-arg.jsonl
	while IFS= read -r q; do
		"$VCHUNK" query "$S" "{\"vector\": $q, \"k\": 10, \"exact\": true}" >>answers-arg.jsonl
	done <queries.jsonl
	check_top10 "$T" answers-arg.jsonl

	step "$name: export of the legacy session (.jsonl and .fvecs) equals truth.json"
	"$VCHUNK" export "$S" legacy-$name.jsonl 2>/dev/null
	check_export "$T" legacy-$name.jsonl
	"$VCHUNK" export "$S" legacy-$name.fvecs 2>/dev/null
	$PY - "$T" legacy-$name.fvecs <<'PYEOF'
import json, sys
import numpy as np
t = json.load(open(sys.argv[1]))
raw = np.fromfile(sys.argv[2], dtype="<i4").reshape(len(t["ids"]), -1)
assert (raw[:, 0] == len(t["vectors"][0])).all()
got = sorted(r.tobytes() for r in raw[:, 1:])
want = sorted(np.array(v, dtype="<f4").tobytes() for v in t["vectors"])
assert got == want, "fvecs rows differ from the truth's vectors"
PYEOF

	step "$name: verify decodes everything; cat shows stored files and decoded chunks"
	"$VCHUNK" verify "$S" | grep -q "^OK: legacy session" || fail "verify of $name"
	"$VCHUNK" cat "$S" manifest.json | cmp - "$S/manifest.json" || fail "cat manifest.json"
	"$VCHUNK" cat "$S" chunks/chunk-0.cbor | cmp - "$S/chunks/chunk-0.cbor" || fail "cat cbor"
	"$VCHUNK" cat "$S" chunks/chunk-0.json >chunk0.json
	$PY - chunk0.json "$T" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
t = json.load(open(sys.argv[2]))
assert c["chunk_id"] == "chunk-0"
ids = set(t["ids"])
assert c["vectors"] and all(v["id"] in ids for v in c["vectors"]), "chunk ids are not user ids"
PYEOF
	"$VCHUNK" cat "$S" metadata.json | $PY -c 'import json,sys; assert "config" in json.load(sys.stdin)'

	step "$name: convert → verify → export equals truth.json (bit-exact)"
	"$VCHUNK" convert --key key "$S" conv-$name >convert.out
	grep -q "converted $n vectors" convert.out || fail "convert said: $(cat convert.out)"
	"$VCHUNK" verify --key key conv-$name | grep -q '^OK:' || fail "converted $name does not verify"
	"$VCHUNK" inspect --json conv-$name | $PY -c '
import json, sys
i = json.load(sys.stdin)
assert i["format"] == "vchunk" and i["metric"] == "l2" and i["encryption"]["enabled"], i'
	"$VCHUNK" export --key key conv-$name conv-$name.jsonl 2>/dev/null
	check_export "$T" conv-$name.jsonl
	"$VCHUNK" query --key key -k 10 --exact conv-$name <queries.jsonl >conv-answers.jsonl
	check_top10 "$T" conv-answers.jsonl
	expect_fail 1 "exists" "$VCHUNK" convert --key key "$S" conv-$name
done

step "convert --no-encryption; refusals: no key, a session of ours as the source"
"$VCHUNK" convert --no-encryption "$FIXTURES/tiny/session" plain >/dev/null
"$VCHUNK" inspect --json plain | $PY -c 'import json,sys; assert not json.load(sys.stdin)["encryption"]["enabled"]'
expect_fail 2 "needs a key" "$VCHUNK" convert "$FIXTURES/tiny/session" nokey
[ ! -e nokey ] || fail "a refused convert left nokey behind"
expect_fail 1 "not a session of the original Rust system" "$VCHUNK" convert --key key plain again
[ ! -e again ] || fail "a refused convert left a session behind"

step "deleted vectors (is_deleted) are not listed, searched, exported or converted"
cp -r "$FIXTURES/tiny/session" deleted && chmod -R u+w deleted
mark_deleted deleted
"$VCHUNK" inspect --json deleted | $PY -c '
import json, sys
i = json.load(sys.stdin)
assert i["deleted_vectors"] == 1 and i["total_vectors"] == 19, i'
"$VCHUNK" export deleted deleted.jsonl 2>/dev/null
check_export "$FIXTURES/tiny/truth.json" deleted.jsonl 1
gone=$($PY -c '
import json, sys
t = json.load(open(sys.argv[1]))
have = {json.loads(l)["id"] for l in open(sys.argv[2])}
print([i for i in t["ids"] if i not in have][0])' "$FIXTURES/tiny/truth.json" deleted.jsonl)
"$VCHUNK" convert --key key deleted conv-deleted >convert.out
grep -q "converted 19 vectors .*; 1 deleted vectors not carried over" convert.out ||
	fail "convert of deleted said: $(cat convert.out)"
"$VCHUNK" export --key key conv-deleted conv-deleted.jsonl 2>/dev/null
check_export "$FIXTURES/tiny/truth.json" conv-deleted.jsonl 1
grep -q "\"$gone\"" conv-deleted.jsonl && fail "deleted $gone was converted"
truth_queries "$FIXTURES/tiny/truth.json" tiny-queries.jsonl
"$VCHUNK" query -k 20 deleted <tiny-queries.jsonl >deleted-answers.jsonl
grep -q "\"$gone\"" deleted-answers.jsonl && fail "deleted $gone was returned by a query"
[ "$(grep -o '"id"' deleted-answers.jsonl | wc -l)" = $((19 * 10)) ] ||
	fail "queries over the 19 live vectors did not return 19 hits each"

step "convert and query over the S5 bridge (fixture served by a real nginx)"
start_nginx
mkdir -p "$NGINX_DIR/data/legacy/small"
cp -r "$FIXTURES/small/session/." "$NGINX_DIR/data/legacy/small/"
U="s5+$BASE/legacy/small"
truth_queries "$FIXTURES/small/truth.json" small-queries.jsonl
"$VCHUNK" query -k 10 "$U" <small-queries.jsonl >s5-answers.jsonl
check_top10 "$FIXTURES/small/truth.json" s5-answers.jsonl
"$VCHUNK" convert --key key "$U" "s5+$BASE/converted/small" >/dev/null
"$VCHUNK" verify --key key "s5+$BASE/converted/small" | grep -q '^OK:' || fail "s5 verify"
"$VCHUNK" export --key key "s5+$BASE/converted/small" s5.jsonl 2>/dev/null
check_export "$FIXTURES/small/truth.json" s5.jsonl
[ -f "$NGINX_DIR/data/converted/small/manifest.json" ] || fail "nothing stored through nginx"

step "hostile files: clear errors naming the file, exit 1, nothing converted"
hostile() { # NAME EDIT...: a copy of tiny changed by EDIT (run inside the copy)
	rm -rf "$1" && cp -r "$FIXTURES/tiny/session" "$1" && chmod -R u+w "$1"
	(cd "$1" && eval "$2")
}
hostile bad-manifest 'printf "{\"version\": 3, \"chunks\": [{\"chunk_id\": \"../x\"}]}" >manifest.json'
hostile bad-chunk 'head -c 500 chunks/chunk-1.cbor >c && mv c chunks/chunk-1.cbor &&
	sed -i "s/\"byte_size\": 1075/\"byte_size\": 500/" manifest.json'
hostile trailing 'printf "\377" >>chunks/chunk-0.cbor &&
	sed -i "s/\"byte_size\": 1083/\"byte_size\": 1084/" manifest.json'
hostile flipped 'printf "\377\377\377\377" | dd of=hnsw_nodes.cbor bs=1 seek=3 conv=notrunc 2>/dev/null'
for bad in bad-manifest bad-chunk trailing flipped; do
	case $bad in
	bad-manifest) where='manifest\.json' ;;
	bad-chunk | trailing) where='chunks/chunk-[01]\.cbor' ;;
	flipped) where='hnsw_nodes\.cbor' ;;
	esac
	expect_fail 1 "$where" "$VCHUNK" query "$bad" '[0,0,0,0,0,0,0,1]'
	expect_fail 1 "$where" "$VCHUNK" inspect "$bad"
	expect_fail 1 "$where" "$VCHUNK" export "$bad" "$bad.jsonl"
	[ ! -e "$bad.jsonl" ] || fail "export of $bad left a file"
	expect_fail 1 "$where" "$VCHUNK" verify "$bad"
	expect_stdout "^FAILED .*$where"
	expect_fail 1 "$where" "$VCHUNK" convert --key key "$bad" "conv-$bad"
	[ ! -e "conv-$bad/manifest.json" ] || fail "convert of $bad wrote a session"
done
echo "PASS"
