#!/usr/bin/env bash
# vchunkfs as mount(8) runs it: `mount -t fuse.vchunkfs SESSION DIR -o ...` and an fstab line
# (a temporary fstab given with --fstab; /etc/fstab is not touched). mount.fuse3 finds
# `vchunkfs` on PATH: a symlink to the built binary in /usr/local/sbin, removed at exit.
. "$(dirname "$0")/test_mount_common.sh"

S=$WORK/sess
M=$WORK/mnt
make_session "$S" 1000 16 400
mkdir -p "$M"
MOUNTS+=("$M")
# mount(8) gives its helpers a fixed PATH, so the symlink goes where that PATH looks first;
# an existing vchunkfs there is left alone and the test stops.
LINK=/usr/local/sbin/vchunkfs
[ ! -e "$LINK" ] && [ ! -L "$LINK" ] || fail "$LINK exists; remove it to run this test"
mkdir -p /usr/local/sbin
ln -s "$(readlink -f "$VCHUNKFS")" "$LINK"
CLEANUP+=("rm -f '$LINK'")

# mounted_ok: the mount serves the session and names it; records the daemon for cleanup.
mounted_ok() {
	wait_mounted "$M"
	findmnt -n -o FSTYPE "$M" | grep -qx fuse.vchunkfs || fail "type is not fuse.vchunkfs"
	# not the kernel's ro flag (the query files take writes); the daemon refuses the rest
	if echo x 2>/dev/null >"$M/manifest.json"; then fail "manifest.json took a write"; fi
	cmp "$M/chunks/chunk-1.cbor" "$(expected_chunk "$S" 1)" || fail "chunk-1 differs"
	DAEMON_PID=$(stat_json "$M" .mount.pid)
	DAEMONS+=("$DAEMON_PID")
}

step "mount -t fuse.vchunkfs"
timeout 30 mount -t fuse.vchunkfs "$S" "$M" -o "key_file=$WORK/key,cache_mb=16,manifest_ttl=7"
mounted_ok
[ "$(stat_json "$M" .cache.bytes_budget)" = $((16 * 1024 * 1024)) ] || fail "cache_mb not passed"
[ "$(stat_json "$M" .mount.manifest_ttl_s)" = 7 ] || fail "manifest_ttl not passed"
timeout 30 umount "$M"
wait_exit "$DAEMON_PID" 20
assert_clean_unmount "$M"

step "an fstab line, mounted with mount --fstab"
printf '%s %s fuse.vchunkfs noauto,key_file=%s,cache_mb=8,timeout=5 0 0\n' \
	"$S" "$M" "$WORK/key" >"$WORK/fstab"
timeout 30 mount --fstab "$WORK/fstab" "$M"
mounted_ok
[ "$(stat_json "$M" .cache.bytes_budget)" = $((8 * 1024 * 1024)) ] || fail "cache_mb not passed"
[ "$(stat_json "$M" .backend.timeout_ms)" = 5000 ] || fail "timeout not passed"
timeout 30 umount "$M"
wait_exit "$DAEMON_PID" 20
assert_clean_unmount "$M"

step "a config file named with config=, the command line overriding it"
printf '[vchunkfs]\nkey_file = %s\ncache_mb = 4\nretries = 2\n' "$WORK/key" >"$WORK/conf.ini"
timeout 30 mount -t fuse.vchunkfs "$S" "$M" -o "config=$WORK/conf.ini,cache_mb=6"
mounted_ok
[ "$(stat_json "$M" .cache.bytes_budget)" = $((6 * 1024 * 1024)) ] || fail "command line lost"
timeout 30 umount "$M"
wait_exit "$DAEMON_PID" 20

step "the user config file ($XDG_CONFIG_HOME/vchunkfs/config.ini) is read"
mkdir -p "$XDG_CONFIG_HOME/vchunkfs"
printf 'key_file = %s\ncache_mb = 3\n' "$WORK/key" >"$XDG_CONFIG_HOME/vchunkfs/config.ini"
timeout 30 "$VCHUNKFS" "$S" "$M"
mounted_ok
[ "$(stat_json "$M" .cache.bytes_budget)" = $((3 * 1024 * 1024)) ] || fail "user config lost"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 20
assert_clean_unmount "$M"
step "allow_other: another user reads only when it is given"
chmod 755 "$WORK" # the scratch directory is private; the other user must reach the mount
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
timeout 30 "$VCHUNKFS" -o key_file="$WORK/key" "$S" "$M"
mounted_ok
as_nobody cat "$M/manifest.json" >/dev/null 2>&1 && fail "another user read without allow_other"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 20
timeout 30 "$VCHUNKFS" -o key_file="$WORK/key",allow_other "$S" "$M"
mounted_ok
as_nobody cmp "$M/chunks/chunk-1.cbor" "$(expected_chunk "$S" 1)" ||
	fail "another user cannot read with allow_other"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 20
assert_clean_unmount "$M"
echo "test_mount_helper: all passed"
