#!/usr/bin/env bash
# Mount benchmark (tools/bench mount): time to mount, first read of a cold chunk, and
# sequential reads through two mounts of the same session, the default one (page cache,
# keep_cache) and one with -o direct_io, against `dd bs=1M` of plain files of the same sizes
# warm in the page cache of ext4 and of tmpfs; each file's reads are interleaved so load from
# other work falls on all of them alike. Rewrites the "Mount" section of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${VCHUNK_BENCH_BUILD:-$ROOT/build-bench}
WORK=${TMPDIR:-/tmp}/vchunk-bench-mount
COUNT=${VCHUNK_BENCH_COUNT:-100000}
DIM=${VCHUNK_BENCH_DIM:-384}
RUNS=${VCHUNK_BENCH_RUNS:-9}
DOC=${VCHUNK_BENCH_DOC:-$ROOT/docs/BENCHMARKS.md}
M=$WORK/mnt
MD=$WORK/mnt-direct
SHM=/dev/shm/vchunk-bench-mount.$$

[ "$(id -u)" -eq 0 ] || echo "mount: not root; mounting needs /dev/fuse access" >&2
[ -d "$BUILD" ] || meson setup "$BUILD" -Dbuildtype=release >/dev/null
meson compile -C "$BUILD" -j 2 src/cli/vchunk src/fs/vchunkfs >/dev/null
VCHUNK=$BUILD/src/cli/vchunk
VCHUNKFS=$BUILD/src/fs/vchunkfs
unmount() {
	local m
	for m in "$M" "$MD"; do
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m"
		fi
		for _ in $(seq 100); do
			mountpoint -q "$m" || break
			sleep 0.05
		done
	done
}
rm -rf "$WORK"
mkdir -p "$WORK/plain" "$M" "$MD"
trap 'unmount; rm -rf "$WORK" "$SHM"' EXIT

