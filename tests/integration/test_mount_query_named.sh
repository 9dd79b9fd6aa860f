#!/usr/bin/env bash
# Named queries from the shell: mkdir queries/NAME, echo a query into NAME/query, cat
# NAME/results, rmdir; names are checked and counted; another user (allow_other) can neither
# read nor remove someone else's query but has its own; a tampered chunk fails a query with
# EIO and a message naming the chunk.
. "$(dirname "$0")/test_mount_common.sh"

S=$WORK/sess
M=$WORK/mnt
make_session "$S" 2000 8 400
DATA=$WORK/data-2000-8.jsonl
chmod 755 "$WORK" # the scratch directory is private; the other user must reach the mount
mount_bg "$S" "$M" -o key_file="$WORK/key",allow_other
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

expected() {
	"$VCHUNK" query --key "$WORK/key" "$S" "$1" | jq -c .results
}

step "mkdir, echo > query, cat results, rmdir"
v3=$(sed -n 4p "$DATA" | jq -c .vector)
mkdir "$M/queries/first"
[ "$(ls "$M/queries")" = first ] || fail "queries/ lists $(ls "$M/queries")"
[ "$(ls "$M/queries/first" | tr '\n' ' ')" = "query results " ] || fail "NAME/ listing"
[ "$(stat -c %s "$M/queries/first/results")" = 0 ] || fail "results of nothing is not empty"
echo "$v3" >"$M/queries/first/query"
[ "$(cat "$M/queries/first/query")" = "$v3" ] || fail "NAME/query does not read back the input"
timeout 20 cat "$M/queries/first/results" >"$WORK/r1"
[ "$(jq -c .results "$WORK/r1")" = "$(expected "$v3")" ] || fail "results differ from vchunk query"
[ "$(jq -r '.results[0].id' "$WORK/r1")" = doc-3 ] || fail "doc-3 is not its own best hit"
timeout 20 cat "$M/queries/first/results" >"$WORK/r2"
cmp "$WORK/r1" "$WORK/r2" || fail "a second cat re-ran the query"
[ "$(stat -c %s "$M/queries/first/results")" = "$(stat -c %s "$WORK/r1")" ] ||
	fail "results size is not the answer's"
[ "$(stat -c %U "$M/queries/first")" = root ] || fail "owner"
[ "$(stat -c %a "$M/queries/first")" = 700 ] || fail "mode of NAME/"
# echo truncates (O_TRUNC): a shorter query replaces a longer one completely
v9=$(sed -n 10p "$DATA" | jq -r '.vector | join(" ")')
echo "$v9" >"$M/queries/first/query"
[ "$(jq -r '.results[0].id' "$M/queries/first/results")" = doc-9 ] || fail "new query not run"
printf '{"vector": %s, "k": 3}' "$v3" >"$M/queries/first/query"
[ "$(jq '.results | length' "$M/queries/first/results")" = 3 ] || fail "object query k=3"
: >"$M/queries/first/query"
truncate -s 0 "$M/queries/first/query"
echo "$v3" >>"$M/queries/first/query"
[ "$(jq -r '.results[0].id' "$M/queries/first/results")" = doc-3 ] || fail "append after truncate"

step "a bad query: the cat that runs it fails with EINVAL, then results hold the message"
echo "1 2 3" >"$M/queries/first/query"
if err=$(timeout 20 cat "$M/queries/first/results" 2>&1 >/dev/null); then fail "bad query ran"; fi
echo "$err" | grep -q "Invalid argument" || fail "cat said: $err"
jq -e '.error.code == "EINVAL" and (.error.message | test("wrong dimension"))' \
	"$M/queries/first/results" >/dev/null || fail "error JSON: $(cat "$M/queries/first/results")"

step "names: checked, unique, at most 1024; rm of a file is refused, rmdir removes"
for bad in "a b" "x:y" "é" "$(printf 'n%.0s' $(seq 65))"; do
	if mkdir "$M/queries/$bad" 2>/dev/null; then fail "mkdir queries/$bad succeeded"; fi
