#!/usr/bin/env bash
# vchunk add / delete / update / compact / gc on a local directory and through a real nginx (S5
# bridge): each change is searchable at once, deleted vectors are never returned nor exported,
# a second writer is refused, a rollback is refused unless allowed, and after compaction and
# gc the session verifies and holds exactly the expected vectors.
set -euo pipefail
source "$(dirname "$0")/test_cli_common.sh"
cd "$WORK"
export XDG_STATE_HOME="$WORK/state"

$PY - <<'PYEOF'
import json, random
random.seed(7)
def rows(lo, hi, path):
    with open(path, "w") as f:
        for i in range(lo, hi):
            v = [random.uniform(-1, 1) for _ in range(16)]
            f.write(json.dumps({"id": "r%d" % i, "vector": v, "metadata": {"g": i % 4, "n": i}}) + "\n")
rows(0, 3000, "base.jsonl")
rows(3000, 3200, "more.jsonl")
PYEOF
"$VCHUNK" keygen key >/dev/null
vec_of() { jq -c --arg id "$1" 'select(.id == $id) | .vector' "${2:-more.jsonl}"; }

# top ID SESSION VECTOR [--exact]: the best hit's id
top() { timeout 60 "$VCHUNK" query --key key -k 1 ${4:-} "$1" "$2" | jq -r '.results[0].id'; }

