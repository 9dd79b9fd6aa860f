#!/usr/bin/env bash
# A session on the S5 bridge through a real nginx: reads work; with nginx stopped, reads of
# chunks not yet cached fail with EIO or ETIMEDOUT within the configured bound (no hang) and
# the mount stays browsable; with nginx back, the same reads succeed without remounting.
. "$(dirname "$0")/test_mount_common.sh"

NG=$WORK/nginx
mkdir -p "$NG"
CLEANUP+=("'$NGINX_SH' stop '$NG' >/dev/null 2>&1")
URL=$("$NGINX_SH" start "$NG" $$)
S="s5+${URL}/sess"
M=$WORK/mnt
TIMEOUT=3
RETRIES=1
make_session "$S" 4000 32 500
chunks=$("$VCHUNK" inspect --json --key "$WORK/key" "$S" | jq '.chunks | length')
[ "$chunks" -eq 8 ] || fail "expected 8 chunks, got $chunks"

step "mount $S; read through nginx"
mount_fg "$S" "$M" "$WORK/log" \
	-o key_file="$WORK/key",timeout=$TIMEOUT,retries=$RETRIES,cache_mb=1,manifest_ttl=1
[ "$(stat_json "$M" .backend.kind)" = s5 ] || fail "backend is not s5"
for i in 0 1; do
	timeout 30 cmp "$M/chunks/chunk-$i.cbor" "$(expected_chunk "$S" "$i")" || fail "chunk-$i"
done
for i in 2 3 4 5 6; do expected_chunk "$S" "$i" >/dev/null; done

# the bound: every try waits at most TIMEOUT, plus the backoff between tries, plus slack
bound=$(((RETRIES + 1) * TIMEOUT + 5))

# read_fails I: reading chunk-I fails with EIO or ETIMEDOUT within $bound seconds.
read_fails() {
	local i=$1 start rc=0 err elapsed
	start=$(date +%s%N)
	err=$(timeout 60 cat "$M/chunks/chunk-$i.cbor" 2>&1 >/dev/null) || rc=$?
	elapsed=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
	[ "$rc" -ne 124 ] || fail "reading chunk-$i hung"
	[ "$rc" -ne 0 ] || fail "reading chunk-$i succeeded without a backend"
	echo "$err" | grep -Eq "Input/output error|Connection timed out" ||
		fail "chunk-$i without a backend: $err"
	awk -v e="$elapsed" -v b="$bound" 'BEGIN {exit !(e <= b)}' || fail "chunk-$i took ${elapsed}s > ${bound}s"
	echo "   chunk-$i: '${err##*: }' after ${elapsed}s"
}

step "nginx frozen (SIGSTOP): requests time out within the bound, no hang"
master=$(cat "$NG/nginx.pid")
frozen=("$master" $(pgrep -P "$master"))
CLEANUP+=("kill -CONT ${frozen[*]} 2>/dev/null")
kill -STOP "${frozen[@]}"
read_fails 5
kill -CONT "${frozen[@]}"
timeout 30 cmp "$M/chunks/chunk-5.cbor" "$(expected_chunk "$S" 5)" || fail "chunk-5 after thaw"

step "nginx stopped: EIO/ETIMEDOUT within the bound, no hang"
"$NGINX_SH" stop "$NG"
for i in 2 3; do
	read_fails "$i"
done
grep -q "chunks/chunk-2.cbor" "$WORK/log" || fail "no log line names chunks/chunk-2.cbor"
kill -0 "$DAEMON_PID" || fail "the daemon died during the outage"
ls "$M/chunks" >/dev/null || fail "ls failed during the outage"
jq -e .mount "$M/stats.json" >/dev/null || fail "stats.json unreadable during the outage"
sleep 2 # let the manifest check fail at least once
[ "$(stat_json "$M" .mount.manifest_check_errors)" -ge 1 ] ||
	fail "no failed manifest check recorded during the outage"

step "nginx back on the same port: reads succeed without remounting"
[ "$("$NGINX_SH" start "$NG" $$)" = "$URL" ] || fail "nginx came back on another URL"
for i in 2 3 4; do
	timeout 30 cmp "$M/chunks/chunk-$i.cbor" "$(expected_chunk "$S" "$i")" ||
		fail "chunk-$i after nginx came back"
done
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 10
assert_clean_unmount "$M"

step "detached daemon over s5 (the backend opened before the fork keeps working after it)"
mount_bg "$S" "$M" -o key_file="$WORK/key",timeout=$TIMEOUT
timeout 30 cmp "$M/chunks/chunk-6.cbor" "$(expected_chunk "$S" 6)" || fail "chunk-6 detached"
fusermount3 -u "$M"
wait_exit "$DAEMON_PID" 10
assert_clean_unmount "$M"
echo "test_mount_s5: all passed"
