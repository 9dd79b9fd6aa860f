#!/usr/bin/env bash
# -o rw: JSONL lines written to ingest and ids written to delete are committed on close, on
# fsync or by `commit` written to ctl, and show at once (manifest.json, stats.json, query,
# vectors/, `vchunk query`); a malformed line fails its write with EINVAL, ctl names the line,
# and none of the batch is applied (checked with `vchunk export`), also when the batch's lines
# came from another open file; abort drops a batch; `vchunk add` commits between two commits
# of the mount, and a writer holding the session's lock makes the other one fail with a busy
# error naming it; the default mount refuses ingest with EROFS; `vchunk verify` after each step.
. "$(dirname "$0")/test_mount_common.sh"

S=$WORK/sess
M=$WORK/mnt
PY=/usr/bin/python3
DIM=16
make_session "$S" 600 $DIM 200

verify() { "$VCHUNK" verify --key "$WORK/key" "$S" >/dev/null || fail "vchunk verify failed: $*"; }
epoch() { jq -r .epoch "$M/manifest.json"; }
exported_ids() {
	rm -f "$WORK/export.jsonl"
	"$VCHUNK" export --key "$WORK/key" "$S" "$WORK/export.jsonl" >/dev/null 2>"$WORK/export.err" ||
		fail "vchunk export: $(cat "$WORK/export.err")"
	jq -r .id "$WORK/export.jsonl" | sort
}
# lines PREFIX FROM TO [VALUE]: JSONL lines PREFIX-FROM..PREFIX-TO, each vector far from the
# sample's clusters and from the others (coordinate 0 = VALUE + i), with metadata
lines() {
	$PY - "$@" <<'PYEOF'
import json, sys
prefix, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = float(sys.argv[4]) if len(sys.argv) > 4 else 100.0
for i in range(lo, hi + 1):
    v = [base + 10.0 * i] + [0.5] * 15
    print(json.dumps({"id": f"{prefix}-{i}", "vector": v, "metadata": {"batch": prefix, "n": i}}))
PYEOF
}
vector_of() { jq -c --arg id "$1" 'select(.id == $id) | .vector' "$2"; }
# ask VECTOR: the mount's query file (write, seek(0), read on one open file); prints the answer
ask() {
	timeout 30 $PY - "$M/query" "$1" <<'PYEOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.write(sys.argv[2].encode())
    f.seek(0)
    sys.stdout.buffer.write(f.read())
PYEOF
}
top_id_mount() { ask "$1" | jq -r '.results[0].id'; }
top_id_cli() { "$VCHUNK" query --key "$WORK/key" -k 1 "$S" "$1" | jq -r '.results[0].id'; }

step "default mount: no ingest, delete or ctl; writing ingest is refused with EROFS"
mount_fg "$S" "$M" "$WORK/log-ro" -o key_file="$WORK/key"
for f in ingest delete ctl; do
	[ ! -e "$M/$f" ] || fail "$f exists on a read-only mount"
done
lines ro 0 0 >"$WORK/ro.jsonl"
err=$(cat "$WORK/ro.jsonl" 2>&1 >"$M/ingest") && fail "a read-only mount took ingest"
grep -q "Read-only file system" <<<"$err" || fail "not EROFS: $err"
[ "$(stat_json "$M" .writes.writable)" = false ] || fail "stats.json says writable"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 20

# manifest_ttl=0: nothing but the mount's own commits moves it to a new epoch
mount_fg "$S" "$M" "$WORK/log" -o rw,key_file="$WORK/key",manifest_ttl=0
e0=$(epoch)

step "-o rw: ingest and delete are write-only (0200), ctl 0600, ctl reports the epoch"
[ "$(stat -c %a "$M/ingest")" = 200 ] || fail "ingest mode $(stat -c %a "$M/ingest")"
[ "$(stat -c %a "$M/delete")" = 200 ] || fail "delete mode"
[ "$(stat -c %a "$M/ctl")" = 600 ] || fail "ctl mode"
[ "$(jq -r .epoch "$M/ctl")" = "$e0" ] || fail "ctl epoch differs from manifest.json"
[ "$(jq -r .last_commit.outcome "$M/ctl")" = none ] || fail "a commit before any write"

