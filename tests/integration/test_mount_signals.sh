#!/usr/bin/env bash
# SIGTERM and SIGINT unmount cleanly and the daemon exits 0; umount and fusermount3 -u end the
# daemon; afterwards the mount point is a plain directory again (never "Transport endpoint is
# not connected").
. "$(dirname "$0")/test_mount_common.sh"

S=$WORK/sess
M=$WORK/mnt
make_session "$S" 1000 16 400

step "SIGTERM to a foreground daemon: clean unmount, exit status 0"
mount_fg "$S" "$M" "$WORK/log" -o key_file="$WORK/key"
cat "$M/chunks/chunk-0.cbor" >/dev/null
kill -TERM "$DAEMON_PID"
rc=0
timeout 20 tail --pid="$DAEMON_PID" -f /dev/null || fail "the daemon ignored SIGTERM"
wait "$DAEMON_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
assert_clean_unmount "$M"

step "SIGINT to a detached daemon: clean unmount"
mount_bg "$S" "$M" -o key_file="$WORK/key"
cat "$M/chunks/chunk-1.cbor" >/dev/null
kill -INT "$DAEMON_PID"
wait_exit "$DAEMON_PID" 20
wait_unmounted "$M"
assert_clean_unmount "$M"

step "SIGTERM with a file open and a read in flight elsewhere: still a clean exit"
mount_fg "$S" "$M" "$WORK/log" -o key_file="$WORK/key"
exec 7<"$M/manifest.json"
kill -TERM "$DAEMON_PID"
timeout 20 tail --pid="$DAEMON_PID" -f /dev/null || fail "the daemon ignored SIGTERM"
exec 7<&-
wait_unmounted "$M"
assert_clean_unmount "$M"

step "umount and fusermount3 -u end the daemon"
mount_bg "$S" "$M" -o key_file="$WORK/key"
umount "$M"
wait_exit "$DAEMON_PID" 20
assert_clean_unmount "$M"
mount_bg "$S" "$M" -o key_file="$WORK/key"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 20
assert_clean_unmount "$M"

step "single-threaded (-s): reads work, SIGTERM still unmounts"
mount_fg "$S" "$M" "$WORK/log" -s -o key_file="$WORK/key"
cmp "$M/chunks/chunk-2.cbor" "$(expected_chunk "$S" 2)" || fail "chunk-2 with -s"
[ "$(stat_json "$M" .mount.max_threads)" = 1 ] || fail "-s not reported in stats.json"
kill -TERM "$DAEMON_PID"
timeout 20 tail --pid="$DAEMON_PID" -f /dev/null || fail "the -s daemon ignored SIGTERM"
wait_unmounted "$M"
assert_clean_unmount "$M"

step "core dumps are off in the daemon"
mount_bg "$S" "$M" -o key_file="$WORK/key"
[ "$(awk '/^Max core file size/ {print $5}' "/proc/$DAEMON_PID/limits")" = 0 ] ||
	fail "core file size limit is not 0"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 20
echo "test_mount_signals: all passed"
