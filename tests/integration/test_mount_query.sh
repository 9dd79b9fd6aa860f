#!/usr/bin/env bash
# The query transaction file from Python: write, seek(0), read on one open file gives exactly
# the results of `vchunk query`; the four input forms agree; object queries (filter, k larger
# than the session); wrong dimension, garbage and oversized input fail with EINVAL / EFBIG
# and a message; two concurrent clients never see each other's results; vectors/ID.json is
# the exported line; index/ files are the decrypted index objects.
. "$(dirname "$0")/test_mount_common.sh"

S=$WORK/sess
M=$WORK/mnt
PY=/usr/bin/python3
make_session "$S" 3000 16 500
mount_bg "$S" "$M" -o key_file="$WORK/key"
DATA=$WORK/data-3000-16.jsonl

# expected QUERY: the "results" of `vchunk query` for one query (array or object), compact
expected() {
	"$VCHUNK" query --key "$WORK/key" "$S" "$1" | jq -c .results
}

# ask INPUT_FILE: write the file's bytes to $M/query, seek(0), read; prints the JSON answer
ask() {
	timeout 30 $PY - "$M/query" "$1" <<'PYEOF'
import sys
with open(sys.argv[2], "rb") as src:
    data = src.read()
with open(sys.argv[1], "r+b") as f:
    f.write(data)
    f.seek(0)
    sys.stdout.buffer.write(f.read())
PYEOF
}

step "Python: write, seek(0), read on one open file = vchunk query (with stats, one line)"
v0=$(sed -n 1p "$DATA" | jq -c .vector)
printf '%s' "$v0" >"$WORK/q-array"
ask "$WORK/q-array" >"$WORK/answer"
[ "$(wc -l <"$WORK/answer")" = 1 ] || fail "the answer is not one line"
[ "$(jq -c .results "$WORK/answer")" = "$(expected "$v0")" ] || fail "results differ from vchunk query"
[ "$(jq -r '.results[0].id' "$WORK/answer")" = doc-0 ] || fail "doc-0 is not its own best hit"
cli_keys=$("$VCHUNK" query --key "$WORK/key" "$S" "$v0" | jq -r '.stats | keys | join(",")')
[ -n "$cli_keys" ] && [ "$(jq -r '.stats | keys | join(",")' "$WORK/answer")" = "$cli_keys" ] ||
	fail "stats keys differ from vchunk query's ($cli_keys)"
# the same bytes as vchunk query apart from the timing
"$VCHUNK" query --key "$WORK/key" "$S" "$v0" | jq -c 'del(.stats.elapsed_ms, .stats.cache_hits, .stats.chunks_read, .stats.bytes_read, .stats.frames_decrypted)' >"$WORK/cli-shape"
[ "$(jq -c 'del(.stats.elapsed_ms, .stats.cache_hits, .stats.chunks_read, .stats.bytes_read, .stats.frames_decrypted)' "$WORK/answer")" = "$(cat "$WORK/cli-shape")" ] ||
	fail "the answer differs from vchunk query's JSON"
[ "$(stat -c %s "$M/query")" = 0 ] || fail "query does not report size 0"

step "the four input forms give the same results"
v5=$(sed -n 6p "$DATA" | jq -c .vector)
want=$(expected "$v5")
jq -r '.[]' <<<"$v5" | tr '\n' ' ' >"$WORK/q-spaces"
jq -r 'map(tostring) | join(",")' <<<"$v5" >"$WORK/q-commas"
$PY -c 'import json,struct,sys; v=json.loads(sys.argv[1]); sys.stdout.buffer.write(struct.pack("<%df" % len(v), *v))' \
	"$v5" >"$WORK/q-raw"
[ "$(stat -c %s "$WORK/q-raw")" = 64 ] || fail "raw query is not dim x 4 bytes"
printf '{"vector": %s}' "$v5" >"$WORK/q-object"
printf '%s\n' "$v5" >"$WORK/q-array"
for form in array spaces commas raw object; do
	[ "$(ask "$WORK/q-$form" | jq -c .results)" = "$want" ] || fail "the $form form differs"
done