# dd_seconds FILE [BS]: seconds dd itself reports for reading FILE with BS requests (1M).
dd_seconds() {
	dd if="$1" of=/dev/null bs="${2:-1M}" 2>&1 | sed -n 's/.* copied, \([0-9.e+-]*\) s, .*/\1/p'
}
# read_all DIR: total seconds to read every chunk file in DIR, one dd each.
read_all() {
	local total=0 f
	for f in "$1"/chunk-*.cbor; do
		total=$(awk -v a="$total" -v b="$(dd_seconds "$f")" 'BEGIN {print a + b}')
	done
	echo "$total"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
now_ns() { date +%s%N; }
# folio_pages FILE: mean page-cache folio size of FILE in 4 KiB pages, from /proc/kpageflags
# (root only; "n/a" otherwise). Shows why the same bytes copy faster from one cache than another.
folio_pages() {
	/usr/bin/python3 - "$1" <<'PY' 2>/dev/null || echo n/a
import ctypes, mmap, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
# a private read-only mapping shows the page-cache folios themselves (no copy on read)
base = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
pages = (size + 4095) // 4096
for i in range(pages):
    ctypes.c_ubyte.from_address(base + i * 4096).value
tails = present = 0
with open("/proc/self/pagemap", "rb") as pm, open("/proc/kpageflags", "rb") as kf:
    for i in range(pages):
        pm.seek((base // 4096 + i) * 8)
        entry = struct.unpack("Q", pm.read(8))[0]
        if not entry >> 63:
            continue
        present += 1
        kf.seek((entry & ((1 << 55) - 1)) * 8)
        tails += (struct.unpack("Q", kf.read(8))[0] >> 16) & 1 # KPF_COMPOUND_TAIL
print("%.0f" % (present / (present - tails)) if present > tails else "n/a")
PY
}

echo "mount: generating $COUNT x $DIM clustered vectors (seed 7)"
gen_cmd="tools/gen-sample --count $COUNT --dim $DIM --clusters 100 --seed 7 data.fvecs"
/usr/bin/python3 tools/gen-sample --count "$COUNT" --dim "$DIM" --clusters 100 --seed 7 \
	"$WORK/data.fvecs"
"$VCHUNK" keygen "$WORK/key" >/dev/null
"$VCHUNK" import --key "$WORK/key" "$WORK/data.fvecs" "$WORK/session" >/dev/null
S=$WORK/session
chunks=$(ls "$S/chunks" | wc -l)
for f in "$S"/chunks/chunk-*.cbor; do
	name=$(basename "$f")
	"$VCHUNK" cat --key "$WORK/key" "$S" "chunks/$name" >"$WORK/plain/$name"
done
# the same files on tmpfs too: a page cache of small pages, like a FUSE file's
mkdir -p "$SHM"
cp "$WORK"/plain/chunk-*.cbor "$SHM/"
plain_bytes=$(cat "$WORK"/plain/chunk-*.cbor | wc -c)
plain_mb=$(awk -v b="$plain_bytes" 'BEGIN {printf "%.1f", b / 1e6}')
cache_mb=$((plain_bytes / 1048576 + 64))
OPTS="key_file=$WORK/key,cache_mb=$cache_mb"

echo "mount: mount time ($RUNS runs)"
mount_ms=()
for _ in $(seq "$RUNS"); do
	t0=$(now_ns)
	"$VCHUNKFS" -o "$OPTS" "$S" "$M"
	t1=$(now_ns)
	[ -s "$M/manifest.json" ] || { echo "mount: mount failed" >&2; exit 1; }
	mount_ms+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e6}')")
	unmount
done
mount_median=$(echo "${mount_ms[*]}" | median)
mount_min=$(echo "${mount_ms[*]}" | tr ' ' '\n' | sort -g | head -1)
echo "mount: ${mount_ms[*]} ms (median $mount_median)"

echo "mount: cold chunks (fetch, check, decrypt, serve)"
"$VCHUNKFS" -o "$OPTS" "$S" "$M"
cold_ms=()
for f in "$M"/chunks/chunk-*.cbor; do
	cold_ms+=("$(awk -v s="$(dd_seconds "$f")" 'BEGIN {printf "%.1f", s * 1000}')")
done
cold_median=$(echo "${cold_ms[*]}" | median)
chunk_mb=$(awk -v b="$plain_bytes" -v n="$chunks" 'BEGIN {printf "%.1f", b / n / 1e6}')
loads=$(jq .session.chunk_loads "$M/stats.json")

echo "mount: sequential reads, default and -o direct_io mounts vs plain files ($RUNS runs)"
"$VCHUNKFS" -o "$OPTS,direct_io" "$S" "$MD"
read_all "$MD/chunks" >/dev/null # load every chunk into the second daemon's cache
read_all "$WORK/plain" >/dev/null # warm the plain files
read_all "$SHM" >/dev/null
loads_direct=$(jq .session.chunk_loads "$MD/stats.json")
TIMES=$WORK/times
: >"$TIMES"
# time_reads RUN BS: every chunk once per kind, the kinds of one file back to back.
time_reads() {
	local run=$1 bs=$2 f name
	for f in "$M"/chunks/chunk-*.cbor; do
		name=$(basename "$f")
		dd if="$f" iflag=nocache count=0 status=none # drop this file's page cache
		echo "$bs $run $name first $(dd_seconds "$f" "$bs")" >>"$TIMES"
		echo "$bs $run $name reread $(dd_seconds "$f" "$bs")" >>"$TIMES"
		echo "$bs $run $name direct $(dd_seconds "$MD/chunks/$name" "$bs")" >>"$TIMES"
		echo "$bs $run $name direct2 $(dd_seconds "$MD/chunks/$name" "$bs")" >>"$TIMES"
		echo "$bs $run $name ext4 $(dd_seconds "$WORK/plain/$name" "$bs")" >>"$TIMES"
		echo "$bs $run $name tmpfs $(dd_seconds "$SHM/$name" "$bs")" >>"$TIMES"
	done
}
for run in $(seq "$RUNS"); do time_reads "$run" 1M; done
small_runs=$(((RUNS + 2) / 3))
for run in $(seq "$small_runs"); do time_reads "$run" 8k; done
[ "$(jq .session.chunk_loads "$M/stats.json")" = "$loads" ] &&
	[ "$(jq .session.chunk_loads "$MD/stats.json")" = "$loads_direct" ] ||
	echo "mount: warning: chunks were loaded again during the warm runs" >&2
folio_fuse=$(folio_pages "$M/chunks/chunk-0.cbor")
folio_ext4=$(folio_pages "$WORK/plain/chunk-0.cbor")
folio_tmpfs=$(folio_pages "$SHM/chunk-0.cbor")
unmount

# GB/s per request size and kind: median over runs of the total time, and best (the sum of
# each file's fastest read: what the machine does when nothing else runs in between).
eval "$(/usr/bin/python3 - "$TIMES" "$plain_bytes" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(lambda: collections.defaultdict(float))
files = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    bs, run, name, kind, sec = line.split()
    runs[(bs, kind)][run] += float(sec)
    files[(bs, kind)][name].append(float(sec))
total = int(sys.argv[2])
for (bs, kind), per_run in runs.items():
    med = statistics.median(per_run.values())
    best = sum(min(v) for v in files[(bs, kind)].values())
    var = "%s_%s" % (kind, bs.lower())
    print("%s_med=%.2f %s_best=%.2f" % (var, total / med / 1e9, var, total / best / 1e9))
PY
)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = dir == "ge" ? v >= t : v < t; print ok ? "met" : "NOT met" }'; }
# row LABEL KIND BS [TARGET]: GB/s median / best, and both as multiples of ext4 and tmpfs.
row() {
	local med best e_med e_best t_med t_best target=""
	eval "med=\$${2}_${3}_med best=\$${2}_${3}_best"
	eval "e_med=\$ext4_${3}_med e_best=\$ext4_${3}_best t_med=\$tmpfs_${3}_med t_best=\$tmpfs_${3}_best"
	if [ -n "${4:-}" ]; then
		target=" | ≥ ${4}x ext4 ($(verdict "$(ratio "$med" "$e_med")" "$4" ge))"
	else
		target=" | —"
	fi
	echo "| $1 | $med / $best | $(ratio "$med" "$e_med") / $(ratio "$best" "$e_best")x | $(ratio "$med" "$t_med") / $(ratio "$best" "$t_best")x$target |"
}
echo "mount: 1M: default first $first_1m_med, re-read $reread_1m_med; direct_io $direct_1m_med," \
	"ext4 $ext4_1m_med, tmpfs $tmpfs_1m_med GB/s (medians)"