step "cat lines > ingest: committed on close, visible at once to new opens and to vchunk"
lines new 0 9 >"$WORK/new.jsonl"
vectors_before=$(stat_json "$M" .session.vectors)
cat "$WORK/new.jsonl" >"$M/ingest" || fail "cat > ingest failed"
[ "$(epoch)" = $((e0 + 1)) ] || fail "manifest.json is not at the next epoch"
[ "$(stat_json "$M" .session.epoch)" = $((e0 + 1)) ] || fail "stats.json epoch"
[ "$(stat_json "$M" .session.vectors)" = $((vectors_before + 10)) ] || fail "vector count"
[ "$(jq -r .last_commit.outcome "$M/ctl")" = committed ] || fail "ctl outcome"
[ "$(jq -r .last_commit.adds "$M/ctl")" = 10 ] || fail "ctl adds"
[ "$(stat_json "$M" .writes.commits)" = 1 ] || fail "stats.json commits"
[ "$(stat_json "$M" .writes.lines_staged)" = 10 ] || fail "stats.json lines_staged"
v3=$(vector_of new-3 "$WORK/new.jsonl")
[ "$(top_id_mount "$v3")" = new-3 ] || fail "the query file does not find new-3"
[ "$(top_id_cli "$v3")" = new-3 ] || fail "vchunk query does not find new-3"
[ "$(jq -r .metadata.n "$M/vectors/new-3.json")" = 3 ] || fail "vectors/new-3.json"
cmp "$M/manifest.json" "$S/manifest.json" || fail "manifest.json is not the stored one"
verify "after ingest"

step "ids > delete: gone from export, query and vectors/"
printf 'new-1\nnew-2\n' >"$M/delete" || fail "writing delete failed"
[ "$(epoch)" = $((e0 + 2)) ] || fail "delete did not commit an epoch"
exported_ids >"$WORK/ids"
grep -qx new-1 "$WORK/ids" && fail "new-1 still exported"
grep -qx new-3 "$WORK/ids" || fail "new-3 lost by the delete"
v1=$(vector_of new-1 "$WORK/new.jsonl")
[ "$(top_id_mount "$v1")" != new-1 ] || fail "the query file still finds new-1"
[ "$(top_id_cli "$v1")" != new-1 ] || fail "vchunk query still finds new-1"
[ ! -e "$M/vectors/new-1.json" ] || fail "vectors/new-1.json still there"
# the two deleted rows stay stored until a compaction; the recent tier is what inspect counts
[ "$(stat_json "$M" .session.deleted_rows)" = 2 ] || fail "stats.json deleted_rows"
[ "$(stat_json "$M" .session.recent_rows)" = "$("$VCHUNK" inspect --json "$S" | jq .recent_rows)" ] ||
	fail "stats.json recent_rows differs from vchunk inspect"
verify "after delete"

step "commit written to ctl: lines of an open file are committed while it stays open"
# one process holds the file: every close(2) of a descriptor commits, a shell's >&3 too
lines ctl 0 2 >"$WORK/ctl.jsonl"
$PY - "$M" "$WORK/ctl.jsonl" "$e0" <<'PYEOF' || fail "commit through ctl failed"
import json, os, subprocess, sys
m, src, e0 = sys.argv[1], open(sys.argv[2], "rb").read().splitlines(keepends=True), int(sys.argv[3])
epoch = lambda: json.load(open(m + "/manifest.json"))["epoch"]
fd = os.open(m + "/ingest", os.O_WRONLY)
os.write(fd, src[0] + src[1])
ctl = json.load(open(m + "/ctl"))
assert ctl["pending"]["adds"] == 2, ctl
assert epoch() == e0 + 2, "committed before commit"
subprocess.run("echo commit > " + m + "/ctl", shell=True, check=True)
assert epoch() == e0 + 3, "commit through ctl did not make an epoch"
assert json.load(open(m + "/ctl"))["pending"]["adds"] == 0
os.write(fd, src[2])  # the same file goes on into the next batch
os.close(fd)          # and its close commits that one
assert epoch() == e0 + 4, "close after ctl commit did not commit the rest"
PYEOF
exported_ids >"$WORK/ids"
for id in ctl-0 ctl-1 ctl-2; do grep -qx "$id" "$WORK/ids" || fail "$id not committed"; done
verify "after ctl commit"

