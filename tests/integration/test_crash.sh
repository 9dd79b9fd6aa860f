#!/usr/bin/env bash
# Crash test of the write path: a writer runs a seeded sequence of commits (add, delete,
# delete --filter, update, compact, gc; tests/integration/crash_model.py) and is SIGKILLed at
# seeded random moments, many of them mid-commit. After every kill the session must open, pass
# `vchunk verify`, and hold exactly the state of the last acknowledged commit or of the one
# being written (ids, bit-exact vectors, metadata); the writer then restarts from the state
# found (it must get past any lock the killed writer left). At least 200 commits in all.
#
#   test_crash.sh dir|s5 [cli|lib]
# cli (default): each commit one `vchunk add|delete|update|compact|gc` process, killed by the
# runner; lib: CRASH_WRITER (crash_writer.c) commits every step in one process through
# vc_txn_* (each commit adds, deletes and updates at once) and is killed as a whole.
# Environment: CRASH_SEED, CRASH_COMMITS (200), CRASH_BUDGET_S (170); CRASH_KINDS narrows the
# kinds of commit planned (default all: add,delete,delete-filter,update,compact,gc).
set -euo pipefail
source "$(dirname "$0")/test_cli_common.sh"
backend=${1:?usage: test_crash.sh dir|s5 [cli|lib]}
writer=${2:-cli}
WRITER_ARGS=()
TXN=()
if [ "$writer" = lib ]; then
	: "${CRASH_WRITER:?set CRASH_WRITER to the built crash_writer}"
	WRITER_ARGS=(--writer "$CRASH_WRITER")
	TXN=(--txn)
fi
HERE=$(cd "$(dirname "$0")" && pwd)
MODEL="$PY $HERE/crash_model.py"
seed=${CRASH_SEED:-20261128}
target=${CRASH_COMMITS:-200}
kinds=${CRASH_KINDS:-}
budget=${CRASH_BUDGET_S:-170}
cd "$WORK"

"$VCHUNK" --help | grep -q "^  add " ||
	fail "this vchunk has no 'add' command: the write path (add, delete, update, compact, gc) is missing"

# the rollback record (highest epoch seen) of this test's processes
export XDG_STATE_HOME=$WORK/state
"$VCHUNK" keygen key >/dev/null
# more planned commits than the target: a kill can land after the last one is acked
$MODEL plan --seed "$seed" --commits $((target + 60)) --dim 8 --kinds "$kinds" "${TXN[@]+"${TXN[@]}"}" plan
planned=$(wc -l <plan/ops.tsv)
case "$backend" in
dir) S="$WORK/session" ;;
s5)
	start_nginx
	S="s5+$BASE/crash/session"
	;;
*) fail "unknown backend '$backend' (dir or s5)" ;;
esac
echo "   backend $backend, $writer writer, session $S, seed $seed, $planned commits planned"
timeout 60 "$VCHUNK" import --key key --metric l2 --chunk-size 16 plan/base.jsonl "$S" >/dev/null

# check_state N: the session verifies and holds state N or N+1; sets FOUND to the one it holds.
check_state() {
	local n=$1 out
	out=$(timeout 60 "$VCHUNK" verify --key key "$S" 2>&1) ||
		fail "verify after commit $n failed: $out"
	rm -f export.jsonl
	timeout 60 "$VCHUNK" export --key key "$S" export.jsonl 2>/dev/null ||
		fail "export after commit $n failed"
	FOUND=$($MODEL match plan "$n" export.jsonl) || fail "wrong state after commit $n (see above)"
}

epoch_of() {
	timeout 30 "$VCHUNK" inspect "$S" | awk '$1 == "epoch" { print $2 }'
}

step "calibration: commits 1-6 without a kill, timed"
timeout 60 $MODEL run --vchunk "$VCHUNK" "${WRITER_ARGS[@]+"${WRITER_ARGS[@]}"}" --last 6 plan "$S" key 1 >calib.out 2>calib.err || {
	cat calib.err >&2
	fail "the writer failed without being killed"
}
per_commit_ms=$(awk '$1 == "acked" { print $3 }' calib.out | sort -n | sed -n 3p)
check_state 5
[ "$FOUND" = 6 ] || fail "after 6 acked commits the session holds state $FOUND"
# kill delays spread over about three commits (from the first command's start), so kills land
# in every part of a commit and between commits
kill_max=$((per_commit_ms * 3))
[ "$kill_max" -ge 15 ] || kill_max=15
echo "   $per_commit_ms ms per commit (median); kills after 0-$kill_max ms"
last_epoch=$(epoch_of)

