#!/usr/bin/env bash
# Write benchmark (tools/bench write): `vchunk add` throughput for batches of 1K and 10K vectors
# into a 100K x 384 session, latency of small commits (add of 10 vectors, delete of 1 id),
# compaction of a 100K session (90K imported + 10K added, 1K deleted), and the recall test of
# tests/integration/test_write_recall.sh; rewrites the "Write" section of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=$ROOT/build-bench
WORK=${TMPDIR:-/tmp}/vchunk-bench-write
COUNT=${VCHUNK_BENCH_COUNT:-100000}
DIM=${VCHUNK_BENCH_DIM:-384}
SMALL=${VCHUNK_BENCH_SMALL_COMMITS:-100}
DOC=$ROOT/docs/BENCHMARKS.md
PY=/usr/bin/python3

[ -d "$BUILD" ] || meson setup "$BUILD" -Dbuildtype=release >/dev/null
meson compile -C "$BUILD" -j 2 src/cli/vchunk >/dev/null
VCHUNK=$BUILD/src/cli/vchunk
"$VCHUNK" --help | grep -q "^  add " || {
	echo "write: $VCHUNK has no 'add' command (the write path is missing)" >&2
	exit 1
}
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# Base rows and add batches from one mixture of 100 clusters (seed 11): base.fvecs (ids are
# row numbers), batch-1k-N.jsonl, batch-10k-N.jsonl, small-N.jsonl (10 rows), ids unique.
echo "write: generating $COUNT x $DIM base vectors and the add batches"
$PY - "$COUNT" "$DIM" "$SMALL" <<'PYEOF'
import sys
import numpy as np
count, dim, small = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(11)
centres = rng.normal(0.0, 1.0, size=(100, dim)).astype(np.float32)
def draw(n):
    return (centres[rng.integers(0, 100, size=n)]
            + rng.normal(0.0, 0.35, size=(n, dim))).astype(np.float32)
def fvecs(path, rows):
    out = np.empty((rows.shape[0], dim + 1), dtype=np.int32)
    out[:, 0] = dim
    out[:, 1:] = rows.view(np.int32)
    out.tofile(path)
def jsonl(path, prefix, rows):
    with open(path, "w") as f:
        for i, r in enumerate(rows):
            f.write('{"id": "%s-%d", "vector": [%s]}\n'
                    % (prefix, i, ",".join("%.9g" % x for x in r.tolist())))