done
mkdir "$M/queries/$(printf 'n%.0s' $(seq 64))" || fail "a 64-byte name was refused"
err=$(mkdir "$M/queries/first" 2>&1) && fail "duplicate mkdir succeeded"
echo "$err" | grep -q "File exists" || fail "duplicate: $err"
err=$(mkdir "$M/elsewhere" 2>&1) && fail "mkdir outside queries/"
echo "$err" | grep -q "Read-only file system" || fail "mkdir elsewhere: $err"
err=$(rm "$M/queries/first/query" 2>&1) && fail "rm of NAME/query succeeded"
echo "$err" | grep -q "Operation not permitted" || fail "rm: $err"
(cd "$M/queries" && for i in $(seq 1 1022); do mkdir "q$i" || exit 1; done) || fail "1024 queries"
err=$(mkdir "$M/queries/one-too-many" 2>&1) && fail "the 1025th named query was made"
echo "$err" | grep -q "No space left" || fail "limit: $err"
[ "$(stat_json "$M" .queries.named)" = 1024 ] || fail "stats.json named count"
(cd "$M/queries" && for i in $(seq 1 1022); do rmdir "q$i" || exit 1; done) || fail "rmdir"
rmdir "$M/queries/$(printf 'n%.0s' $(seq 64))"

step "another user: cannot read or remove my query; has its own; root reads it"
echo "$v3" >"$M/queries/first/query"
if as_nobody cat "$M/queries/first/results" 2>/dev/null; then fail "nobody read my results"; fi
err=$(as_nobody rmdir "$M/queries/first" 2>&1) && fail "nobody removed my query"
echo "$err" | grep -q "Permission denied" || fail "nobody rmdir: $err"
[ -d "$M/queries/first" ] || fail "my query is gone"
as_nobody mkdir "$M/queries/theirs" || fail "nobody cannot mkdir"
as_nobody sh -c "echo '$v3' >'$M/queries/theirs/query'" || fail "nobody cannot write its query"
[ "$(as_nobody jq -r '.results[0].id' "$M/queries/theirs/results")" = doc-3 ] ||
	fail "nobody cannot read its results"
[ "$(stat -c %u "$M/queries/theirs")" = 65534 ] || fail "owner of nobody's query"
timeout 20 jq -e '.results' "$M/queries/theirs/results" >/dev/null || fail "root cannot read it"
as_nobody /usr/bin/python3 - "$M/query" "$v3" <<'PYEOF' || fail "nobody cannot use query"
import json, sys
with open(sys.argv[1], "r+b") as f:
    f.write(sys.argv[2].encode()); f.seek(0)
    assert json.loads(f.read())["results"][0]["id"] == "doc-3"
PYEOF
as_nobody rmdir "$M/queries/theirs" || fail "nobody cannot remove its own query"
rmdir "$M/queries/first"
[ -z "$(ls "$M/queries")" ] || fail "queries/ not empty: $(ls "$M/queries")"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 10

step "a tampered chunk: EIO with a message naming it, on query and named results"
size=$(stat -c %s "$S/chunks/chunk-2.cbor")
/usr/bin/python3 - "$S/chunks/chunk-2.cbor" "$((size / 2))" <<'PYEOF'
import sys
path, at = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0x40]))
PYEOF
mount_fg "$S" "$M" "$WORK/log" -o key_file="$WORK/key"
timeout 30 /usr/bin/python3 - "$M/query" "$v3" <<'PYEOF' || fail "tampered chunk query"
import errno, json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, sys.argv[2].encode())
try:
    os.pread(fd, 65536, 0)
    sys.exit("a query over a tampered chunk succeeded")
except OSError as e:
    assert e.errno == errno.EIO, e
err = json.loads(os.pread(fd, 65536, 0))["error"]
assert err["code"] == "EIO" and "chunks/chunk-2.cbor" in err["message"], err
print("   ", err["message"][:100])
PYEOF
mkdir "$M/queries/t" && echo "$v3" >"$M/queries/t/query"
err=$(timeout 20 cat "$M/queries/t/results" 2>&1 >/dev/null) && fail "named query over tampered chunk"
echo "$err" | grep -q "Input/output error" || fail "cat said: $err"
grep -q "chunks/chunk-2.cbor" "$M/queries/t/results" || fail "error JSON does not name the chunk"
kill -0 "$DAEMON_PID" || fail "the daemon died"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 10
echo "test_mount_query_named: all passed"
