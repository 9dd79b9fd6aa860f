#!/usr/bin/env bash
# Index benchmark: recall@10 and latency of vchunk search on real data (Fashion-MNIST 784-d and
# 384-d; full mode adds 1M x 384 synthetic) against hnswlib and faiss, cold open + first query,
# peak RSS and import time, for each index kind of `vchunk import --index`; rewrites the "Index"
# section of docs/BENCHMARKS.md with the machine, the commands and the tables.
#   tools/bench.d/index.sh [--quick] [--index KIND[,KIND...]] [--keep]
#   tools/bench index      (full mode; VCHUNK_BENCH_QUICK=1 for --quick)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${VCHUNK_BENCH_BUILD:-$ROOT/build-bench}
CACHE=${VCHUNK_BENCH_CACHE:-/var/tmp/vchunk-bench}
WORK=$CACHE/work
HELPERS=$ROOT/tools/bench.d/index
DOC=$ROOT/docs/BENCHMARKS.md
PY=/usr/bin/python3 # Debian's python: numpy, hnswlib and faiss come from Debian packages

INVOCATION="tools/bench.d/index.sh${*:+ $*}"
MODE=full
if [ "${VCHUNK_BENCH_QUICK:-0}" != 0 ]; then
	MODE=quick
	INVOCATION="VCHUNK_BENCH_QUICK=1 $INVOCATION"
fi
INDEXES= # empty: auto, plus hnsw when offered (not at 1M: see kinds_for)
INDEXES_GIVEN=no
KEEP=no
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) MODE=quick ;;
	--index) INDEXES=${2//,/ }; INDEXES_GIVEN=yes; shift ;;
	--keep) KEEP=yes ;;
	*) echo "index: unknown option '$1' (--quick, --index KIND[,KIND...], --keep)" >&2; exit 2 ;;
	esac
	shift
done

QUERIES=1000 # ann-benchmarks style latency runs: the first 1,000 queries
WARMUP=$QUERIES # every query once with `default`, untimed, so the first setting is warm too
CACHE_MB=150  # the library default, and the cache the targets name
BUDGET_S=60   # a setting stops after this many seconds of queries (at least 50 queries)
COLD_RUNS=5
if [ "$MODE" = quick ]; then
	DATASETS="fmnist-784 fmnist-384"
	EF_SWEEP="16,64,256"
	NPROBE_SWEEP="1,4,16,64"
	COLD_RUNS=3
	BUDGET_S=30
else
	DATASETS="fmnist-784 fmnist-384 synth-1m-384"
	EF_SWEEP="16,32,64,128,256"
	NPROBE_SWEEP="1,2,4,8,16,32,64"
fi
# Exact search reads every chunk per query; cap its query count where that is slow.
exact_queries() { case "$1" in synth-1m-*) echo 20 ;; *) echo 200 ;; esac; }

RUN=$WORK/results
rm -rf "$WORK"
mkdir -p "$RUN"
[ "$KEEP" = yes ] || trap 'rm -rf "$WORK/sessions"' EXIT
: >"$RUN/commands.txt"
: >"$RUN/notes.txt"
# run CMD...: log the command for the report, then run it.
run() {
	printf '%s\n' "$*" >>"$RUN/commands.txt"
	"$@"
}
# note TEXT: say it now (on stderr, so it also works inside $(...)) and in the report.
note() {
	echo "index: $*" >&2
	printf '%s\n' "$*" >>"$RUN/notes.txt"
}

echo "index: building $BUILD (release)"
[ -d "$BUILD" ] || meson setup "$BUILD" -Dbuildtype=release >/dev/null
meson compile -C "$BUILD" -j 2 src/cli/vchunk tools/bench_index >/dev/null
VCHUNK=$BUILD/src/cli/vchunk
BENCH=$BUILD/tools/bench_index

# What the CLI offers: `vchunk import --index KIND` and which kinds (from its --help).
KINDS=$("$VCHUNK" import --help | sed -n 's/.*\[--index \([a-z|]*\)\].*/\1/p' | head -1)
offers() { printf '%s\n' "$KINDS" | tr '|' '\n' | grep -qx "$1"; }
if [ -z "$KINDS" ]; then
	note "vchunk import has no --index option: sessions are imported without one (exact search)"
	INDEXES=none
elif [ -z "$INDEXES" ]; then
	INDEXES=auto
	offers hnsw && INDEXES="auto hnsw"