step "object queries: filter, k, threshold, exact; k larger than the session"
q='{"vector": '$v5', "k": 7, "filter": {"category": {"$in": ["art", "history"]}}, "exact": true}'
printf '%s' "$q" >"$WORK/q-filter"
got=$(ask "$WORK/q-filter" | jq -c .results)
[ "$got" = "$(expected "$q")" ] || fail "filtered query differs from vchunk query"
[ "$(jq 'length' <<<"$got")" = 7 ] || fail "filtered query did not return k=7"
jq -e 'all(.[]; .metadata.category == "art" or .metadata.category == "history")' <<<"$got" \
	>/dev/null || fail "a hit does not match the filter"
q='{"vector": '$v5', "k": 5000}'
printf '%s' "$q" >"$WORK/q-bigk"
ask "$WORK/q-bigk" | jq -c .results >"$WORK/bigk"
[ "$(jq length "$WORK/bigk")" = 3000 ] || fail "k=5000 did not return all 3000 vectors"
[ "$(cat "$WORK/bigk")" = "$(expected "$q")" ] || fail "k=5000 differs from vchunk query"
q='{"vector": '$v5', "k": 50, "threshold": 0.9}'
printf '%s' "$q" >"$WORK/q-threshold"
[ "$(ask "$WORK/q-threshold" | jq -c .results)" = "$(expected "$q")" ] || fail "threshold differs"

step "errors: wrong dimension and garbage -> EINVAL, oversized -> EFBIG, with messages"
timeout 60 $PY - "$M/query" <<'PYEOF' || fail "error protocol"
import errno, json, os, sys
path = sys.argv[1]

def attempt(data, want_errno, want_text):
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            os.write(fd, data)
            written = True
        except OSError as e:
            assert e.errno == want_errno, ("write", e)
            written = False
        if written:
            try:
                os.pread(fd, 65536, 0)
                raise AssertionError("read of a bad query succeeded: %r" % data[:40])
            except OSError as e:
                assert e.errno == want_errno, (e, want_errno)
        # the next read returns the error object with the message
        answer = json.loads(os.pread(fd, 65536, 0))
        err = answer["error"]
        assert err["errno"] == want_errno and err["code"] == errno.errorcode[want_errno], err
        assert want_text in err["message"], err
        print("   ", err["code"], err["message"][:90])
    finally:
        os.close(fd)

attempt(b"[1, 2, 3]", errno.EINVAL, "wrong dimension")
attempt(b"1 2 3 4", errno.EINVAL, "wrong dimension")
attempt(b"not a query at all", errno.EINVAL, "not a JSON array")
attempt(b'{"vector": [1, 2], "kk": 3}', errno.EINVAL, "bad query field")
attempt(b"[" + b"1e39," * 15 + b"1]", errno.EINVAL, "not a finite")
attempt(b"\x00\xff" * 20, errno.EINVAL, "")
attempt(b"\xff" * 64, errno.EINVAL, "not a finite")  # raw float32 (dim x 4 bytes): NaN
# 1 MiB is the limit for this dimension: one byte more fails at write time
fd = os.open(path, os.O_RDWR)
try:
    os.pwrite(fd, b" " * (1 << 20), 0)
    try:
        os.pwrite(fd, b"1", 1 << 20)
        raise AssertionError("oversized write succeeded")
    except OSError as e:
        assert e.errno == errno.EFBIG, e
    try:
        os.pread(fd, 4096, 0)
        raise AssertionError("read after an oversized write succeeded")
    except OSError as e:
        assert e.errno == errno.EFBIG, e
    err = json.loads(os.pread(fd, 4096, 0))["error"]
    assert err["code"] == "EFBIG", err
    print("   ", err["code"], err["message"])
    # a new query on the same file works again
    os.pwrite(fd, b"[" + b"0.5," * 15 + b"1]", 0)
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"[" + b"0.25," * 15 + b"1]", 0)
    assert json.loads(os.pread(fd, 1 << 20, 0))["results"], "no results after an error"
finally:
    os.close(fd)
PYEOF
[ "$(stat_json "$M" .queries.errors)" -ge 8 ] || fail "stats.json counts no query errors"

step "two concurrent clients, 20 queries each, never see each other's results"
sed -n '101,140p' "$DATA" | jq -c .vector >"$WORK/vectors40"
timeout 120 $PY - "$M/query" "$WORK/vectors40" "$WORK/concurrent" <<'PYEOF' || fail "concurrent clients"
import json, sys, threading
path, vectors = sys.argv[1], open(sys.argv[2]).read().split("\n")[:40]
answers = [None] * 40
barrier = threading.Barrier(2)

