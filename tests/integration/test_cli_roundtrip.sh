#!/usr/bin/env bash
# vchunk on the dir backend: import each input format → verify → export → compare with the
# input (ids, bit-exact vectors, metadata); keys (file, passphrase, none); usage and exit codes.
set -euo pipefail
source "$(dirname "$0")/test_cli_common.sh"
cd "$WORK"

step "usage: --help, --version, unknown command/option (exit 2), missing argument (exit 2)"
"$VCHUNK" --help | grep -q "import" || fail "vchunk --help lists no commands"
"$VCHUNK" --version | grep -Eq "^vchunk [0-9]" || fail "vchunk --version"
"$VCHUNK" import --help | grep -q -- "--no-encryption" || fail "import --help"
"$VCHUNK" query --help | grep -q -- "--threshold" || fail "query --help"
expect_fail 2 "unknown command" "$VCHUNK" frobnicate
expect_fail 2 "unknown option '--bogus'.*" "$VCHUNK" verify --bogus s
grep -q "usage: vchunk verify" "$WORK/err" || fail "no short usage after a bad option"
expect_fail 2 "needs an argument" "$VCHUNK" inspect s --key
expect_fail 2 "missing SESSION" "$VCHUNK" verify
expect_fail 2 "unknown metric" "$VCHUNK" import --no-encryption --metric hamming x.jsonl s

step "keygen writes a 0600 key and refuses to overwrite it; the key is never printed"
"$VCHUNK" keygen key >keygen.out
[ "$(stat -c %a key)" = 600 ] || fail "key mode is $(stat -c %a key)"
[ "$(stat -c %s key)" = 32 ] || fail "key is not 32 bytes"
grep -q "key id [0-9a-f]\{16\}" keygen.out || fail "keygen does not show the key id"
if grep -qF "$(od -An -tx1 key | tr -d ' \n')" keygen.out; then fail "keygen printed the key"; fi
expect_fail 1 "vchunk: " "$VCHUNK" keygen key

step "generate inputs in four formats"
$GEN --count 2500 --dim 24 --clusters 8 --seed 3 sample.jsonl 2>/dev/null
$GEN --count 1200 --dim 16 --seed 4 sample.csv 2>/dev/null
$GEN --count 1500 --dim 32 --seed 5 sample.fvecs 2>/dev/null
$GEN --count 900 --dim 8 --seed 6 sample.npy 2>/dev/null
# a hand-written JSONL with awkward ids, values and metadata
cat >edge.jsonl <<'JSON'
{"id": "ünïcode \"quoted\" \\ id", "vector": [-0.0, 1e-45, 3.4028235e38, -1.17549435e-38], "metadata": {"nested": {"a": [1, 2.5, null, true]}, "s": "x\ny"}}
{"id": "no-metadata", "vector": [0.1, 0.2, 0.3, 0.4]}
{"id": 42, "vector": [1, 2, 3, 4], "metadata": {}}
JSON

step "import refuses to run without a key unless --no-encryption is given"
expect_fail 2 "vchunk keygen" "$VCHUNK" import sample.jsonl nokey
[ ! -e nokey ] || fail "a refused import left nokey behind"