load=$(cut -d' ' -f1-3 /proc/loadavg)
model=$(lscpu | sed -n 's/^Model name:\s*//p' | head -1)
cpus=$(nproc)
mem_gib=$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
kernel=$(uname -r)
fsname=$(findmnt -n -o FSTYPE -T "$WORK/plain")
max_read=$("$VCHUNKFS" --help 2>/dev/null | sed -n 's/.*largest read request (default \([0-9]*\)).*/\1/p')

section=$(
	cat <<MD
## Mount

Measured $(date -u +%Y-%m-%d) by \`tools/bench mount\` (tools/bench.d/mount.sh), release
build (\`meson setup build-bench -Dbuildtype=release\`).

Machine: $model, $cpus CPUs, $mem_gib GiB memory, Linux $kernel, libfuse $(pkg-config --modversion fuse3); load
average $load when the figures were taken (other work shares the machine).

Data: $COUNT x $DIM float32 vectors (\`$gen_cmd\`), imported encrypted with a key file and the
default chunk size: $chunks chunks of $chunk_mb MB plaintext, $plain_mb MB in all. Two mounts
of the session, each with a cache that holds every chunk: \`vchunkfs -o
key_file=key,cache_mb=$cache_mb session mnt\` (the default: chunk files in the kernel page
cache, \`keep_cache\`) and the same with \`-o direct_io\`; default max_read ($max_read bytes)
and 10 worker threads. Every figure is \`dd if=FILE of=/dev/null bs=1M\` (or \`bs=8k\`)
timed by dd, per chunk file, the six reads of one file back to back; "median" is the median
over $RUNS runs ($small_runs for 8 KiB) of the time for all files, "best" adds up each
file's fastest read (the machine with nothing else running in between).
The page cache of the same plain bytes is the baseline: on $fsname (the target's baseline;
its cached files here use folios of $folio_ext4 pages on average) and on tmpfs (folios of
$folio_tmpfs page, like the FUSE file's $folio_fuse). Folio sizes from /proc/kpageflags.

| figure | value | target |
|---|---|---|
| mount (command start to mounted and detached), median / min of $RUNS | $mount_median / $mount_min ms | < 50 ms ($(verdict "$mount_median" 50 lt)) |
| first read of a cold chunk (fetch, hash, decrypt, serve), median per chunk | $cold_median ms for $chunk_mb MB | — |

| read, 1 MiB requests unless said | GB/s, median / best | vs $fsname page cache | vs tmpfs page cache | target |
|---|---|---|---|---|
| page cache of plain files on $fsname, warm (baseline) | $ext4_1m_med / $ext4_1m_best | 1x | $(ratio "$ext4_1m_med" "$tmpfs_1m_med") / $(ratio "$ext4_1m_best" "$tmpfs_1m_best")x | baseline |
| page cache of plain files on tmpfs, warm | $tmpfs_1m_med / $tmpfs_1m_best | $(ratio "$tmpfs_1m_med" "$ext4_1m_med") / $(ratio "$tmpfs_1m_best" "$ext4_1m_best")x | 1x | — |
$(row "default mount, first read (chunk in the daemon's cache, page cache dropped with \`dd iflag=nocache\`)" first 1m 0.6)
$(row "default mount, re-read (kernel page cache, \`keep_cache\`)" reread 1m 0.9)
$(row "\`-o direct_io\`, first read (every read is a request to the daemon)" direct 1m 0.6)
$(row "\`-o direct_io\`, re-read (the same path again)" direct2 1m 0.9)
$(row "8 KiB requests: default mount, first read" first 8k)
$(row "8 KiB requests: default mount, re-read" reread 8k)
$(row "8 KiB requests: \`-o direct_io\`" direct 8k)

The 8 KiB rows compare with the baselines read with 8 KiB requests. What the rows mean (the
reasons are measured in docs/MOUNT.md, Performance): a first read through the default mount
fills the kernel page cache of the FUSE file through 128 KiB readahead requests into
single-page folios; allocating and inserting those pages alone costs the kernel more time
than an $fsname page-cache read of the whole file, so no daemon can bring it near the
target. A re-read never reaches the daemon: it is the kernel's page cache of a FUSE file,
single-page folios like tmpfs's, against $fsname's large folios. With \`-o direct_io\` each
read(2) is one request (up to max_read) answered by splicing the cached plaintext into the
kernel, which copies it once, straight into the reader's buffer; re-reads take the same path,
and small requests pay a round trip each (the 8 KiB rows), so it is an option for large
sequential reads, not the default.
MD
)

mkdir -p docs
if [ ! -f "$DOC" ]; then
	printf '# Benchmarks\n\nFigures measured on this project'"'"'s machine by `tools/bench`; each section says how.\n' >"$DOC"
fi
/usr/bin/python3 - "$DOC" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2].rstrip() + "\n"
text = open(path).read()
pattern = re.compile(r"^## Mount\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda m: section + "\n", text, count=1)
else:
    text = text.rstrip() + "\n\n" + section
open(path, "w").write(text.rstrip() + "\n")
PY
echo "mount: wrote the Mount section of docs/BENCHMARKS.md"
