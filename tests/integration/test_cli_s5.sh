#!/usr/bin/env bash
# vchunk over the S5 bridge API, served by a real nginx on 127.0.0.1: round trip, storage sees
# only ciphertext, a server stopped mid-run gives a clear error (never a hang), and injected
# faults (VCHUNK_FAULT) end in correct output or a clear error, never a crash.
set -euo pipefail
source "$(dirname "$0")/test_cli_common.sh"
cd "$WORK"

start_nginx
echo "   nginx at $BASE"
$GEN --count 4000 --dim 48 --clusters 10 --seed 31 data.jsonl 2>/dev/null
"$VCHUNK" keygen key >/dev/null
S="s5+$BASE/tests/cli-session"

step "import → verify → export → compare through nginx (encrypted, 8 chunks)"
timeout 60 "$VCHUNK" import --key key --chunk-size 500 data.jsonl "$S" >/dev/null
objects=$(curl -sf "$BASE/s5/fs/tests/cli-session/manifest.json" |
	jq '1 + (.chunks | length) + (.objects | length)')
timeout 60 "$VCHUNK" verify --key key "$S" | grep -q "^OK: $objects objects verified$" ||
	fail "verify over s5 (expected $objects objects)"
timeout 60 "$VCHUNK" export --key key "$S" out.jsonl 2>/dev/null
same_vectors data.jsonl out.jsonl

step "the objects really are on the server, encrypted; the manifest is byte-identical to cat"
stored="$NGINX_DIR/data/tests/cli-session"
[ -f "$stored/manifest.json" ] && [ -f "$stored/chunks/chunk-7.cbor" ] || fail "objects not on the server"
if grep -rqa "doc-1\|science" "$stored/chunks" "$stored/metadata.cbor"; then
	fail "plaintext ids or metadata on the server"
fi
cmp <(timeout 60 "$VCHUNK" cat "$S" manifest.json) "$stored/manifest.json" || fail "cat manifest.json"
timeout 60 "$VCHUNK" inspect "$S" | grep -q "^vectors  *4000$" || fail "inspect over s5"

step "query over s5 equals the same query on a local copy"
"$VCHUNK" import --key key --chunk-size 500 data.jsonl local >/dev/null
q=$($PY -c "import json; print(json.dumps(json.loads(open('data.jsonl').readline())['vector']))")
timeout 60 "$VCHUNK" query --key key --exact -k 20 "$S" "$q" | jq -c '[.results[] | [.id, .score]]' >s5.ids
"$VCHUNK" query --key key --exact -k 20 local "$q" | jq -c '[.results[] | [.id, .score]]' >local.ids
cmp s5.ids local.ids || fail "s5 and local answers differ"
jq -e '.[0][0] == "doc-0"' s5.ids >/dev/null || fail "doc-0 not first for its own vector"

step "a tampered chunk on the server is named by verify"
cp "$stored/chunks/chunk-3.cbor" chunk3.bak
# flip bits of one byte (writing a fixed value would leave it unchanged 1 time in 256)
$PY -c "import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(2000); b = f.read(1); f.seek(2000); f.write(bytes([b[0] ^ 0x55]))" "$stored/chunks/chunk-3.cbor"
rc=0
timeout 60 "$VCHUNK" verify --key key "$S" >verify.out 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "verify of a tampered s5 session exited $rc"
grep -q "chunks/chunk-3\.cbor" verify.out || fail "verify did not name chunks/chunk-3.cbor"
cp chunk3.bak "$stored/chunks/chunk-3.cbor"

step "nginx stopped mid-import: exit 1 with a clear error within the timeout, no session left"
"$NGINX_SH" stop "$NGINX_DIR"
BASE=$("$NGINX_SH" start "$NGINX_DIR" $$)
rc=0
# 40 ms of injected latency per request keeps the import running while nginx goes away
(sleep 1; "$NGINX_SH" stop "$NGINX_DIR") &
stopper=$!
start=$(date +%s)
VCHUNK_FAULT=latency_ms=40 timeout 60 "$VCHUNK" import --key key --chunk-size 100 data.jsonl \
	"s5+$BASE/tests/interrupted" >/dev/null 2>import.err || rc=$?
