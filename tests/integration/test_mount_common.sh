#!/usr/bin/env bash
# Helpers shared by the vchunkfs mount tests (sourced by test_mount_*.sh, not a test itself):
# scratch space, sessions made with the real `vchunk`, mounting and always unmounting.
set -euo pipefail

: "${VCHUNKFS:?set VCHUNKFS to the built vchunkfs binary}"
: "${VCHUNK:?set VCHUNK to the built vchunk binary}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NGINX_SH=${VCHUNK_TEST_NGINX:-$ROOT/tests/integration/nginx.sh}
GEN="/usr/bin/python3 $ROOT/tools/gen-sample"
# the tests choose keys and config explicitly; no user or system config file may leak in
unset VCHUNK_KEY_FILE VCHUNK_PASSPHRASE VCHUNK_FAULT

[ -c /dev/fuse ] || {
	echo "FAIL: /dev/fuse is missing" >&2
	exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vchunkfs-test.XXXXXX")
export XDG_CONFIG_HOME=$WORK/xdg
MOUNTS=()
DAEMONS=()
CLEANUP=()

cleanup() {
	local status=$? m p c log
	for m in "${MOUNTS[@]+"${MOUNTS[@]}"}"; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		fi
	done
	for p in "${DAEMONS[@]+"${DAEMONS[@]}"}"; do
		kill "$p" 2>/dev/null || true
	done
	for c in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do
		eval "$c" || true
	done
	# a sanitizer report in a foreground daemon's log fails the test
	for log in "$WORK"/*log*; do
		[ -f "$log" ] || continue
		if grep -Eq "Sanitizer|runtime error:" "$log"; then
			echo "FAIL: sanitizer report in the daemon log $log:" >&2
			cat "$log" >&2
			status=1
		fi
	done
	rm -rf "$WORK"
	exit "$status"
}
trap cleanup EXIT

step() { printf '== %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# make_session DIR COUNT DIM CHUNK [FORMAT]: a session of COUNT clustered DIM-d vectors in
# chunks of CHUNK, encrypted with $WORK/key (made on first use).
make_session() {
	local dir=$1 count=$2 dim=$3 chunk=$4 format=${5:-jsonl}
	[ -f "$WORK/key" ] || "$VCHUNK" keygen "$WORK/key" >/dev/null
	$GEN --count "$count" --dim "$dim" "$WORK/data-$count-$dim.$format" >/dev/null
	"$VCHUNK" import --key "$WORK/key" --chunk-size "$chunk" \
		"$WORK/data-$count-$dim.$format" "$dir" >/dev/null
}

# wait_mounted MNT PID: until MNT is a vchunkfs mount (10 s at most); fails if PID died.
wait_mounted() {
	local mnt=$1 pid=${2:-} i
	for i in $(seq 100); do
		if findmnt -n -t fuse.vchunkfs "$mnt" >/dev/null 2>&1; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			fail "vchunkfs exited before mounting $mnt"
		fi
		sleep 0.1
	done
	fail "$mnt was not mounted within 10 s"
}

# wait_unmounted MNT: until MNT is no mount point any more (10 s at most).
wait_unmounted() {
	local i
	for i in $(seq 100); do
		mountpoint -q "$1" || return 0
		sleep 0.1
	done
	fail "$1 is still mounted after 10 s"
}

# mount_fg SESSION MNT LOG [vchunkfs args...]: run vchunkfs in the foreground (in the
# background of this shell), stderr to LOG; sets DAEMON_PID.
mount_fg() {
	local session=$1 mnt=$2 log=$3
	shift 3
	mkdir -p "$mnt"
	MOUNTS+=("$mnt")
	"$VCHUNKFS" -f "$@" "$session" "$mnt" 2>"$log" &
	DAEMON_PID=$!
	DAEMONS+=("$DAEMON_PID")
	wait_mounted "$mnt" "$DAEMON_PID"
}

# mount_bg SESSION MNT [vchunkfs args...]: mount as a daemon (vchunkfs returns once mounted);
# sets DAEMON_PID from stats.json.
mount_bg() {
	local session=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	MOUNTS+=("$mnt")
	timeout 30 "$VCHUNKFS" "$@" "$session" "$mnt" || fail "vchunkfs $* $session $mnt failed"
	wait_mounted "$mnt"
	DAEMON_PID=$(jq -r .mount.pid "$mnt/stats.json")
	DAEMONS+=("$DAEMON_PID")
}

# assert_clean_unmount MNT: not mounted, and the directory is usable (no "Transport endpoint
# is not connected").
assert_clean_unmount() {
	local err
	mountpoint -q "$1" && fail "$1 is still mounted"
	err=$(ls -la "$1" 2>&1 >/dev/null) || fail "ls $1 after unmount: $err"
	[ -z "$err" ] || fail "ls $1 after unmount printed: $err"
	if grep -q " $1 " /proc/mounts; then fail "$1 still in /proc/mounts"; fi
}

# wait_exit PID SECONDS: until PID is gone; fails if it is still there after SECONDS.
wait_exit() {
	local i
	for i in $(seq $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	fail "process $1 still running after $2 s"
}

# stat_json MNT JQ: one value from the mount's live stats.json.
stat_json() {
	jq -r "$2" "$1/stats.json"
}

# expected_chunk SESSION N: the decrypted chunk as `vchunk cat` prints it, into a file; echo path.
expected_chunk() {
	local out="$WORK/expected-$(basename "$1")-$2.cbor"
	[ -f "$out" ] || "$VCHUNK" cat --key "$WORK/key" "$1" "chunks/chunk-$2.cbor" >"$out"
	echo "$out"
}
