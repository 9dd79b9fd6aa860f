#!/usr/bin/env bash
# vchunkfs over sessions written by the original Rust system (the genuine fixtures): the tree
# shows the stored manifest, chunks decoded to JSON and vectors under their original ids, the
# query files answer every query of truth.json with its exact top-10 (also over a real
# nginx), deleted vectors stay hidden, and a hostile session is refused with a clear error.
source "$(dirname "$0")/test_mount_common.sh"
PY=/usr/bin/python3
source "$(dirname "$0")/legacy_common.sh"
cd "$WORK"

# ask_queries MNT TRUTH OUT: every query of TRUTH through MNT/query (one open each, as the
# transaction file is meant to be used), the answers one per line into OUT.
ask_queries() {
	$PY - "$1" "$2" "$3" <<'PYEOF'
import json, sys
mnt, truth, out = sys.argv[1:4]
with open(out, "w") as answers:
    for q in json.load(open(truth))["queries"]:
        with open(mnt + "/query", "r+b") as f:
            f.write(json.dumps({"vector": q["vector"], "k": 10}).encode())
            f.seek(0)
            answers.write(f.read().decode())
PYEOF
}

# check_tree MNT TRUTH SESSION: root entries, manifest as stored, chunk JSON and vectors/
# against the truth, bit for bit.
check_tree() {
	$PY - "$@" <<'PYEOF'
import json, os, sys
import numpy as np
mnt, truth_path, session = sys.argv[1:4]
truth = json.load(open(truth_path))
root = sorted(os.listdir(mnt))
want = sorted(["manifest.json", "metadata.json", "stats.json", "chunks", "vectors", "query", "queries"]
              + (["schema.json"] if os.path.exists(session + "/schema.json") else []))
assert root == want, root
assert open(mnt + "/manifest.json", "rb").read() == open(session + "/manifest.json", "rb").read()
manifest = json.load(open(session + "/manifest.json"))
names = sorted(os.listdir(mnt + "/chunks"))
assert names == sorted(c["chunk_id"] + ".json" for c in manifest["chunks"]), names
index = {id_: i for i, id_ in enumerate(truth["ids"])}
seen = set()
def same(i, values):
    a = np.array(truth["vectors"][i], dtype=np.float32)
    b = np.array(values, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))
for name in names:
    text = open(mnt + "/chunks/" + name).read()
    assert os.stat(mnt + "/chunks/" + name).st_size == len(text.encode())
    chunk = json.loads(text)
    assert chunk["chunk_id"] + ".json" == name
    for v in chunk["vectors"]:
        i = index[v["id"]]
        assert v["vector_id"] == truth["vector_id_hex"][i], v["id"]
        assert same(i, v["vector"]), "chunk vector of %s differs" % v["id"]
        seen.add(v["id"])
assert seen == set(truth["ids"]), "chunks hold %d of %d ids" % (len(seen), len(truth["ids"]))
meta = json.load(open(mnt + "/metadata.json"))
assert "config" in meta and "total_vectors" in meta, meta.keys()
listed = sorted(os.listdir(mnt + "/vectors"))
assert listed == sorted(i + ".json" for i in truth["ids"]), listed[:3]
for i, id_ in enumerate(truth["ids"]):
    v = json.loads(open(mnt + "/vectors/" + id_ + ".json").read())
    assert v["id"] == id_ and same(i, v["vector"]), id_
    assert v.get("metadata") == truth["metadata"][i], (id_, v.get("metadata"))
assert not os.path.exists(mnt + "/vectors/no-such-id.json")
stats = json.load(open(mnt + "/stats.json"))
assert stats["session"]["format"] == "legacy-rust"
assert stats["session"]["vectors"] == len(truth["ids"]), stats["session"]
print("   tree: manifest as stored, %d chunks and %d vectors bit-exact with original ids"
      % (len(names), len(listed)))
PYEOF
}

for name in tiny small; do
	S=$FIXTURES/$name/session
	T=$FIXTURES/$name/truth.json
	M=$WORK/mnt-$name

	step "$name: mount; tree shows manifest, chunks, metadata and vectors with original ids"
	mount_fg "$S" "$M" "$WORK/log-$name"
	check_tree "$M" "$T" "$S"

	step "$name: the query file answers every query of truth.json with its exact top-10"
	ask_queries "$M" "$T" answers-$name.jsonl
	check_top10 "$T" answers-$name.jsonl

	step "$name: named query from the shell; errors as for our sessions; read-only elsewhere"
	mkdir "$M/queries/first"
	$PY -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["queries"][0]["vector"]))' \
		"$T" >"$M/queries/first/query"
	cat "$M/queries/first/results" >named.jsonl
	$PY - "$T" named.jsonl <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1]))
