#!/usr/bin/env bash
# Writer for the crash tests: runs the commits of a crash_model.py plan from commit START on,
# one `vchunk` command per commit, printing "begin I" before and "acked I" after each commit
# that succeeded. Exits 1 (naming the commit) on the first failure.
#
#   crash_writer.sh PLAN_DIR SESSION KEY START [LAST]
set -euo pipefail
: "${VCHUNK:?set VCHUNK to the built vchunk binary}"
plan=$1 session=$2 key=$3 start=$4 last=${5:-1000000000}

while IFS=$'\t' read -r i op a b; do
	[ "$i" -ge "$start" ] || continue
	[ "$i" -le "$last" ] || break
	echo "begin $i"
	rc=0
	case "$op" in
	add) "$VCHUNK" add --key "$key" "$session" "$plan/$a" >/dev/null || rc=$? ;;
	delete)
		# shellcheck disable=SC2086 # the ids are space-separated on purpose
		"$VCHUNK" delete --key "$key" "$session" $a >/dev/null || rc=$?
		;;
	delete-filter) "$VCHUNK" delete --key "$key" --filter "$a" "$session" >/dev/null || rc=$? ;;
	update) "$VCHUNK" update --key "$key" "$session" "$a" "$b" >/dev/null || rc=$? ;;
	compact) "$VCHUNK" compact --key "$key" "$session" >/dev/null || rc=$? ;;
	gc) "$VCHUNK" gc --key "$key" "$session" >/dev/null || rc=$? ;;
	*)
		echo "crash_writer.sh: unknown op '$op' at commit $i" >&2
		exit 1
		;;
	esac
	if [ "$rc" -ne 0 ]; then
		echo "crash_writer.sh: commit $i ($op $a) failed with exit $rc" >&2
		exit 1
	fi
	echo "acked $i"
done <"$plan/ops.tsv"
echo "done"