step "a shell's descriptor: commands writing through it stage, the shell's close commits once"
e1=$(epoch)
exec 3>"$M/ingest"
(lines shell 0 0) >&3 # a child process: its exit closes a copy of the descriptor
(lines shell 1 1) >&3
[ "$(jq -r .pending.adds "$M/ctl")" = 2 ] || fail "the children's closes committed"
[ "$(epoch)" = "$e1" ] || fail "an epoch before the shell closed"
exec 3>&-
[ "$(epoch)" = $((e1 + 1)) ] || fail "the shell's close did not commit"
[ "$(jq -r .last_commit.adds "$M/ctl")" = 2 ] || fail "not one commit of both lines"

step "fsync commits too; a last line without a newline counts"
$PY - "$M/ingest" "$(lines fsync 0 1 | head -c -1)" <<'PYEOF' || fail "fsync path failed"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, sys.argv[2].encode())
os.fsync(fd)
os.close(fd)
PYEOF
[ "$(epoch)" = $((e0 + 6)) ] || fail "fsync did not commit"
exported_ids | grep -qx fsync-1 || fail "the unterminated last line was lost"

step "a malformed line: EINVAL, ctl names the line, none of the batch applied"
e1=$(epoch)
{
	lines bad 0 2
	echo '{"id": "bad-3", "vector": [1, 2, 3]}'
	lines bad 4 5
} >"$WORK/bad.jsonl"
err=$(cat "$WORK/bad.jsonl" 2>&1 >"$M/ingest") && fail "a malformed batch was accepted"
grep -q "Invalid argument" <<<"$err" || fail "not EINVAL: $err"
jq -r .error "$M/ctl" | grep -q "ingest:4: vector has 3 values, expected $DIM" ||
	fail "ctl does not name line 4: $(jq -r .error "$M/ctl")"
[ "$(jq -r .last_commit.outcome "$M/ctl")" = failed ] || fail "ctl outcome is not failed"
[ "$(jq -r .last_commit.errno "$M/ctl")" = EINVAL ] || fail "ctl errno is not EINVAL"
stat_json "$M" .writes.last_error | grep -q "ingest:4" || fail "stats.json last_error"
[ "$(epoch)" = "$e1" ] || fail "a failed batch made an epoch"
exported_ids | grep -q '^bad-' && fail "lines of the failed batch were applied"
verify "after a malformed line"

step "the same, written line by line: earlier writes of the batch are not applied either"
$PY - "$M/ingest" "$WORK/bad.jsonl" <<'PYEOF' || fail "line-by-line check failed"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
lines = open(sys.argv[2], "rb").read().splitlines(keepends=True)
for n, line in enumerate(lines, 1):
    try:
        os.write(fd, line)
    except OSError as e:
        assert n == 4 and e.errno == errno.EINVAL, (n, e)
        break
else:
    sys.exit("no write failed")
try:
    os.close(fd)
    sys.exit("close of a failed batch succeeded")
except OSError as e:
    assert e.errno == errno.EINVAL, e
PYEOF
[ "$(epoch)" = "$e1" ] || fail "a failed batch made an epoch"
exported_ids | grep -q '^bad-' && fail "earlier writes of the failed batch were applied"

step "one batch, two files: the other file's lines are dropped with it and it is told"
$PY - "$M/ingest" "$M/ctl" <<'PYEOF' || fail "two-file batch check failed"
import errno, json, os, sys
a = os.open(sys.argv[1], os.O_WRONLY)
os.write(a, b'{"id": "two-a", "vector": [%s]}\n' % b",".join([b"7"] * 16))
b = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.write(b, b'{"id": "two-b", "vector": [1, 2], }\n')
    sys.exit("malformed write accepted")
except OSError as e:
    assert e.errno == errno.EINVAL, e
ctl = json.load(open(sys.argv[2]))
assert ctl["pending"]["failed"] and "ingest:1" in ctl["pending"]["error"], ctl
# a further write into the failed batch is refused as well
try:
    os.write(a, b'{"id": "two-c", "vector": [%s]}\n' % b",".join([b"8"] * 16))
    sys.exit("write into a failed batch accepted")