# expected FINAL.jsonl: base + more, minus deleted ids, with updated metadata (python truth)
run_backend() {
	local S=$1 name=$2
	step "[$name] import (IVF), add 200: committed and searchable at once (index and exact)"
	timeout 120 "$VCHUNK" import --key key --index ivf --chunk-size 500 base.jsonl "$S" >/dev/null
	out=$(timeout 60 "$VCHUNK" add --key key "$S" more.jsonl)
	[ "$out" = "committed epoch 2: +200 added, -0 deleted" ] || fail "add printed '$out'"
	v=$(vec_of r3100)
	[ "$(top "$S" "$v")" = r3100 ] || fail "added r3100 not found through the index"
	[ "$(top "$S" "$v" --exact)" = r3100 ] || fail "added r3100 not found exactly"
	expect_fail 1 "already exists" "$VCHUNK" add --key key "$S" more.jsonl

	step "[$name] delete by id: never returned, not exported; re-add works"
	out=$(timeout 60 "$VCHUNK" delete --key key "$S" r3100 r5)
	[ "$out" = "committed epoch 3: +0 added, -2 deleted" ] || fail "delete printed '$out'"
	[ "$(top "$S" "$v")" != r3100 ] || fail "deleted r3100 returned by the index"
	[ "$(top "$S" "$v" --exact)" != r3100 ] || fail "deleted r3100 returned exactly"
	expect_fail 1 "no live vector with id 'r5'" "$VCHUNK" delete --key key "$S" r5
	jq -c 'select(.id == "r3100")' more.jsonl >readd.jsonl
	timeout 60 "$VCHUNK" add --key key "$S" readd.jsonl | grep -q "+1 added" || fail "re-add"
	[ "$(top "$S" "$v")" = r3100 ] || fail "re-added r3100 not found"

	step "[$name] update: search returns the new metadata; delete --filter; empty filter refused"
	timeout 60 "$VCHUNK" update --key key "$S" r7 '{"g": 9, "note": "updated"}' >/dev/null
	timeout 60 "$VCHUNK" query --key key -k 1 --filter '{"note": "updated"}' "$S" "$(vec_of r7 base.jsonl)" |
		jq -e '.results[0].id == "r7" and .results[0].metadata.g == 9' >/dev/null ||
		fail "update not visible to search"
	expect_fail 1 "empty filter" "$VCHUNK" delete --key key --filter '{}' "$S"
	out=$(timeout 60 "$VCHUNK" delete --key key --filter '{"g": 3}' "$S")
	# g == 3: 750 of base and 50 of more, less r7 (now g 9)
	[ "$out" = "committed epoch 6: +0 added, -799 deleted" ] || fail "filter delete printed '$out'"
	# 3202 rows written (3000 + 200 + the re-add + the update's new row), 2400 of them live;
	# the 202 added since the import sit in the recent tier
	timeout 30 "$VCHUNK" inspect "$S" |
		grep -q "^vectors  *2400 live; 802 deleted rows still stored, 202 rows in the recent tier$" ||
		fail "inspect does not count the deleted and recent rows"

	step "[$name] a second writer is refused while the lock is held"
	lock="{\"host\":\"$(hostname)\",\"pid\":$$,\"time\":$(date +%s)}"
	if [ "$name" = dir ]; then
		printf '%s' "$lock" >"$S/lock"
	else
		curl -sf -X PUT --data-binary "$lock" "$BASE/s5/fs/tests/write/lock" >/dev/null
	fi
	expect_fail 1 "locked by pid $$" "$VCHUNK" delete --key key "$S" r8
	if [ "$name" = dir ]; then rm "$S/lock"; else curl -sf -X DELETE "$BASE/s5/fs/tests/write/lock" >/dev/null; fi

	step "[$name] exported set equals the expected one; compact and gc keep it; verify passes"
	$PY - <<'PYEOF'
import json
rows = {}
for path in ("base.jsonl", "more.jsonl"):
    for line in open(path):
        r = json.loads(line); rows[r["id"]] = r
for gone in ("r5",):
    rows.pop(gone)
rows["r7"]["metadata"] = {"g": 9, "note": "updated"}
rows = {k: r for k, r in rows.items() if r["metadata"].get("g") != 3}
with open("expected.jsonl", "w") as f:
    for r in rows.values():
        f.write(json.dumps(r) + "\n")
PYEOF
	rm -f out.jsonl
	timeout 60 "$VCHUNK" export --key key "$S" out.jsonl 2>/dev/null
	same_vectors expected.jsonl out.jsonl
	timeout 60 "$VCHUNK" verify --key key "$S" | grep -q "^OK" || fail "verify after changes"
	timeout 120 "$VCHUNK" compact --key key "$S" | grep -q "^committed epoch 7:" || fail "compact"
	timeout 30 "$VCHUNK" inspect "$S" | grep -q "^vectors  *2400$" ||
		fail "inspect after compact: deleted or recent rows left"
	timeout 60 "$VCHUNK" gc --key key --grace 0 "$S" | grep -Eq "^removed [1-9][0-9]* objects$" ||
		fail "gc removed nothing"
	timeout 60 "$VCHUNK" verify --key key "$S" | grep -q "^OK" || fail "verify after compact + gc"
	rm -f out.jsonl
	timeout 60 "$VCHUNK" export --key key "$S" out.jsonl 2>/dev/null
	same_vectors expected.jsonl out.jsonl
	[ "$(top "$S" "$(vec_of r3101)")" = r3101 ] || fail "r3101 not found after compaction"

	step "[$name] storage serving an older manifest is a rollback: refused unless allowed"
	old=$(timeout 60 "$VCHUNK" cat --key key "$S" manifest.json)
	timeout 60 "$VCHUNK" delete --key key "$S" r9 >/dev/null
	if [ "$name" = dir ]; then
		printf '%s' "$old" >"$S/manifest.json"
	else
		printf '%s' "$old" | curl -sf -X PUT --data-binary @- "$BASE/s5/fs/tests/write/manifest.json" >/dev/null
	fi
	expect_fail 1 "rollback: .* is at epoch 7, but epoch 8 was seen before" \
		"$VCHUNK" inspect --key key "$S"
	timeout 60 "$VCHUNK" inspect --key key --allow-rollback "$S" | grep -q "^epoch  *7$" ||
		fail "--allow-rollback"
}

run_backend "$WORK/local" dir

step "add suggests compaction once the rows added since the index are a quarter of the session"
head -2000 base.jsonl >first.jsonl
sed -n 2001,2500p base.jsonl >second.jsonl
sed -n 2501,3000p base.jsonl >third.jsonl
timeout 120 "$VCHUNK" import --key key --index ivf --chunk-size 500 first.jsonl "$WORK/grow" >/dev/null
timeout 60 "$VCHUNK" add --key key "$WORK/grow" second.jsonl >/dev/null 2>err
if grep -q "compact" err; then fail "compaction suggested for 500 recent rows of 2500: $(cat err)"; fi
timeout 60 "$VCHUNK" add --key key "$WORK/grow" third.jsonl >/dev/null 2>err
grep -q "note: 1000 of the 3000 stored rows were added since the index was built; \`vchunk compact $WORK/grow\`" err ||
	fail "no compaction suggested for 1000 recent rows of 3000: $(cat err)"

start_nginx
echo "   nginx at $BASE"
run_backend "s5+$BASE/tests/write" s5
echo "PASS"
