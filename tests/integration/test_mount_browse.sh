#!/usr/bin/env bash
# A real mount of a real encrypted session: mounting reads no chunk; ls, cat, jq, cmp work;
# chunks are byte-identical to `vchunk cat`; sizes, times, inodes and statfs are exact; the
# tree is read-only; fusermount3 -u unmounts cleanly.
. "$(dirname "$0")/test_mount_common.sh"

S=$WORK/sess
M=$WORK/mnt
make_session "$S" 5000 48 1200
chunks=$(jq '.chunks | length' "$S/manifest.json")
[ "$chunks" -eq 5 ] || fail "expected 5 chunks, manifest has $chunks"

step "mount as a daemon; mounting reads no chunk"
mount_bg "$S" "$M" -o key_file="$WORK/key"
kill -0 "$DAEMON_PID" || fail "daemon pid $DAEMON_PID from stats.json is not running"
[ "$(stat_json "$M" .session.chunk_loads)" = 0 ] || fail "mounting loaded a chunk"
[ "$(stat_json "$M" .cache.misses)" = 0 ] || fail "mounting missed the cache"
[ "$(stat_json "$M" .session.epoch)" = "$(jq .epoch "$S/manifest.json")" ] || fail "epoch"
grep -q "^dir:$S \|^$S " /proc/mounts || fail "fsname is not the session path"

step "ls lists the tree; stat needs no decryption"
# index/ is listed when the session stores index objects (an id index at least)
if jq -e '[.objects[]?.path | select(startswith("index/"))] | length > 0' "$S/manifest.json" \
	>/dev/null; then index="index "; else index=""; fi
[ "$(ls "$M" | tr '\n' ' ')" = \
	"chunks ${index}manifest.json metadata.json queries query stats.json vectors " ] ||
	fail "root listing: $(ls "$M")"
[ "$(ls "$M/chunks" | wc -l)" -eq "$chunks" ] || fail "chunks/ lists $(ls "$M/chunks" | wc -l)"
ls -la "$M/chunks" >/dev/null
for i in $(seq 0 $((chunks - 1))); do
	size=$(stat -c %s "$M/chunks/chunk-$i.cbor")
	want=$(jq ".chunks[] | select(.chunk_id == $i) | .plain_size" "$S/manifest.json")
	[ "$size" = "$want" ] || fail "chunk-$i size $size, manifest plain_size $want"
done
for name in chunk-01.cbor chunk-99.cbor chunk-1.cbor.x chunk-.cbor chunk--1.cbor x; do
	[ ! -e "$M/chunks/$name" ] || fail "chunks/$name resolves"
done
[ ! -e "$M/manifest.json/x" ] || fail "a file resolves as a directory"
[ "$(stat_json "$M" .session.chunk_loads)" = 0 ] || fail "stat or ls loaded a chunk"

step "manifest.json is the stored bytes; metadata.json and stats.json are JSON"
cmp "$M/manifest.json" "$S/manifest.json" || fail "manifest.json differs from the stored one"
[ "$(stat -c %s "$M/manifest.json")" = "$(stat -c %s "$S/manifest.json")" ] || fail "size"
jq -e .chunks "$M/manifest.json" >/dev/null || fail "jq cannot read manifest.json"
jq -e . "$M/metadata.json" >/dev/null || fail "metadata.json is not JSON"
[ "$(stat -c %s "$M/metadata.json")" = "$(wc -c <"$M/metadata.json")" ] ||
	fail "metadata.json size in stat differs from its content"
[ "$(jq .dim "$M/metadata.json")" = 48 ] || fail "metadata.json dim"
jq -e '.session and .cache and .backend and .mount' "$M/stats.json" >/dev/null ||
	fail "stats.json lacks a section"

step "chunks are byte-identical to vchunk cat"
for i in $(seq 0 $((chunks - 1))); do
	cmp "$M/chunks/chunk-$i.cbor" "$(expected_chunk "$S" "$i")" ||
		fail "chunk-$i differs from vchunk cat"
done
[ "$(stat_json "$M" .session.chunk_loads)" = "$chunks" ] ||
	fail "expected $chunks chunk loads, stats say $(stat_json "$M" .session.chunk_loads)"
[ "$(stat_json "$M" .mount.bytes_served)" -gt 0 ] || fail "stats.json counts no bytes served"
# a range in the middle, through dd: offsets are honoured
dd if="$M/chunks/chunk-2.cbor" bs=1000 skip=7 count=3 status=none >"$WORK/part"
dd if="$(expected_chunk "$S" 2)" bs=1000 skip=7 count=3 status=none | cmp - "$WORK/part" ||
	fail "a ranged read differs"

step "times, inodes, statfs"
committed=$(jq -r .committed_at "$S/manifest.json")
if [[ "$committed" =~ ^[0-9]+$ ]]; then want_time=$committed; else want_time=$(date -d "$committed" +%s); fi
[ "$(stat -c %Y "$M/chunks/chunk-0.cbor")" = "$want_time" ] || fail "mtime is not committed_at"
ino1=$(stat -c %i "$M/chunks/chunk-3.cbor")
ino2=$(stat -c %i "$M/chunks/chunk-3.cbor")
[ "$ino1" = "$ino2" ] && [ "$ino1" != "$(stat -c %i "$M/chunks/chunk-4.cbor")" ] ||
	fail "inode numbers are not stable and distinct"
stored=$(find "$S" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
objects=$(find "$S" -type f | wc -l)
[ "$(stat -f -c %b "$M")" = $(((stored + 4095) / 4096)) ] ||
	fail "statfs blocks $(stat -f -c %b "$M"), stored bytes $stored"
[ "$(stat -f -c %S "$M")" = 4096 ] || fail "statfs block size"
[ "$(stat -f -c %c "$M")" = "$objects" ] || fail "statfs files $(stat -f -c %c "$M") != $objects"

step "read-only"
for attempt in "echo x >'$M/manifest.json'" "touch '$M/new'" "mkdir '$M/d'" \
	"rm -f '$M/chunks/chunk-0.cbor'" "echo x >>'$M/chunks/chunk-1.cbor'"; do
	if err=$(eval "$attempt" 2>&1); then fail "write succeeded: $attempt"; fi
	echo "$err" | grep -q "Read-only file system" || fail "$attempt: $err"
done
/usr/bin/python3 - "$M/chunks/chunk-0.cbor" <<'EOF' || fail "O_WRONLY open was not refused"
import errno, os, sys
try:
    os.open(sys.argv[1], os.O_WRONLY)
except OSError as e:
    sys.exit(0 if e.errno in (errno.EROFS, errno.EACCES) else 1)
sys.exit(1)
EOF
cmp "$M/chunks/chunk-0.cbor" "$(expected_chunk "$S" 0)" || fail "chunk-0 changed"

step "fusermount3 -u unmounts and the daemon exits"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 10
assert_clean_unmount "$M"
echo "test_mount_browse: all passed"