wait "$stopper"
sed 's/^/   /' import.err
echo "   failed after $(($(date +%s) - start)) s"
[ "$rc" = 1 ] || fail "import with nginx stopped exited $rc (124 = hang)"
grep -Eqi "unavailable|connect|refused|timed out|failed" import.err || fail "unclear error"
[ ! -e "$NGINX_DIR/data/tests/interrupted/manifest.json" ] || fail "manifest written"

step "nginx down: verify, query and inspect fail fast and clearly"
down_check() {
	local rc=0
	timeout 60 "$VCHUNK" "$@" >/dev/null 2>down.err || rc=$?
	[ "$rc" = 1 ] || fail "'vchunk $1' with nginx down exited $rc"
	grep -q "^vchunk: " down.err || fail "'vchunk $1': no error message"
	printf '   %s: %s\n' "$1" "$(head -c 150 down.err)"
}
down_check verify --key key "$S"
down_check inspect "$S"
down_check query --key key "$S" "$q"
down_check export --key key "$S" down.jsonl
[ ! -e down.jsonl ] || fail "export with nginx down left a file"

step "nginx back on the same port: everything works again"
BASE2=$("$NGINX_SH" start "$NGINX_DIR" $$)
[ "$BASE2" = "$BASE" ] || fail "nginx came back on another port"
timeout 60 "$VCHUNK" verify --key key "$S" | grep -q "^OK" || fail "verify after restart"

step "VCHUNK_FAULT=error_rate=0.3 (injected HTTP 503s, retried): correct output or a clear error, never a crash"
# fault_queries RATE: ten seeded runs; sets ok and failed
fault_queries() {
	local seed rc
	ok=0
	failed=0
	for seed in 1 2 3 4 5 6 7 8 9 10; do
		rc=0
		VCHUNK_FAULT="error_rate=$1,seed=$seed" timeout 60 "$VCHUNK" query --key key --exact \
			-k 20 "$S" "$q" >fault.json 2>fault.err || rc=$?
		if [ "$rc" = 0 ]; then
			jq -c '[.results[] | [.id, .score]]' fault.json | cmp -s - s5.ids ||
				fail "rate $1 seed $seed: query succeeded with a wrong answer"
			ok=$((ok + 1))
		elif [ "$rc" = 1 ]; then
			grep -Eq "^vchunk: .*(injected|unavailable)" fault.err || {
				cat fault.err
				fail "rate $1 seed $seed: unclear error"
			}
			failed=$((failed + 1))
		else
			cat fault.err
			fail "rate $1 seed $seed: query exited $rc (crash or hang)"
		fi
	done
	echo "   query at error_rate=$1: $ok correct answers, $failed clear errors"
}
fault_queries 0.3
# Injected 503s go through the same retry loop as real ones (4 retries by default), so a
# try fails for good with probability 0.3^5: nearly every run must succeed.
[ "$ok" -ge 8 ] || fail "retries did not absorb 30% injected 503s ($ok of 10 succeeded)"
# a lower rate lets most runs through, so the answers given under faults are checked too
fault_queries 0.03
[ "$ok" -gt 0 ] || fail "no query succeeded at error_rate=0.03"
imported=0
for seed in 1 2 3 4 5; do
	rc=0
	dest="s5+$BASE/tests/faulty-$seed"
	VCHUNK_FAULT="error_rate=0.3,seed=$seed" timeout 60 "$VCHUNK" import --key key \
		--chunk-size 1000 data.jsonl "$dest" >/dev/null 2>fault.err || rc=$?
	if [ "$rc" = 0 ]; then
		timeout 60 "$VCHUNK" export --key key "$dest" "faulty-$seed.jsonl" 2>/dev/null
		same_vectors data.jsonl "faulty-$seed.jsonl"
		imported=$((imported + 1))
	elif [ "$rc" = 1 ]; then
		grep -Eq "^vchunk: .*(injected|unavailable)" fault.err || {
			cat fault.err
			fail "import seed $seed: unclear error"
		}
		[ ! -e "$NGINX_DIR/data/tests/faulty-$seed/manifest.json" ] ||
			fail "import seed $seed failed but left a manifest"
		echo "   import seed $seed: clear error: $(head -c 120 fault.err)"
	else
		cat fault.err
		fail "import seed $seed exited $rc"
	fi
done
[ "$imported" -ge 4 ] || fail "retries did not absorb 30% injected 503s during import ($imported of 5)"

echo "test_cli_s5: all passed"