except OSError as e:
    assert e.errno == errno.ECANCELED, e
for fd in (b, a):
    try:
        os.close(fd)
        sys.exit("close succeeded although the batch failed")
    except OSError as e:
        assert e.errno in (errno.EINVAL, errno.ECANCELED), e
PYEOF
exported_ids | grep -q '^two-' && fail "lines of the failed two-file batch were applied"
verify "after the two-file batch"

step "abort drops a pending batch; the file that staged it is told"
$PY - "$M/ingest" "$M/ctl" <<'PYEOF' || fail "abort check failed"
import errno, json, os, sys
a = os.open(sys.argv[1], os.O_WRONLY)
os.write(a, b'{"id": "aborted-0", "vector": [%s]}\n' % b",".join([b"9"] * 16))
with open(sys.argv[2], "w") as ctl:
    ctl.write("abort\n")
state = json.load(open(sys.argv[2]))
assert state["last_commit"]["outcome"] == "aborted" and state["pending"]["adds"] == 0, state
try:
    os.close(a)
    sys.exit("close after abort succeeded")
except OSError as e:
    assert e.errno == errno.ECANCELED, e
PYEOF
exported_ids | grep -q '^aborted-' && fail "an aborted line was applied"
err=$(echo frobnicate 2>&1 >"$M/ctl") && fail "ctl took an unknown command"
grep -q "Invalid argument" <<<"$err" || fail "unknown ctl command: $err"

step "vchunk add commits between two commits of the mount (the lock is taken at commit only)"
lines cli 0 1 200 >"$WORK/cli.jsonl"
e2=$(epoch)
lines held 0 0 300 >"$WORK/held.jsonl"
$PY - "$M/ingest" "$WORK/held.jsonl" "$VCHUNK" "$WORK/key" "$S" "$WORK/cli.jsonl" <<'PYEOF' ||
import os, subprocess, sys
ingest, held, vchunk, key, session, cli = sys.argv[1:]
fd = os.open(ingest, os.O_WRONLY)
os.write(fd, open(held, "rb").read())
subprocess.run([vchunk, "add", "--key", key, session, cli], check=True, stdout=subprocess.DEVNULL)
os.close(fd)
PYEOF
	fail "vchunk add while the mount had lines staged, then the mount's commit"
[ "$(epoch)" = $((e2 + 2)) ] || fail "the mount did not commit on top of vchunk add's epoch: $(epoch) vs $e2; $(cat "$M/ctl")"
exported_ids >"$WORK/ids"
for id in cli-0 cli-1 held-0; do grep -qx "$id" "$WORK/ids" || fail "$id missing"; done
verify "after vchunk add between commits"

step "a writer holding the lock: the other gets a busy error naming the holder"
# vchunk add slowed by injected store latency holds the lock for seconds
lines slow 0 0 400 >"$WORK/slow.jsonl"
VCHUNK_FAULT=latency_ms=150 "$VCHUNK" add --key "$WORK/key" "$S" "$WORK/slow.jsonl" \
	>/dev/null 2>"$WORK/slow.err" &
slow=$!
for i in $(seq 200); do
	[ -e "$S/lock" ] && break
	kill -0 $slow 2>/dev/null || break
	sleep 0.05
done
[ -e "$S/lock" ] || fail "vchunk add never took the lock"
lines busy 0 0 500 >"$WORK/busy.jsonl"
err=$(cat "$WORK/busy.jsonl" 2>&1 >"$M/ingest") && fail "the mount committed under a held lock"
grep -q "busy" <<<"$err" || fail "not a busy error: $err"
jq -r .error "$M/ctl" | grep -qi "lock" || fail "ctl does not explain: $(jq -r .error "$M/ctl")"
[ "$(jq -r .last_commit.errno "$M/ctl")" = EBUSY ] || fail "ctl errno is not EBUSY"
wait $slow || fail "the slow vchunk add failed: $(cat "$WORK/slow.err")"
exported_ids >"$WORK/ids"
grep -qx slow-0 "$WORK/ids" || fail "slow-0 missing"
grep -qx busy-0 "$WORK/ids" && fail "the refused batch was applied"
# and the mount commits again once the lock is free
cat "$WORK/busy.jsonl" >"$M/ingest" || fail "ingest after the lock was released failed"
exported_ids | grep -qx busy-0 || fail "busy-0 not committed on the second try"
verify "after the lock collision"