got = [h["id"] for h in json.loads(open(sys.argv[2]).read())["results"]]
assert got == [h["id"] for h in t["queries"][0]["exact_top10"]], got
PYEOF
	echo '[1, 2, 3]' >"$M/queries/first/query"
	if cat "$M/queries/first/results" >/dev/null 2>err; then fail "wrong dimension answered"; fi
	grep -q "Invalid argument" err || fail "wrong dimension: $(cat err)"
	grep -q '"code":"EINVAL".*wrong dimension' "$M/queries/first/results" ||
		fail "no EINVAL message: $(cat "$M/queries/first/results")"
	touch "$M/queries/first/query" "$M/query" || fail "touch of a query file refused"
	truncate -s 0 "$M/queries/first/query" || fail "truncate of a named query refused"
	if truncate -s 0 "$M/manifest.json" 2>err; then fail "truncated manifest.json"; fi
	grep -q "Read-only" err || fail "truncate manifest.json: $(cat err)"
	if touch "$M/manifest.json" 2>err; then fail "changed the times of manifest.json"; fi
	grep -q "Read-only" err || fail "touch manifest.json: $(cat err)"
	rmdir "$M/queries/first"
	if touch "$M/new" 2>err; then fail "created a file in a legacy mount"; fi
	grep -q "Read-only" err || fail "create: $(cat err)"
	if (echo x >>"$M/manifest.json") 2>err; then fail "wrote manifest.json"; fi
	grep -q "Read-only" err || fail "append to manifest.json: $(cat err)"
	[ "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["queries"]["run"])' \
		"$M/stats.json")" -ge 11 ] || fail "stats.json does not count the queries"

	fusermount3 -u "$M"
	wait_exit "$DAEMON_PID" 10
	assert_clean_unmount "$M"
done

step "deleted vectors: listed in the chunk JSON as deleted, absent from vectors/ and queries"
cp -r "$FIXTURES/tiny/session" deleted && chmod -R u+w deleted
mark_deleted deleted
mount_fg "$WORK/deleted" "$WORK/mnt-deleted" "$WORK/log-deleted"
$PY - "$WORK/mnt-deleted" "$FIXTURES/tiny/truth.json" <<'PYEOF'
import json, os, sys
mnt, truth = sys.argv[1], json.load(open(sys.argv[2]))
gone = [v["id"] for n in os.listdir(mnt + "/chunks")
        for v in json.load(open(mnt + "/chunks/" + n))["vectors"] if v.get("deleted")]
assert len(gone) == 1, gone
assert len(os.listdir(mnt + "/vectors")) == 19
assert not os.path.exists(mnt + "/vectors/%s.json" % gone[0])
for q in truth["queries"]:
    with open(mnt + "/query", "r+b") as f:
        f.write(json.dumps({"vector": q["vector"], "k": 20}).encode())
        f.seek(0)
        ids = [h["id"] for h in json.loads(f.read())["results"]]
    assert len(ids) == 19 and gone[0] not in ids, ids
print("   %s hidden from vectors/ and from every query" % gone[0])
PYEOF
fusermount3 -u "$WORK/mnt-deleted"
wait_exit "$DAEMON_PID" 10

step "mount over the S5 bridge (fixture served by a real nginx)"
NGINX_DIR="$WORK/nginx"
BASE=$("$NGINX_SH" start "$NGINX_DIR" $$)
CLEANUP+=("'$NGINX_SH' stop '$NGINX_DIR'")
mkdir -p "$NGINX_DIR/data/legacy/small"
cp -r "$FIXTURES/small/session/." "$NGINX_DIR/data/legacy/small/"
mount_fg "s5+$BASE/legacy/small" "$WORK/mnt-s5" "$WORK/log-s5"
ask_queries "$WORK/mnt-s5" "$FIXTURES/small/truth.json" answers-s5.jsonl
check_top10 "$FIXTURES/small/truth.json" answers-s5.jsonl
cmp "$WORK/mnt-s5/manifest.json" "$FIXTURES/small/session/manifest.json"
fusermount3 -u "$WORK/mnt-s5"
wait_exit "$DAEMON_PID" 10

step "hostile sessions: vchunkfs refuses to mount, naming the file; nothing left mounted"
hostile() { # NAME EDIT: a copy of tiny changed by EDIT (run inside the copy)
	rm -rf "$1" && cp -r "$FIXTURES/tiny/session" "$1" && chmod -R u+w "$1"
	(cd "$1" && eval "$2")
}
hostile bad-chunk 'head -c 500 chunks/chunk-1.cbor >c && mv c chunks/chunk-1.cbor &&
	sed -i "s/\"byte_size\": 1075/\"byte_size\": 500/" manifest.json'
hostile bad-manifest 'printf "{\"version\": 2, \"chunks\": [{\"chunk_id\": 7}]}" >manifest.json'
hostile bad-graph 'printf "\377\377\377\377" | dd of=hnsw_nodes.cbor bs=1 seek=3 conv=notrunc 2>/dev/null'
for bad in bad-chunk bad-manifest bad-graph; do
	case $bad in
	bad-chunk) where='chunks/chunk-1\.cbor' ;;
	bad-manifest) where='manifest\.json' ;;
	bad-graph) where='hnsw_nodes\.cbor' ;;
	esac
	mkdir -p "mnt-$bad"
	rc=0
	timeout 20 "$VCHUNKFS" -f "$WORK/$bad" "mnt-$bad" 2>"err-$bad" || rc=$?
	[ "$rc" = 1 ] || fail "vchunkfs on $bad exited $rc: $(cat "err-$bad")"
	grep -Eq "cannot open session .*$where" "err-$bad" || fail "$bad: $(cat "err-$bad")"
	mountpoint -q "mnt-$bad" && fail "$bad got mounted"
	echo "   $bad: $(cat "err-$bad")"
done
echo "PASS"