for input in sample.jsonl sample.csv sample.fvecs sample.npy edge.jsonl; do
	name=${input%.*}-${input##*.}
	step "$input: import (key file, chunk size 500) → verify → export .jsonl → compare"
	"$VCHUNK" import --key key --chunk-size 500 "$input" "s-$name" >/dev/null
	"$VCHUNK" verify --key key "s-$name" | grep -Eq "^OK: [0-9]+ objects verified$" ||
		fail "verify of s-$name"
	"$VCHUNK" export --key key "s-$name" "out-$name.jsonl" 2>/dev/null
	same_vectors "$input" "out-$name.jsonl"
done

step "edge.jsonl: -0.0 keeps its sign, 42 became the id \"42\", {} metadata kept"
grep -q '"id":"42".*"metadata":{}}$' out-edge-jsonl.jsonl || fail "id 42 or its {} metadata lost"
grep -q '"id":"no-metadata","vector":\[[^]]*\]}$' out-edge-jsonl.jsonl || fail "metadata invented"
grep -q '"vector":\[-0.0,' out-edge-jsonl.jsonl || fail "-0.0 lost its sign"

step "fvecs and npy export back to .fvecs byte for byte (row-number ids keep their order)"
"$VCHUNK" export --key key s-sample-fvecs back.fvecs 2>/dev/null
cmp sample.fvecs back.fvecs || fail "fvecs round trip differs"
"$VCHUNK" export --key key s-sample-npy back-npy.fvecs 2>/dev/null
$PY -c "
import numpy as np, sys
a = np.load('sample.npy'); raw = np.fromfile('back-npy.fvecs', dtype='<i4').reshape(a.shape[0], -1)
assert (raw[:, 0] == a.shape[1]).all() and np.array_equal(raw[:, 1:].view('<f4').view(np.uint32), a.view(np.uint32)), 'npy -> fvecs differs'
print('   npy rows bit-exact in the .fvecs export')"
expect_fail 1 "exists" "$VCHUNK" export --key key s-sample-fvecs back.fvecs
expect_fail 2 "must end in" "$VCHUNK" export --key key s-sample-fvecs back.txt

step "VCHUNK_KEY_FILE works wherever --key does"
VCHUNK_KEY_FILE=key "$VCHUNK" verify s-sample-csv | grep -q "^OK" || fail "VCHUNK_KEY_FILE verify"
VCHUNK_KEY_FILE=key "$VCHUNK" cat s-sample-csv chunks/chunk-0.cbor >env-chunk0.cbor
head -c 1 env-chunk0.cbor | od -An -tx1 | tr -d ' ' | grep -Eq "^(a|b)" ||
	fail "cat did not print a CBOR map"

step "cat: manifest.json as stored (no key needed), a chunk decrypted"
cmp <("$VCHUNK" cat s-sample-csv manifest.json) s-sample-csv/manifest.json ||
	fail "cat manifest.json differs from the stored file"
"$VCHUNK" cat --key key s-sample-csv chunks/chunk-0.cbor >chunk0.cbor
[ -s chunk0.cbor ] || fail "cat chunk printed nothing"
if cmp -s chunk0.cbor s-sample-csv/chunks/chunk-0.cbor; then fail "cat printed ciphertext"; fi
"$VCHUNK" cat --key key s-sample-csv metadata.cbor >/dev/null || fail "cat metadata.cbor"
expect_fail 1 "no object chunks/chunk-99.cbor" "$VCHUNK" cat --key key s-sample-csv chunks/chunk-99.cbor

step "an encrypted session stores no plaintext id or metadata value"
if grep -rqa "doc-17\|science" s-sample-jsonl/chunks s-sample-jsonl/metadata.cbor 2>/dev/null; then
	fail "plaintext visible in encrypted objects"
fi

step "inspect: readable summary without a key; with the key the MAC is verified; --json"
"$VCHUNK" inspect s-sample-jsonl >inspect.txt
grep -q "^vectors  *2500$" inspect.txt || fail "inspect: vector count"
grep -q "^dimension  *24$" inspect.txt || fail "inspect: dimension"
grep -q "^chunks  *5," inspect.txt || fail "inspect: 2500/500 = 5 chunks"
grep -q "^MAC  *not checked" inspect.txt || fail "inspect: MAC without key"
grep -q "key id [0-9a-f]\{16\}" inspect.txt || fail "inspect: key id"
"$VCHUNK" inspect --key key s-sample-jsonl | grep -q "^MAC  *verified" || fail "inspect: MAC with key"
"$VCHUNK" inspect --json s-sample-jsonl | $PY -c "
import json, sys
s = json.load(sys.stdin)
assert s['total_vectors'] == 2500 and s['dim'] == 24 and s['metric'] == 'cosine', s
assert len(s['chunks']) == 5 and sum(c['vector_count'] for c in s['chunks']) == 2500
assert s['encryption']['enabled'] and s['mac'] == 'unchecked' and s['epoch'] >= 1
print('   inspect --json fields agree')"

step "passphrase session (VCHUNK_PASSPHRASE): import, verify; wrong passphrase fails"
VCHUNK_PASSPHRASE='correct horse' "$VCHUNK" import --metric l2 sample.csv s-pass >/dev/null
VCHUNK_PASSPHRASE='correct horse' "$VCHUNK" verify s-pass | grep -q "^OK" || fail "passphrase verify"
"$VCHUNK" inspect s-pass | grep -q "passphrase (argon2id" || fail "inspect: kdf"
VCHUNK_PASSPHRASE='wrong horse' expect_fail 1 "key id" "$VCHUNK" verify s-pass
expect_fail 1 "encrypted.*--key" "$VCHUNK" verify s-pass </dev/null

step "--passphrase on a terminal: asked twice without echo; progress bar only on a terminal"
if command -v script >/dev/null; then
	(sleep 0.5; printf 'tty words\n'; sleep 0.3; printf 'tty words\n') |
		timeout 60 script -qec "'$VCHUNK' import --passphrase sample.jsonl s-tty" /dev/null >tty.out
	grep -q "Repeat passphrase:" tty.out || fail "no confirmation prompt"
	if grep -q "tty words" tty.out; then fail "the passphrase was echoed"; fi
	grep -q "importing \[" tty.out || fail "no progress bar on a terminal"
	VCHUNK_PASSPHRASE='tty words' "$VCHUNK" verify s-tty | grep -q "^OK" || fail "tty passphrase verify"
	expect_fail 1 "terminal.*VCHUNK_PASSPHRASE" setsid "$VCHUNK" verify --passphrase s-tty
else
	echo "   (script(1) not installed: terminal prompt not exercised)"
fi
"$VCHUNK" import --no-encryption sample.jsonl s-notty 2>notty.err >/dev/null
if grep -q "importing \[" notty.err; then fail "progress bar drawn on a non-terminal"; fi

step "--no-encryption: plaintext objects, inspect says so, no key needed anywhere"
"$VCHUNK" import --no-encryption --metric dot sample.jsonl s-plain >/dev/null
"$VCHUNK" verify s-plain | grep -q "^OK" || fail "verify plaintext"
"$VCHUNK" inspect s-plain | grep -q "^encryption  *off" || fail "inspect: encryption off"
"$VCHUNK" export s-plain plain.jsonl 2>/dev/null
same_vectors sample.jsonl plain.jsonl

step "import into an existing session fails and leaves it untouched"
before=$(cd s-plain && find . -type f -exec sha256sum {} + | sort)
expect_fail 1 "exist" "$VCHUNK" import --no-encryption sample.csv s-plain
after=$(cd s-plain && find . -type f -exec sha256sum {} + | sort)
[ "$before" = "$after" ] || fail "import changed an existing session"

echo "test_cli_roundtrip: all passed"