step "the mount committing (slowed by injected store latency): vchunk add gets a busy error"
M2=$WORK/mnt2
mkdir -p "$M2"
MOUNTS+=("$M2")
VCHUNK_FAULT=latency_ms=150 "$VCHUNKFS" -f -o rw,key_file="$WORK/key",manifest_ttl=0 "$S" "$M2" \
	2>"$WORK/log-slow" &
slow_daemon=$!
DAEMONS+=("$slow_daemon")
wait_mounted "$M2" "$slow_daemon"
lines mslow 0 0 700 >"$WORK/mslow.jsonl"
cat "$WORK/mslow.jsonl" >"$M2/ingest" &
writer=$!
for i in $(seq 200); do
	[ -e "$S/lock" ] && break
	sleep 0.05
done
[ -e "$S/lock" ] || fail "the mount never took the lock"
lines clash 0 0 800 >"$WORK/clash.jsonl"
err=$("$VCHUNK" add --key "$WORK/key" "$S" "$WORK/clash.jsonl" 2>&1) &&
	fail "vchunk add committed while the mount held the lock"
grep -qi "busy\|lock" <<<"$err" || fail "vchunk add's error is not about the lock: $err"
wait $writer || fail "the mount's slow commit failed: $(cat "$M2/ctl")"
fusermount3 -u "$M2"
wait_exit "$slow_daemon" 20
exported_ids >"$WORK/ids"
grep -qx mslow-0 "$WORK/ids" || fail "the slow mount's line is missing"
grep -qx clash-0 "$WORK/ids" && fail "the refused vchunk add was applied"
verify "after vchunk add collided with the mount"

step "a duplicate id fails the commit naming its line; nothing of the batch applied"
{
	lines dup 0 0 600
	lines new 3 3
} >"$WORK/dup.jsonl"
err=$(cat "$WORK/dup.jsonl" 2>&1 >"$M/ingest") && fail "a duplicate id was accepted"
grep -q "File exists" <<<"$err" || fail "not EEXIST: $err"
jq -r .error "$M/ctl" | grep -q "ingest:2" || fail "ctl does not name line 2: $(jq -r .error "$M/ctl")"
exported_ids | grep -qx dup-0 && fail "the line before the duplicate was applied"
verify "at the end"

step "deleting an id that is not there fails the commit; the ids before it stay"
# cat, not the shell's printf: a shell ignores the result of closing a builtin's redirection
printf 'new-4\nno-such-id\n' >"$WORK/del.txt"
err=$(cat "$WORK/del.txt" 2>&1 >"$M/delete") && fail "deleting a missing id succeeded"
grep -q "No such file or directory" <<<"$err" || fail "not ENOENT: $err"
jq -r .error "$M/ctl" | grep -q "delete:2" || fail "ctl does not name line 2: $(jq -r .error "$M/ctl")"
exported_ids | grep -qx new-4 || fail "new-4 was deleted although its batch failed"

step "four processes write at once: every line committed, commits serialised"
commits=$(stat_json "$M" .writes.commits)
pids=()
for p in 0 1 2 3; do
	lines "par$p" 0 49 $((1000 + 1000 * p)) >"$WORK/par$p.jsonl"
	cat "$WORK/par$p.jsonl" >"$M/ingest" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent writer's close failed: $(cat "$M/ctl")"; done
exported_ids >"$WORK/ids"
[ "$(grep -c '^par[0-3]-' "$WORK/ids")" = 200 ] || fail "not all 200 concurrent lines committed"
made=$(($(stat_json "$M" .writes.commits) - commits))
if [ "$made" -lt 1 ] || [ "$made" -gt 4 ]; then fail "$made commits for four writers"; fi
[ "$(epoch)" = "$(jq -r .epoch "$S/manifest.json")" ] || fail "the mount is not at the stored epoch"
verify "after concurrent writers"

fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 20
assert_clean_unmount "$M"
echo "PASS"
