#!/usr/bin/env bash
# The chunk read path in both modes: every byte right at any offset and size (odd sizes,
# larger than max_read, past the end); by default re-reads come from the kernel page cache
# and never reach the daemon; with -o direct_io every read reaches it and replies are spliced
# from the cache, also while a tiny cache evicts the chunks being read; private mmap works.
. "$(dirname "$0")/test_mount_common.sh"

S=$WORK/sess
make_session "$S" 12000 64 5000
chunks=$(jq '.chunks | length' "$S/manifest.json")
[ "$chunks" -eq 3 ] || fail "expected 3 chunks, manifest has $chunks"
for i in 0 1 2; do expected_chunk "$S" "$i" >/dev/null; done

# check_reads MNT: random preads (seeded) of every chunk against `vchunk cat`, sizes from
# 1 byte to 3 MiB (six times max_read), offsets anywhere including at and past the end.
check_reads() {
	/usr/bin/python3 - "$1" "$WORK" <<'PY'
import os, random, sys
mnt, work = sys.argv[1], sys.argv[2]
rng = random.Random(7)
for i in range(3):
    want = open(f"{work}/expected-sess-{i}.cbor", "rb").read()
    fd = os.open(f"{mnt}/chunks/chunk-{i}.cbor", os.O_RDONLY)
    cases = [(0, len(want) + 1), (len(want), 10), (len(want) + 4096, 10), (len(want) - 1, 4096)]
    for _ in range(60):
        size = rng.choice([1, 100, 4095, 4096, 65537, 524288, 524289, 3 << 20])
        cases.append((rng.randrange(0, len(want) + 100), size))
    for off, size in cases:
        got = os.pread(fd, size, off)
        if got != want[off:off + size]:
            sys.exit(f"chunk-{i}: pread({size}, {off}) returned {len(got)} bytes that differ")
    os.close(fd)
PY
}

step "default mount: reads match vchunk cat at any offset and size"
M=$WORK/mnt
mount_bg "$S" "$M" -o key_file="$WORK/key"
check_reads "$M" || fail "a read through the default mount differs"
for i in 0 1 2; do
	dd if="$M/chunks/chunk-$i.cbor" bs=4k status=none | cmp - "$(expected_chunk "$S" "$i")" ||
		fail "chunk-$i read with 4 KiB requests differs"
done

step "default mount: re-reads come from the page cache, not the daemon"
cat "$M/chunks/chunk-1.cbor" >/dev/null
# reading stats.json is itself counted: measure what one look costs, then look again
r1=$(stat_json "$M" .mount.reads)
r2=$(stat_json "$M" .mount.reads)
for _ in 1 2 3; do
	cmp "$M/chunks/chunk-1.cbor" "$(expected_chunk "$S" 1)" || fail "re-read differs"
done
r3=$(stat_json "$M" .mount.reads)
[ $((r3 - r2)) -eq $((r2 - r1)) ] ||
	fail "re-reads reached the daemon: $((r3 - r2 - (r2 - r1))) read requests"
fusermount3 -u "$M"
wait_unmounted "$M"

step "-o direct_io: reads match, every read reaches the daemon, sanitizer-clean log"
D=$WORK/mnt-direct
mount_fg "$S" "$D" "$WORK/direct-log" -o key_file="$WORK/key",direct_io
check_reads "$D" || fail "a read through the direct_io mount differs"
size=$(stat -c %s "$D/chunks/chunk-2.cbor")
b1=$(stat_json "$D" .mount.bytes_served)
b2=$(stat_json "$D" .mount.bytes_served) # b2 - b1: one look at stats.json (~1 KiB)
for _ in 1 2; do
	dd if="$D/chunks/chunk-2.cbor" bs=1M status=none | cmp - "$(expected_chunk "$S" 2)" ||
		fail "direct_io read of chunk-2 with 1 MiB requests differs"
done
b3=$(stat_json "$D" .mount.bytes_served)
served=$((b3 - b2 - (b2 - b1)))
[ "$served" -ge $((2 * size)) ] && [ "$served" -le $((2 * size + 64)) ] ||
	fail "two direct_io reads of $size bytes served $served bytes"

step "-o direct_io: private mmap reads the chunk"
/usr/bin/python3 - "$D/chunks/chunk-0.cbor" "$(expected_chunk "$S" 0)" <<'PY' ||
import mmap, sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "rb") as w:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    sys.exit(0 if m[:] == w.read() else "mmap bytes differ")
PY
	fail "private mmap of a direct_io chunk"
fusermount3 -u "$D"
wait_exit "$DAEMON_PID" 10

step "-o direct_io with a cache smaller than a chunk: concurrent readers, evictions"
E=$WORK/mnt-evict
mount_fg "$S" "$E" "$WORK/evict-log" -o key_file="$WORK/key",direct_io,cache_mb=1,max_threads=4
pids=()
for r in $(seq 6); do
	i=$((r % 3))
	(for _ in 1 2 3; do
		dd if="$E/chunks/chunk-$i.cbor" bs=256k status=none |
			cmp - "$(expected_chunk "$S" "$i")" || exit 1
	done) &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a concurrent direct_io reader saw wrong bytes"
done
[ "$(stat_json "$E" .session.chunk_loads)" -gt 3 ] ||
	fail "the 1 MiB cache evicted nothing (chunk loads $(stat_json "$E" .session.chunk_loads))"
fusermount3 -u "$E"
wait_exit "$DAEMON_PID" 10
echo "PASS"
