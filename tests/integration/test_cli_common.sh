#!/usr/bin/env bash
# Helpers shared by the vchunk command-line integration tests (sourced by test_cli_*.sh, not a
# test itself): a scratch directory, failure reporting, and an independent file comparison.
set -euo pipefail

: "${VCHUNK:?set VCHUNK to the built vchunk binary}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=/usr/bin/python3
NGINX_SH=${VCHUNK_TEST_NGINX:-$ROOT/tests/integration/nginx.sh}
GEN="$PY $ROOT/tools/gen-sample"
# the tests choose their keys explicitly
unset VCHUNK_KEY_FILE VCHUNK_PASSPHRASE VCHUNK_FAULT

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vchunk-cli-test.XXXXXX")
CLEANUP=()
cleanup() {
	local c
	for c in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do
		eval "$c" || true
	done
	# VCHUNK_TEST_KEEP=1 leaves the work directory for a post-mortem
	if [ -n "${VCHUNK_TEST_KEEP:-}" ]; then
		echo "   work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

step() { printf '== %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# expect_fail CODE PATTERN CMD...: CMD must exit with CODE and print PATTERN (grep -E) on stderr.
expect_fail() {
	local code=$1 pattern=$2 rc=0
	shift 2
	"$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	if [ "$rc" -ne "$code" ]; then
		cat "$WORK/err" >&2
		fail "expected exit $code, got $rc: $*"
	fi
	if ! grep -Eq -- "$pattern" "$WORK/err"; then
		cat "$WORK/err" >&2
		fail "stderr of '$*' lacks /$pattern/"
	fi
}

# expect_stdout PATTERN: the last expect_fail's stdout matches PATTERN.
expect_stdout() {
	grep -Eq -- "$1" "$WORK/out" || {
		cat "$WORK/out" >&2
		fail "stdout lacks /$1/"
	}
}

# same_vectors INPUT EXPORTED.jsonl: every id of INPUT (any import format) is in the export
# with a bit-identical vector and equal metadata, and nothing else is. Parsed independently
# of vchunk, in Python.
same_vectors() {
	$PY - "$1" "$2" <<'PYEOF'
import json, sys
import numpy as np

def load(path):
    rows = {}
    if path.endswith(".jsonl"):
        for line in open(path, encoding="utf-8"):
            if not line.strip():
                continue
            r = json.loads(line)
            rows[str(r["id"])] = (np.array(r["vector"], dtype=np.float32), r.get("metadata"))
    elif path.endswith(".csv"):
        lines = open(path, encoding="utf-8").read().splitlines()
        for i, line in enumerate(lines):
            f = line.split(",")
            if i == 0:
                try:
                    float(f[1])
                except ValueError:
                    continue
            rows[f[0]] = (np.array([float(x) for x in f[1:]], dtype=np.float32), None)
    elif path.endswith(".fvecs"):
        raw = np.fromfile(path, dtype="<i4")
        d = int(raw[0])
        for i, row in enumerate(raw.reshape(-1, d + 1)):
            rows[str(i)] = (row[1:].view("<f4").copy(), None)
    elif path.endswith(".npy"):
        for i, row in enumerate(np.load(path)):
            rows[str(i)] = (row.astype(np.float32), None)
    return rows

a, b = load(sys.argv[1]), load(sys.argv[2])
if set(a) != set(b):
    sys.exit("ids differ: %d only in input, %d only in export"
             % (len(set(a) - set(b)), len(set(b) - set(a))))
for k in a:
    va, ma = a[k]
    vb, mb = b[k]
    if va.shape != vb.shape or not np.array_equal(va.view(np.uint32), vb.view(np.uint32)):
        sys.exit("vector of id %r differs" % k)
    if (ma or None) != (mb or None):
        sys.exit("metadata of id %r differs: %r != %r" % (k, ma, mb))
print("   %d ids, vectors bit-exact, metadata equal" % len(a))
PYEOF
}

# start_nginx: start a throwaway nginx for this test; sets BASE (its URL). Stopped at exit.
start_nginx() {
	NGINX_DIR="$WORK/nginx"
	BASE=$("$NGINX_SH" start "$NGINX_DIR" $$)
	CLEANUP+=("'$NGINX_SH' stop '$NGINX_DIR'")
}
