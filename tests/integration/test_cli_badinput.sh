#!/usr/bin/env bash
# vchunk import of bad input: each problem stops the import with exit 1, a message naming the
# file and the line or row, and no session left behind (nor any change to an existing one).
set -euo pipefail
source "$(dirname "$0")/test_cli_common.sh"
cd "$WORK"

# bad_import FILE PATTERN: import must fail naming PATTERN and leave no session directory
bad_import() {
	local file=$1 pattern=$2
	rm -rf sess
	expect_fail 1 "$pattern" "$VCHUNK" import --no-encryption --chunk-size 2 "$file" sess
	if [ -e sess ]; then
		find sess >&2
		fail "$file: a failed import left sess behind"
	fi
	printf '   %s\n' "$(grep -m1 "vchunk: " "$WORK/err")"
}

# rows N DIM: N valid JSONL lines of DIM values (ids r0, r1, ...)
rows() {
	$PY -c "
import sys
n, d = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    print('{\"id\": \"r%d\", \"vector\": [%s]}' % (i, ','.join(str((i * 7 + j) % 11 - 5) for j in range(d))))" "$1" "$2"
}

step "JSONL: wrong dimension on line 17 (after chunks were already written)"
{ rows 16 384; echo '{"id": "x", "vector": ['"$(seq -s, 383)"']}'; } >dim.jsonl
bad_import dim.jsonl "dim\.jsonl:17: vector has 383 values, expected 384"

step "JSONL: malformed line, duplicate id, non-number, missing vector"
{ rows 5 4; echo '{"id": "x", "vector": [1,2,3,4]'; } >malformed.jsonl
bad_import malformed.jsonl "malformed\.jsonl:6: malformed JSON"
{ rows 5 4; echo '{"id": "r2", "vector": [1,2,3,4]}'; } >dup.jsonl
bad_import dup.jsonl "dup\.jsonl:6: .*duplicate id"
{ rows 3 4; echo '{"id": "x", "vector": [1,"a",3,4]}'; } >nan.jsonl
bad_import nan.jsonl "nan\.jsonl:4: value 2 of \"vector\" is not a number"
{ rows 3 4; echo '{"id": "x"}'; } >novec.jsonl
bad_import novec.jsonl "novec\.jsonl:4: \"vector\" is missing"

step "CSV: NaN, Inf, wrong dimension, missing values"
printf 'a,1,2\nb,3,nan\n' >nan.csv
bad_import nan.csv "nan\.csv:2: value 2 is NaN"
printf 'id,x,y\na,1,2\nb,inf,2\n' >inf.csv
bad_import inf.csv "inf\.csv:3: value 1 is infinite"
printf 'a,1,2\nb,1,2,3\n' >dim.csv
bad_import dim.csv "dim\.csv:2: vector has 3 values, expected 2"

step "fvecs: truncated last row, NaN in a row, inconsistent dimension"
$GEN --count 10 --dim 8 ok.fvecs 2>/dev/null
head -c $((10 * 36 - 6)) ok.fvecs >trunc.fvecs
bad_import trunc.fvecs "trunc\.fvecs: row 9: truncated row"
$PY -c "
import numpy as np
raw = np.fromfile('ok.fvecs', dtype='<i4').reshape(10, 9)
raw.view('<f4')[4, 3] = np.inf
raw.tofile('inf.fvecs')
raw.view('<f4')[4, 3] = 1
raw[6, 0] = 7
raw.tofile('dimjump.fvecs')"
bad_import inf.fvecs "inf\.fvecs: row 4: value 3 is infinite"
bad_import dimjump.fvecs "dimjump\.fvecs: row 6: vector has 7 values, expected 8"

step "npy: float64, 1-D, Fortran order, truncated data, garbage header"
$PY -c "
import numpy as np
a = np.arange(12, dtype=np.float32).reshape(3, 4)
np.save('f8.npy', a.astype(np.float64))
np.save('oned.npy', a.ravel())
np.save('fortran.npy', np.asfortranarray(a))
np.save('ok.npy', a)
raw = open('ok.npy', 'rb').read()
open('trunc.npy', 'wb').write(raw[:-10])
open('header.npy', 'wb').write(raw.replace(b\"'descr'\", b\"'descr' \", 1).replace(b'(3, 4)', b'(3; 4)'))"
bad_import f8.npy "f8\.npy: array dtype is '<f8'"
bad_import oned.npy "oned\.npy: array has 1 dimensions"
bad_import fortran.npy "fortran\.npy: array is in Fortran order"
bad_import trunc.npy "trunc\.npy: row 2: truncated"
bad_import header.npy "header\.npy: bad \.npy header"

step "unknown extension, missing file, empty input"
: >empty.jsonl
bad_import empty.jsonl "no vectors"
bad_import data.txt "unknown input format"
bad_import absent.jsonl "absent\.jsonl"

step "SIGTERM during an import: exit 1 and nothing left behind"
$GEN --count 3000 --dim 16 big.jsonl 2>/dev/null
rm -rf sess
# 20 ms of injected latency per store operation keeps the import busy for a few seconds
VCHUNK_FAULT=latency_ms=20 timeout 60 "$VCHUNK" import --no-encryption --chunk-size 20 big.jsonl \
	sess >/dev/null 2>term.err &
pid=$!
sleep 1
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 1 ] || fail "interrupted import exited $rc"
grep -q "interrupted" term.err || fail "no 'interrupted' message"
[ ! -e sess ] || fail "an interrupted import left sess behind"
printf '   %s\n' "$(head -1 term.err)"

step "a failed import into an existing session leaves it untouched"
rows 4 4 >good.jsonl
"$VCHUNK" import --no-encryption good.jsonl keep >/dev/null
before=$(cd keep && find . -type f -exec sha256sum {} + | sort)
expect_fail 1 "exists at keep" "$VCHUNK" import --no-encryption dim.jsonl keep
expect_fail 1 "exists at keep" "$VCHUNK" import --no-encryption good.jsonl keep
after=$(cd keep && find . -type f -exec sha256sum {} + | sort)
[ "$before" = "$after" ] || fail "failed imports changed the existing session"
"$VCHUNK" verify keep | grep -q "^OK" || fail "existing session no longer verifies"

echo "test_cli_badinput: all passed"