step "kill the writer at random moments until $target commits are in"
RANDOM=$seed
next=7
kills=0
mid=0
ahead=0
stale=0
run=0
start_s=$SECONDS
while [ "$next" -le "$target" ]; do
	[ $((SECONDS - start_s)) -lt "$budget" ] ||
		fail "only $((next - 1)) of $target commits in $budget s ($kills kills)"
	run=$((run + 1))
	ms=$((RANDOM % (kill_max + 1)))
	# the runner SIGKILLs the vchunk command running ms after its start and reaps it at once
	timeout 120 $MODEL run --vchunk "$VCHUNK" "${WRITER_ARGS[@]+"${WRITER_ARGS[@]}"}" --kill-after-ms "$ms" plan "$S" key "$next" \
		>run.out 2>run.err || {
		cat run.err >&2
		fail "the writer failed on its own in run $run (started at commit $next)"
	}
	if grep -q "^done$" run.out; then
		fail "the plan ran out before $target commits"
	fi
	# the killed writer's lock, broken by the next one (the write path's stale-lock rule)
	if grep -q "stale writer lock" run.err; then
		stale=$((stale + 1))
	fi
	kills=$((kills + 1))
	acked=$(awk '$1 == "acked" { n = $2 } END { print n + 0 }' run.out)
	[ "$acked" -gt 0 ] || acked=$((next - 1))
	if grep -q "^killed in commit" run.out; then
		mid=$((mid + 1))
	fi
	# over HTTP a request the killed writer had fully sent is still served: let nginx finish
	[ "$backend" = dir ] || sleep 0.1
	check_state "$acked"
	if [ "$FOUND" -gt "$acked" ] && grep -qx "killed in commit $FOUND" run.out; then
		ahead=$((ahead + 1))
	fi
	epoch=$(epoch_of)
	[ "$epoch" -ge "$last_epoch" ] || fail "epoch went back from $last_epoch to $epoch"
	last_epoch=$epoch
	next=$((FOUND + 1))
done
echo "   $kills kills ($mid inside a commit, $ahead of those after its manifest was written)," \
	"$stale stale locks broken, $((next - 1)) commits, epoch $last_epoch, $((SECONDS - start_s)) s"
[ "$kills" -ge 30 ] || fail "only $kills kills: the kill window is too wide to test much"
[ "$mid" -ge 10 ] || fail "only $mid of $kills kills landed inside a commit"

step "after the last kill: a clean writer finishes the plan's next commits, gc, verify"
timeout 60 $MODEL run --vchunk "$VCHUNK" "${WRITER_ARGS[@]+"${WRITER_ARGS[@]}"}" --last $((next + 4)) plan "$S" key "$next" \
	>final.out 2>final.err || {
	cat final.err >&2
	fail "the writer failed after the last kill"
}
timeout 60 "$VCHUNK" gc --key key --grace 0 "$S" >/dev/null || fail "gc after the crashes"
check_state $((next + 3))
[ "$FOUND" = $((next + 4)) ] || fail "after the final commits the session holds state $FOUND"
# after gc without grace, every stored object is one the manifest names (history and gc records
# under manifests/ aside) and no temporary file of a killed write is left
stored=$S
[ "$backend" = dir ] || stored=$NGINX_DIR/data/crash/session
$PY - "$stored" <<'PYEOF' || fail "gc left unreferenced objects behind"
import json, os, sys
root = sys.argv[1]
m = json.load(open(os.path.join(root, "manifest.json")))
named = {c["path"] for c in m["chunks"]} | {o["path"] for o in m["objects"]} | {"manifest.json"}
stray, tmp = [], []
for d, _, files in os.walk(root):
    for f in files:
        rel = os.path.relpath(os.path.join(d, f), root)
        if rel.startswith("manifests/") or rel in named:
            continue
        (tmp if f.startswith(".tmp") else stray).append(rel)
if tmp:
    sys.exit("temporary files of killed writes left after gc --grace 0: %d (%s)" % (len(tmp), tmp[0]))
if stray:
    sys.exit("unreferenced after gc --grace 0: %s" % ", ".join(sorted(stray)[:10]))
PYEOF
echo "   OK: state $FOUND verified"
