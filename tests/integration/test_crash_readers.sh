#!/usr/bin/env bash
# Readers during commits: while a writer runs a seeded plan of commits (crash_model.py, no gc so
# every commit moves the epoch by one), readers query the session over and over: two `vchunk
# query --exact` loops and, when VCHUNKFS is set, a mounted session's query file, stats.json and
# chunks. Every answer (k above the live count) must be exactly one committed state, never a
# mix, and a reader's answers never go back to an older state; each stats.json epoch must
# carry that epoch's vector count; every listed chunk reads back (or has gone with its epoch).
set -euo pipefail
source "$(dirname "$0")/test_cli_common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
MODEL="$PY $HERE/crash_model.py"
seed=${CRASH_SEED:-4242}
commits=${CRASH_COMMITS:-150}
kinds=${CRASH_KINDS:-} # narrows the kinds of commit planned (default all but gc)
cd "$WORK"

"$VCHUNK" --help | grep -q "^  add " ||
	fail "this vchunk has no 'add' command: the write path (add, delete, update, compact) is missing"

# the rollback record (highest epoch seen) of this test's processes, shared by all of them
# as a user's processes share theirs
export XDG_STATE_HOME=$WORK/state
"$VCHUNK" keygen key >/dev/null
$MODEL plan --seed "$seed" --commits "$commits" --dim 8 --no-gc --kinds "$kinds" plan
S=$WORK/session
timeout 60 "$VCHUNK" import --key key --metric l2 --chunk-size 16 plan/base.jsonl "$S" >/dev/null
Q='[1, 0, 0, 0, 0, 0, 0, 0]'

mounted=0
if [ -n "${VCHUNKFS:-}" ]; then
	[ -c /dev/fuse ] || fail "VCHUNKFS is set but /dev/fuse is missing"
	mkdir mnt
	"$VCHUNKFS" -f -o key_file="$WORK/key",manifest_ttl=1 "$S" mnt 2>mount.log &
	daemon=$!
	CLEANUP+=("! mountpoint -q '$WORK/mnt' || fusermount3 -u '$WORK/mnt' || umount -l '$WORK/mnt'; kill $daemon 2>/dev/null")
	for _ in $(seq 100); do
		findmnt -n -t fuse.vchunkfs "$WORK/mnt" >/dev/null 2>&1 && break
		kill -0 "$daemon" 2>/dev/null || fail "vchunkfs exited before mounting"
		sleep 0.1
	done
	findmnt -n -t fuse.vchunkfs "$WORK/mnt" >/dev/null || fail "the session was not mounted in 10 s"
	mounted=1
fi

step "writer: $commits commits; readers query meanwhile"
timeout 150 $MODEL run --vchunk "$VCHUNK" plan "$S" key 1 >writer.out 2>writer.err &
writer=$!

# cli_reader OUT: exact queries, each a fresh `vchunk query` process, until the writer is done.
cli_reader() {
	local n=0
	while kill -0 "$writer" 2>/dev/null; do
		timeout 30 "$VCHUNK" query --key key --exact -k 100000 "$S" "$Q" >>"$1" ||
			echo "query $n failed" >>"$1.err"
		n=$((n + 1))
	done
}
cli_reader cli1.jsonl &
r1=$!
cli_reader cli2.jsonl &
r2=$!

if [ "$mounted" = 1 ]; then
	# one long-running reader of the mount: query file answers, stats.json, every chunk
	timeout 170 "$PY" - "$WORK/mnt" "$writer" "$Q" >mount.jsonl 2>mount.err <<'PYEOF' &
import errno, json, os, sys
mnt, writer, q = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
def alive():
    try:
        os.kill(writer, 0)
        return True
    except ProcessLookupError:
        return False
chunk_reads = 0
while alive():
    with open(os.path.join(mnt, "query"), "r+b") as f:
        f.write(json.dumps({"vector": q, "k": 100000, "exact": True}).encode())
        f.seek(0)
        print(json.dumps({"results": json.loads(f.read())["results"]}))
    st = json.load(open(os.path.join(mnt, "stats.json")))
    print(json.dumps({"epoch": st["session"]["epoch"], "vectors": st["session"]["vectors"]}))
    for name in sorted(os.listdir(os.path.join(mnt, "chunks"))):
        try:
            with open(os.path.join(mnt, "chunks", name), "rb") as c:
                if not c.read():
                    sys.exit("chunks/%s read back empty" % name)
            chunk_reads += 1
        except FileNotFoundError:
            pass  # listed in an epoch that has since been replaced
    sys.stdout.flush()
print("%d chunk reads" % chunk_reads, file=sys.stderr)
PYEOF
	mreader=$!
fi

wait "$writer" || {
	cat writer.err >&2
	fail "the writer failed"
}
wait "$r1" "$r2"
[ "$mounted" = 0 ] || wait "$mreader" || {
	cat mount.err >&2
	fail "the mount reader failed"
}
grep -q "^done$" writer.out || fail "the writer did not finish its plan"
for f in cli1.jsonl.err cli2.jsonl.err; do
	[ ! -s "$f" ] || fail "$(head -n 3 "$f")"
done

step "every answer is one committed state, in order"
for f in cli1.jsonl cli2.jsonl; do
	n=$(wc -l <"$f")
	$MODEL epochs --min-states 3 plan "$f" >"$f.states" || fail "$f: readers saw a mix (above)"
	echo "   $f: $n answers"
done
if [ "$mounted" = 1 ]; then
	sed 's/^/   /' mount.err
	$MODEL epochs --min-states 2 plan mount.jsonl >mount.states ||
		fail "mount: answers or stats inconsistent (above)"
	echo "   mount: $(grep -c results mount.jsonl) answers, $(grep -c epoch mount.jsonl) stats"
	fusermount3 -u "$WORK/mnt"
fi

step "after the writer: the session holds the plan's last state"
timeout 60 "$VCHUNK" verify --key key "$S" >/dev/null || fail "verify"
timeout 60 "$VCHUNK" export --key key "$S" final.jsonl 2>/dev/null
found=$($MODEL match plan $((commits - 1)) final.jsonl) || fail "final state"
[ "$found" = "$commits" ] || fail "final state is $found, not $commits"
echo "   OK"
