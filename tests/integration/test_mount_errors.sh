#!/usr/bin/env bash
# Failures: a tampered chunk gives EIO on that file only, with a log line naming it, and the
# daemon lives on; a wrong key, no key, a missing session or a dead backend fail on the
# terminal with a clear message and leave no mount behind; passphrase sessions mount.
. "$(dirname "$0")/test_mount_common.sh"

S=$WORK/sess
M=$WORK/mnt
make_session "$S" 3000 32 1000

step "tampered chunk: EIO on it, a log line naming it, the others still readable"
# flip one byte in the middle of the stored (encrypted) chunk-1
size=$(stat -c %s "$S/chunks/chunk-1.cbor")
/usr/bin/python3 - "$S/chunks/chunk-1.cbor" "$((size / 2))" <<'EOF'
import sys
path, at = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(at)
    b = f.read(1)
    f.seek(at)
    f.write(bytes([b[0] ^ 0x40]))
EOF
mount_fg "$S" "$M" "$WORK/log" -o key_file="$WORK/key"
if err=$(timeout 20 cat "$M/chunks/chunk-1.cbor" 2>&1 >/dev/null); then
	fail "reading the tampered chunk succeeded"
fi
echo "$err" | grep -q "Input/output error" || fail "tampered chunk: $err"
grep -q "chunks/chunk-1.cbor" "$WORK/log" || {
	cat "$WORK/log" >&2
	fail "no log line names chunks/chunk-1.cbor"
}
for i in 0 2; do
	timeout 20 cmp "$M/chunks/chunk-$i.cbor" "$(expected_chunk "$S" "$i")" ||
		fail "chunk-$i unreadable next to a tampered chunk"
done
kill -0 "$DAEMON_PID" || fail "the daemon died"
[ "$(stat_json "$M" .mount.errors)" -ge 1 ] || fail "stats.json counts no error"
# a second try fails the same way (a failed load is not cached as good)
timeout 20 cat "$M/chunks/chunk-1.cbor" >/dev/null 2>&1 && fail "second read succeeded"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 10
assert_clean_unmount "$M"

# expect_mount_failure PATTERN ARGS...: vchunkfs ARGS fails within 30 s, says PATTERN on
# stderr, and leaves $M unmounted with no daemon running.
expect_mount_failure() {
	local pattern=$1 rc=0
	shift
	timeout 30 "$VCHUNKFS" "$@" 2>"$WORK/err" >/dev/null || rc=$?
	[ "$rc" -ne 0 ] || fail "vchunkfs $* succeeded"
	[ "$rc" -ne 124 ] || fail "vchunkfs $* hung"
	grep -Eqi -- "$pattern" "$WORK/err" || {
		cat "$WORK/err" >&2
		fail "vchunkfs $*: message lacks /$pattern/"
	}
	echo "   $(head -n1 "$WORK/err")"
	mountpoint -q "$M" && fail "a mount was left behind by: vchunkfs $*"
	assert_clean_unmount "$M"
}

step "wrong key, no key, missing session, dead backend: clear errors, no mount"
"$VCHUNK" keygen "$WORK/other-key" >/dev/null
expect_mount_failure "wrong key|authenticat" -o key_file="$WORK/other-key" "$S" "$M"
expect_mount_failure "key" "$S" "$M"
expect_mount_failure "not found|no session|No such" -o key_file="$WORK/key" "$WORK/nothing" "$M"
expect_mount_failure "key file|No such" -o key_file="$WORK/missing-key" "$S" "$M"
expect_mount_failure "unavailable|connect|timed out|refused" \
	-o key_file="$WORK/key",timeout=2,retries=0 "s5+http://127.0.0.1:9/none" "$M"
expect_mount_failure "cache_mb" -o cache_mb=lots "$S" "$M"
expect_mount_failure "MOUNTPOINT" "$S"
expect_mount_failure "mount point" -o key_file="$WORK/key" "$S" "$WORK/no-such-dir"

step "passphrase sessions: VCHUNK_PASSPHRASE and passphrase_fd"
$GEN --count 500 --dim 16 "$WORK/small.jsonl" >/dev/null
VCHUNK_PASSPHRASE="correct horse" "$VCHUNK" import --passphrase --chunk-size 200 \
	"$WORK/small.jsonl" "$WORK/pass" >/dev/null
VCHUNK_PASSPHRASE="correct horse" "$VCHUNK" cat --passphrase "$WORK/pass" \
	chunks/chunk-0.cbor >"$WORK/pass-0"
VCHUNK_PASSPHRASE="correct horse" mount_bg "$WORK/pass" "$M"
cmp "$M/chunks/chunk-0.cbor" "$WORK/pass-0" || fail "passphrase mount reads wrong bytes"
grep -q "correct horse" "/proc/$DAEMON_PID/environ" &&
	fail "the daemon keeps the passphrase in its environment"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 10
printf 'correct horse\n' >"$WORK/pass.txt"
mount_bg "$WORK/pass" "$M" -o passphrase_fd=3 3<"$WORK/pass.txt"
cmp "$M/chunks/chunk-0.cbor" "$WORK/pass-0" || fail "passphrase_fd mount reads wrong bytes"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 10
printf 'wrong horse\n' >"$WORK/bad.txt"
expect_mount_failure "wrong|authenticat" -o passphrase_fd=3 "$WORK/pass" "$M" 3<"$WORK/bad.txt"
echo "test_mount_errors: all passed"