fvecs("base.fvecs", draw(count))
fvecs("base90.fvecs", draw(count * 9 // 10))
for n in range(5):
    jsonl("batch-1k-%d.jsonl" % n, "b1k%d" % n, draw(1000))
for n in range(3):
    jsonl("batch-10k-%d.jsonl" % n, "b10k%d" % n, draw(10000))
jsonl("add-10k.jsonl", "c", draw(count // 10))
for n in range(2 * small):
    jsonl("small-%d.jsonl" % n, "s%d" % n, draw(10))
PYEOF
"$VCHUNK" keygen key >/dev/null

# timed OUTFILE CMD...: run CMD, append its wall time in ms to OUTFILE.
timed() {
	local out=$1 t0
	shift
	t0=$(date +%s%N)
	"$@" >/dev/null
	echo $((($(date +%s%N) - t0) / 1000000)) >>"$out"
}
# stats FILE: "median p99 min max" of the ms values in FILE.
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		p99 = int(NR * 0.99 + 0.999); if (p99 > NR) p99 = NR
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		print m, v[p99], v[1], v[NR] }'
}

echo "write: import of the $COUNT x $DIM base session"
timed import.ms "$VCHUNK" import --key key base.fvecs session
echo "write: 5 adds of 1,000 and 3 adds of 10,000 vectors"
for n in 0 1 2 3 4; do timed add1k.ms "$VCHUNK" add --key key session "batch-1k-$n.jsonl"; done
for n in 0 1 2; do timed add10k.ms "$VCHUNK" add --key key session "batch-10k-$n.jsonl"; done
# small_commits FROM TAG: SMALL adds of 10 vectors (files FROM..), then SMALL deletes of one id
small_commits() {
	local n
	for n in $(seq "$1" $(($1 + SMALL - 1))); do
		timed "small-$2.ms" "$VCHUNK" add --key key session "small-$n.jsonl"
	done
	for n in $(seq "$1" $(($1 + SMALL - 1))); do
		timed "del-$2.ms" "$VCHUNK" delete --key key session "$n"
	done
}
echo "write: $SMALL small commits (add of 10 vectors) and $SMALL deletes of one id"
small_commits 0 recent
echo "write: compaction of that session, then the small commits again"
/usr/bin/time -v "$VCHUNK" compact --key key session >big-compact.out 2>big-compact.time
small_commits "$SMALL" compacted
# read_mb CMD...: MB (10^6 bytes) CMD read from files under session/ (strace; fds tracked
# from open to close)
read_mb() {
	strace -f -e trace=openat,read,pread64,close -o trace.txt "$@" >/dev/null 2>&1 || true
	awk '
		{ sub(/^[0-9]+ +/, "") }
		/^openat\(/ { split($0, q, "\""); if (q[2] ~ /^session\//) fd[$NF] = 1 }
		/^close\(/ { split($0, a, "[()]"); delete fd[a[2]] }
		/^(read|pread64)\(/ { split($0, a, "[(,]"); if (a[2] in fd && $NF ~ /^[0-9]+$/) s += $NF }
		END { printf "%.1f", s / 1e6 }' trace.txt
}
reads=""
if command -v strace >/dev/null; then
	sed 's/"s\([0-9]*\)-/"r\1-/' "small-0.jsonl" >probe.jsonl
	add_mb=$(read_mb "$VCHUNK" add --key key session probe.jsonl)
	del_mb=$(read_mb "$VCHUNK" delete --key key session r0-0)
	live_mb=$(jq '[.chunks[].byte_size] | add / 1e6 | floor' session/manifest.json)
	reads="
Bytes read from the session's files by one more such commit (strace): $add_mb MB for an add
of 10 vectors, $del_mb MB for a delete of 1 id; the chunks of the current epoch hold $live_mb MB.
A commit finds each id it names through the id shards (one shard and one frame per id); an id
they do not hold live (every new id of an add) maps the recent tier whole (its chunks
decrypted), and an add also inserts its rows into the recent tier's HNSW graph, whose links (not
its vectors: they are the chunks' rows) are rewritten whole: adds cost in proportion to the
recent tier until \`vchunk compact\` folds it into the index."
fi
epoch=$("$VCHUNK" inspect session | awk '$1 == "epoch" { print $2 }')
live=$("$VCHUNK" inspect session | awk '$1 == "vectors" { print $2 }')

echo "write: compaction at 100K (90K imported, 10K added, 1K deleted)"
"$VCHUNK" import --key key base90.fvecs session100 >/dev/null
"$VCHUNK" add --key key session100 add-10k.jsonl >/dev/null
"$VCHUNK" delete --key key session100 $(seq 0 999) >/dev/null
/usr/bin/time -v "$VCHUNK" compact --key key session100 >compact.out 2>compact.time
# wall FILE / rss FILE: seconds and MiB from a /usr/bin/time -v report
wall() {
	sed -n 's/^\s*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" |
		awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'
}
rss() { echo $(($(sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$1") / 1024)); }
compact_s=$(wall compact.time)
compact_rss=$(rss compact.time)
big_compact_s=$(wall big-compact.time)
big_compact_rss=$(rss big-compact.time)
"$VCHUNK" verify --key key session100 >/dev/null
compact_live=$("$VCHUNK" inspect session100 | awk '$1 == "vectors" { print $2 }')
timed compact2.ms "$VCHUNK" compact --key key session100

echo "write: recall after 10 rounds of add/delete/compact (tests/integration/test_write_recall.sh)"
t0=$(date +%s)
VCHUNK=$VCHUNK bash "$ROOT/tests/integration/test_write_recall.sh" >recall.out 2>&1 || {
	cat recall.out >&2
	exit 1
}
recall_s=$(($(date +%s) - t0))
cat recall.out

read -r imp _ <<<"$(stats import.ms)"
read -r a1_med _ a1_min a1_max <<<"$(stats add1k.ms)"
read -r a10_med _ a10_min a10_max <<<"$(stats add10k.ms)"
read -r s_med s_p99 s_min s_max <<<"$(stats small-recent.ms)"
read -r d_med d_p99 d_min d_max <<<"$(stats del-recent.ms)"
read -r s2_med s2_p99 s2_min s2_max <<<"$(stats small-compacted.ms)"
read -r d2_med d2_p99 d2_min d2_max <<<"$(stats del-compacted.ms)"
read -r c2 _ <<<"$(stats compact2.ms)"
rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.0f", n / (ms / 1000) }'; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
model=$(lscpu | sed -n 's/^Model name:\s*//p' | head -1)
cpus=$(nproc)
mem_gib=$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)

section=$(
	cat <<MD
## Write

Measured $(date -u +%Y-%m-%d) by \`tools/bench write\` (tools/bench.d/write.sh), release build
(\`meson setup build-bench -Dbuildtype=release\`), every figure the wall time of one \`vchunk\`
command (process start, key, manifest read and MAC check, the commit itself), local directory
backend, encrypted with a key file.

Machine: $model, $cpus CPUs, $mem_gib GiB memory; load average $load when the figures were
taken (other work shares the machine).

Data: one mixture of 100 Gaussian clusters in $DIM-d (seed 11): a $COUNT-vector base imported
from .fvecs ($imp ms), add batches as .jsonl with 9 significant digits per value (parsing the
text is part of each add's time).

### Adds into the $COUNT x $DIM session

\`vchunk add --key key session batch.jsonl\`, each batch one commit.

| batch | commits | median | min – max | vectors/s (median) |
|---|---|---|---|---|
| 1,000 vectors | 5 | $a1_med ms | $a1_min – $a1_max ms | $(rate 1000 "$a1_med") |
| 10,000 vectors | 3 | $a10_med ms | $a10_min – $a10_max ms | $(rate 10000 "$a10_med") |

### Small commits

$SMALL commits of each kind, one after the other: first right after those adds (the 35,000
added vectors still in the recent tier), then again after \`vchunk compact\` of the session
($big_compact_s s, peak $big_compact_rss MiB).

| commit | session | p50 | p99 | min – max |
|---|---|---|---|---|
| \`vchunk add\` of 10 vectors | recent tier of 35K | $s_med ms | $s_p99 ms | $s_min – $s_max ms |
| \`vchunk delete\` of 1 id | recent tier of 35K | $d_med ms | $d_p99 ms | $d_min – $d_max ms |
| \`vchunk add\` of 10 vectors | compacted | $s2_med ms | $s2_p99 ms | $s2_min – $s2_max ms |
| \`vchunk delete\` of 1 id | compacted | $d2_med ms | $d2_p99 ms | $d2_min – $d2_max ms |

The session then holds $live live vectors at epoch $epoch.$reads

### Compaction at 100K

\`vchunk import\` of 90,000 vectors, \`vchunk add\` of 10,000, \`vchunk delete\` of 1,000 ids,
then \`/usr/bin/time -v vchunk compact --key key session100\` ($compact_live live vectors after):

| figure | value |
|---|---|
| compaction wall time | $compact_s s |
| peak resident memory | $compact_rss MiB |
| a second compaction right after | $c2 ms |

### Recall after evolution (Fashion-MNIST)

\`VCHUNK=build-bench/src/cli/vchunk tests/integration/test_write_recall.sh\` ($recall_s s in all):
20,000 base images (784-d, L2), then 10 rounds of add 2,000 / delete 1,000 / compact; recall@10
of 200 test images against exact neighbours (numpy, float64) of the final live set, evolved
session vs a fresh import of that set (default search settings):

\`\`\`
$(grep -E "round|recall|import|evolved" recall.out | sed 's/^ *//')
\`\`\`
MD
)

/usr/bin/python3 - "$DOC" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2].rstrip() + "\n"
text = open(path).read()
pattern = re.compile(r"^## Write\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda m: section + "\n", text, count=1)
else:
    text = text.rstrip() + "\n\n" + section
open(path, "w").write(text.rstrip() + "\n")
PY
echo "write: wrote the Write section of docs/BENCHMARKS.md"