fi
for kind in $INDEXES; do
	if [ "$kind" != none ] && ! offers "$kind"; then
		echo "index: --index $kind is not offered by vchunk import (kinds: $KINDS)" >&2
		exit 2
	fi
done
[ -z "$KINDS" ] || note "vchunk import offers --index $KINDS; measured: ${INDEXES// /, }"

# settings_for KIND: the session's defaults first (they also warm the cache), the sweeps of the
# knobs that kind can use, exact last.
settings_for() {
	local list=default v
	if [ "$1" = auto ] || [ "$1" = ivf ]; then
		for v in ${NPROBE_SWEEP//,/ }; do list+=",nprobe=$v"; done
	fi
	if [ "$1" = auto ] || [ "$1" = hnsw ]; then
		for v in ${EF_SWEEP//,/ }; do list+=",ef=$v"; done
	fi
	echo "$list,exact"
}
# kinds_for DATASET: hnsw at 1M only when asked for by name (its graph build is long).
kinds_for() {
	local kind
	for kind in $INDEXES; do
		if [ "$kind" = hnsw ] && [[ "$1" == synth-1m-* ]] && [ "$INDEXES_GIVEN" = no ]; then
			note "$1: hnsw not measured by default (graph build at 1M); --index auto,hnsw adds it"
			continue
		fi
		echo "$kind"
	done
}

echo "index: preparing data in $CACHE"
run "$PY" "$HELPERS/data.py" --cache "$CACHE" --datasets "$(echo "$DATASETS" | tr ' ' ,)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$WORK/sessions"
run "$VCHUNK" keygen "$WORK/key" >/dev/null

# drop_page_cache: make the next read come from the disk (root only; says so otherwise).
drop_page_cache() {
	if [ -w /proc/sys/vm/drop_caches ]; then
		printf '%s\n' 'sync; echo 3 > /proc/sys/vm/drop_caches' >>"$RUN/commands.txt"
		sync
		echo 3 >/proc/sys/vm/drop_caches
		echo dropped
	else
		echo "not dropped (not root)"
	fi
}
# time_field FILE NAME: one field of /usr/bin/time -v output.
time_field() { sed -n "s/^\s*$2: //p" "$1"; }
wall_seconds() { time_field "$1" 'Elapsed (wall clock) time (h:mm:ss or m:ss)' |
	awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }
# pick_setting OURS.tsv: the fastest setting reaching recall 0.95, for the cold and memory runs;
# a knob setting that did exactly what `default` did counts as `default`.
pick_setting() {
	awk -F'\t' 'NR > 1 && $2 == "default" { drec = $4; dscored = $11 }
		NR > 1 && $3 > 0 && $4 >= 0.95 && !($2 != "default" && $4 == drec && $11 == dscored) &&
		(best == "" || $5 < p50) { best = $2; p50 = $5 }
		END { print best == "" ? "default" : best }' "$1"
}

# bench_kind DATASET KIND: import a session with that index, measure it into $RUN/DATASET/KIND.
bench_kind() {
	local ds=$1 kind=$2 data=$CACHE/$1 out=$RUN/$1/$2 session=$WORK/sessions/$1-$2
	local files=("$data/queries.fvecs" "$data/gt.ivecs" "$data/gt_dist.fvecs")
	local index_args=(--index "$kind") label=ours-$kind settings pick i drop
	[ "$kind" != none ] || { index_args=(); label=ours; }
	settings=$(settings_for "$kind")
	mkdir -p "$out"

	echo "index: $ds/$kind: import"
	run /usr/bin/time -v -o "$out/import.time" "$VCHUNK" import --key "$WORK/key" \
		--metric l2 "${index_args[@]}" "$data/base.fvecs" "$session" | tee "$out/import.out"

	echo "index: $ds/$kind: warm queries ($settings)"
	run "$BENCH" --label "$label" --settings "$settings" --queries "$QUERIES" \
		--exact-queries "$(exact_queries "$ds")" --warmup "$WARMUP" --budget-s "$BUDGET_S" \
		--cache-mb "$CACHE_MB" "$session" "$WORK/key" "${files[@]}" >"$out/ours.tsv"
	pick=$(pick_setting "$out/ours.tsv")

	echo "index: $ds/$kind: cold open + first query ($COLD_RUNS runs, setting $pick)"
	for i in $(seq 0 $((COLD_RUNS - 1))); do
		drop=$(drop_page_cache)
		run "$BENCH" --cold "$i" --settings "$pick" --cache-mb "$CACHE_MB" \
			"$session" "$WORK/key" "${files[@]}" >"$out/cold.$i.tsv"
		echo "$drop" >"$out/cold.$i.drop"
	done

	echo "index: $ds/$kind: peak RSS with a $CACHE_MB MB cache (setting $pick)"
	run /usr/bin/time -v -o "$out/rss.time" "$BENCH" --settings "$pick" --queries "$QUERIES" \
		--exact-queries "$(exact_queries "$ds")" --warmup 0 --budget-s "$BUDGET_S" \
		--cache-mb "$CACHE_MB" "$session" "$WORK/key" "${files[@]}" >/dev/null

	{
		printf 'kind\t%s\n' "$kind"
		printf 'import_s\t%s\n' "$(wall_seconds "$out/import.time")"
		printf 'import_rss_kb\t%s\n' \
			"$(time_field "$out/import.time" 'Maximum resident set size (kbytes)')"
		printf 'rss_kb\t%s\n' "$(time_field "$out/rss.time" 'Maximum resident set size (kbytes)')"
		printf 'stored_bytes\t%s\n' "$(du -sb "$session" | cut -f1)"
		printf 'chunks\t%s\n' "$(find "$session/chunks" -type f | wc -l)"
		printf 'index_objects\t%s\n' "$(find "$session/index" -type f 2>/dev/null | wc -l)"
		printf 'exact_queries\t%s\n' "$(exact_queries "$ds")"
		printf 'pick\t%s\n' "$pick"
		printf 'page_cache\t%s\n' "$(cat "$out"/cold.*.drop | sort -u | tr '\n' ' ')"
	} >"$out/figures.tsv"
	[ "$KEEP" = yes ] || rm -rf "$session"
}

for ds in $DATASETS; do
	kinds=$(kinds_for "$ds")
	printf "%s\n" "$kinds" >"$RUN/$ds.kinds"
	mkdir -p "$RUN/$ds"
	for kind in $kinds; do
		bench_kind "$ds" "$kind"
	done
	echo "index: $ds: anchors (hnswlib, faiss IndexIVFFlat)"
	run "$PY" "$HELPERS/anchors.py" --data "$CACHE/$ds" --queries "$QUERIES" --ef "$EF_SWEEP" \
		--nprobe "$NPROBE_SWEEP" --index-cache "$CACHE/anchors" --out "$RUN/$ds/anchors.tsv" \
		--build-out "$RUN/$ds/anchors-build.tsv"
done

{
	printf 'mode\t%s\n' "$MODE"
	printf 'invocation\t%s\n' "$INVOCATION"
	printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'cpu\t%s\n' "$(lscpu | sed -n 's/^Model name:\s*//p' | head -1)"
	printf 'cpus\t%s\n' "$(nproc)"
	printf 'memory_gib\t%s\n' "$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
	printf 'kernel\t%s\n' "$(uname -r)"
	printf 'load_start\t%s\n' "$LOAD_START"
	printf 'load\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf 'queries\t%s\n' "$QUERIES"
	printf 'warmup\t%s\n' "$WARMUP"
	printf 'budget_s\t%s\n' "$BUDGET_S"
	printf 'cache_mb\t%s\n' "$CACHE_MB"
	printf 'datasets\t%s\n' "$DATASETS"
	printf 'cache\t%s\n' "$CACHE"
	printf 'commit\t%s\n' "$(git -C "$ROOT" rev-parse --short HEAD)"
} >"$RUN/run.tsv"
# Commands as run, with the long paths named once.
sed -e "s|$BUILD/|build-bench/|g" -e "s|$HELPERS/|tools/bench.d/index/|g" \
	-e "s|$WORK|\$WORK|g" -e "s|$CACHE|\$CACHE|g" "$RUN/commands.txt" >"$RUN/commands.md"

section=$("$PY" "$HELPERS/report.py" "$RUN")
mkdir -p docs
if [ ! -f "$DOC" ]; then
	printf '# Benchmarks\n\nFigures measured on this machine by tools/bench; each section says how.\n' >"$DOC"
fi
"$PY" - "$DOC" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], sys.argv[2].rstrip() + "\n"
text = open(path).read()
pattern = re.compile(r"^## Index\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda m: section + "\n", text, count=1)
else:
    text = text.rstrip() + "\n\n" + section
open(path, "w").write(text.rstrip() + "\n")
PY
printf '%s\n' "$section"
echo "index: wrote the Index section of docs/BENCHMARKS.md (raw results in $RUN)"
