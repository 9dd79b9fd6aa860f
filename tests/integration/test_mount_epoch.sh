#!/usr/bin/env bash
# manifest_ttl: a new epoch committed under a mounted session shows within the ttl; removed
# chunks disappear, new ones appear; a file opened before keeps reading its epoch; a rolled
# back manifest is refused and the mount keeps the newer epoch.
. "$(dirname "$0")/test_mount_common.sh"

: "${MOUNT_EPOCH:?set MOUNT_EPOCH to the built mount_epoch helper}"
S=$WORK/sess
M=$WORK/mnt
make_session "$S" 3000 32 500
cp "$S/manifest.json" "$WORK/epoch1.json"

# wait_for DESCRIPTION CMD...: until CMD succeeds, 10 s at most.
wait_for() {
	local what=$1 i
	shift
	for i in $(seq 100); do
		"$@" && return 0
		sleep 0.1
	done
	fail "not within 10 s: $what"
}
has_chunk() { ls "$M/chunks" | grep -qx "chunk-$1.cbor"; }
lacks_chunk() { ! has_chunk "$1"; }
at_epoch() { [ "$(stat_json "$M" .session.epoch)" = "$1" ]; }

mount_fg "$S" "$M" "$WORK/log" -o key_file="$WORK/key",manifest_ttl=1
has_chunk 2 || fail "chunk-2 missing at epoch 1"
ino=$(stat -c %i "$M/chunks/chunk-3.cbor")
expected2=$(expected_chunk "$S" 2)
exec 5<"$M/chunks/chunk-2.cbor"

step "epoch 2 drops chunk 2: it disappears; the file opened before still reads it"
"$MOUNT_EPOCH" "$S" "$WORK/key" drop 2
wait_for "epoch 2 served" at_epoch 2
wait_for "chunk-2 gone from the listing" lacks_chunk 2
cmp "$M/manifest.json" "$S/manifest.json" || fail "manifest.json is not the new epoch's"
cmp <(cat <&5) "$expected2" || fail "the open chunk-2 lost its epoch"
exec 5<&-
# once nobody holds it open, the name no longer resolves either
wait_for "chunk-2.cbor not found by name" test ! -e "$M/chunks/chunk-2.cbor"
[ "$(jq .session.vectors "$M/stats.json")" = 2500 ] || fail "vector count of epoch 2"

step "epoch 3 brings chunk 2 back"
"$MOUNT_EPOCH" "$S" "$WORK/key" republish "$WORK/epoch1.json"
wait_for "epoch 3 served" at_epoch 3
wait_for "chunk-2 back" has_chunk 2
cmp "$M/chunks/chunk-2.cbor" "$(expected_chunk "$S" 2)" || { cat $WORK/log; ls -la $M/chunks; fail "chunk-2 bytes at epoch 3"; }
[ "$(stat -c %i "$M/chunks/chunk-3.cbor")" = "$ino" ] || fail "chunk-3 changed inode"
[ "$(stat_json "$M" .mount.epoch_changes)" -ge 2 ] || fail "epoch changes not counted"

step "a rolled-back manifest (epoch 1 again) is refused; epoch 3 stays"
errors=$(stat_json "$M" .mount.manifest_check_errors)
cp "$WORK/epoch1.json" "$S/manifest.json"
more_check_errors() { [ "$(stat_json "$M" .mount.manifest_check_errors)" -gt "$errors" ]; }
wait_for "a refused check" more_check_errors
at_epoch 3 || fail "the mount went back to an older epoch"
grep -qi "epoch" "$WORK/log" || fail "no log line about the refused epoch"
kill -0 "$DAEMON_PID" || fail "daemon died"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 10
assert_clean_unmount "$M"
echo "test_mount_epoch: all passed"