def client(first):
    with open(path, "r+b") as f:
        for i in range(first, 40, 2):
            f.seek(0)
            f.write(vectors[i].encode())
            f.flush()
            barrier.wait(timeout=30)  # both have written before either reads
            f.seek(0)
            answers[i] = json.loads(f.read())["results"]
            barrier.wait(timeout=30)

threads = [threading.Thread(target=client, args=(n,)) for n in (0, 1)]
for t in threads: t.start()
for t in threads: t.join()
with open(sys.argv[3], "w") as out:
    for a in answers:
        out.write(json.dumps(a, separators=(",", ":")) + "\n")
PYEOF
"$VCHUNK" query --key "$WORK/key" "$S" <"$WORK/vectors40" | jq -c .results >"$WORK/concurrent-cli"
[ "$(wc -l <"$WORK/concurrent-cli")" = 40 ] || fail "vchunk query gave no 40 answers"
# jq re-serialises both sides the same way
diff <(jq -c . "$WORK/concurrent") "$WORK/concurrent-cli" >/dev/null ||
	fail "a client saw results that are not its own query's"
for i in $(seq 1 40); do
	[ "$(sed -n "${i}p" "$WORK/concurrent" | jq -r '.[0].id')" = "doc-$((i + 99))" ] ||
		fail "query $i did not find its own vector first"
done

step "vectors/ID.json is the exported line; ids with / and % are percent-encoded"
"$VCHUNK" export --key "$WORK/key" "$S" "$WORK/export.jsonl" 2>/dev/null
for id in doc-0 doc-1234 doc-2999; do
	grep -F "{\"id\":\"$id\"," "$WORK/export.jsonl" >"$WORK/want-$id"
	cmp "$M/vectors/$id.json" "$WORK/want-$id" || fail "vectors/$id.json differs from the export"
done
[ -z "$(ls "$M/vectors")" ] || fail "vectors/ lists ids"
if cat "$M/vectors/no-such-id.json" 2>/dev/null; then fail "a missing id resolved"; fi
stat "$M/vectors/doc-7.json" >/dev/null || fail "stat vectors/doc-7.json"
printf '%s\n' '{"id": "a/b", "vector": [1, 0, 0, 0]}' '{"id": "50%", "vector": [0, 1, 0, 0]}' \
	'{"id": "x y", "vector": [0, 0, 1, 0], "metadata": {"k": "v"}}' >"$WORK/odd.jsonl"
"$VCHUNK" import --key "$WORK/key" "$WORK/odd.jsonl" "$WORK/odd" >/dev/null
mount_bg "$WORK/odd" "$WORK/mnt-odd" -o key_file="$WORK/key"
jq -e '.id == "a/b" and .vector == [1,0,0,0]' "$WORK/mnt-odd/vectors/a%2Fb.json" >/dev/null ||
	fail "vectors/a%2Fb.json"
jq -e '.id == "50%"' "$WORK/mnt-odd/vectors/50%25.json" >/dev/null || fail "vectors/50%25.json"
jq -e '.metadata.k == "v"' "$WORK/mnt-odd/vectors/x y.json" >/dev/null || fail "vectors/x y.json"
fusermount3 -u "$WORK/mnt-odd"

step "index/ holds the decrypted index objects, sizes from the manifest"
for path in $(jq -r '.objects[].path | select(startswith("index/"))' "$S/manifest.json"); do
	"$VCHUNK" cat --key "$WORK/key" "$S" "$path" >"$WORK/want-index"
	cmp "$M/$path" "$WORK/want-index" || fail "$path differs from vchunk cat"
	[ "$(stat -c %s "$M/$path")" = "$(jq ".objects[] | select(.path == \"$path\") | .plain_size" "$S/manifest.json")" ] ||
		fail "$path size is not plain_size"
	found_index=1
done
[ "${found_index:-0}" = 1 ] || fail "the session has no index objects to check"

step "stats.json counts queries and keeps the last query's stats"
[ "$(stat_json "$M" .queries.run)" -ge 50 ] || fail "queries.run $(stat_json "$M" .queries.run)"
[ "$(stat_json "$M" .queries.last.vectors_scored)" -gt 0 ] || fail "no last-query stats"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 10
echo "test_mount_query: all passed"
