#!/usr/bin/env bash
# vchunk against damaged sessions: wrong key, flipped bit, truncated, copied, moved and missing
# chunks, tampered and malformed manifests. Each must fail with exit 1 and name the object;
# undamaged chunks stay readable.
set -euo pipefail
source "$(dirname "$0")/test_cli_common.sh"
cd "$WORK"

$GEN --count 2500 --dim 16 --clusters 6 --seed 11 data.jsonl 2>/dev/null
"$VCHUNK" keygen key >/dev/null
"$VCHUNK" keygen other-key >/dev/null
"$VCHUNK" import --key key --chunk-size 500 data.jsonl good >/dev/null
"$VCHUNK" import --key key --chunk-size 500 data.jsonl twin >/dev/null
# manifest + every chunk + every other object it lists (metadata, index objects)
objects=$(jq '1 + (.chunks | length) + (.objects | length)' good/manifest.json)
[ "$(jq '.chunks | length' good/manifest.json)" = 5 ] || fail "2500 vectors in chunks of 500 should make 5 chunks"
"$VCHUNK" verify --key key good | grep -q "^OK: $objects objects verified$" ||
	fail "a fresh session should verify as $objects objects (manifest, chunks, metadata, index)"
query='[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0,1.1,1.2,1.3,1.4,1.5,1.6]'

# fresh NAME: a copy of the good session to damage
fresh() {
	rm -rf "$1"
	cp -a good "$1"
}

flip_bit() {
	$PY -c "
import os, sys
p = sys.argv[1]; off = os.path.getsize(p) // 2
with open(p, 'r+b') as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x10]))" "$1"
}

step "wrong key: exit 1 and the message names the key ids"
expect_fail 1 "key id" "$VCHUNK" verify --key other-key good
expect_fail 1 "key id" "$VCHUNK" query --key other-key good "$query"
expect_fail 1 "key id" "$VCHUNK" export --key other-key good out.jsonl
[ ! -e out.jsonl ] || fail "a failed export left out.jsonl"

step "one flipped bit in chunks/chunk-2.cbor: verify names it, query fails with the path"
fresh flipped
flip_bit flipped/chunks/chunk-2.cbor
expect_fail 1 "problem" "$VCHUNK" verify --key key flipped
expect_stdout "chunks/chunk-2\.cbor"
if grep -q "chunk-[0134]\.cbor" "$WORK/out"; then fail "verify blamed an intact chunk"; fi
expect_fail 1 "chunks/chunk-2\.cbor" "$VCHUNK" query --exact --key key flipped "$query"
expect_fail 1 "chunks/chunk-2\.cbor" "$VCHUNK" cat --key key flipped chunks/chunk-2.cbor
for n in 0 1 3 4; do
	"$VCHUNK" cat --key key flipped "chunks/chunk-$n.cbor" >cat.out ||
		fail "intact chunk-$n no longer readable"
	cmp -s cat.out <("$VCHUNK" cat --key key good "chunks/chunk-$n.cbor") ||
		fail "chunk-$n reads differently"
done

step "truncated chunk: verify names chunks/chunk-1.cbor"
fresh truncated
truncate -s -37 truncated/chunks/chunk-1.cbor
expect_fail 1 "problem" "$VCHUNK" verify --key key truncated
expect_stdout "chunks/chunk-1\.cbor"

step "chunk copied from another session (same key, same data): detected"
fresh spliced
cp twin/chunks/chunk-1.cbor spliced/chunks/chunk-1.cbor
expect_fail 1 "problem" "$VCHUNK" verify --key key spliced
expect_stdout "chunks/chunk-1\.cbor"
expect_fail 1 "chunks/chunk-1\.cbor" "$VCHUNK" cat --key key spliced chunks/chunk-1.cbor

step "chunk moved to another path (chunk-3 stored as chunk-4): detected"
fresh moved
mv moved/chunks/chunk-3.cbor moved/chunks/chunk-4.cbor
expect_fail 1 "problem" "$VCHUNK" verify --key key moved
expect_stdout "chunks/chunk-4\.cbor"
expect_stdout "chunks/chunk-3\.cbor"

step "missing chunk: verify names it, export fails and leaves no file"
fresh missing
rm missing/chunks/chunk-0.cbor
expect_fail 1 "problem" "$VCHUNK" verify --key key missing
expect_stdout "chunks/chunk-0\.cbor"
expect_fail 1 "chunks/chunk-0\.cbor" "$VCHUNK" export --key key missing missing.jsonl
[ ! -e missing.jsonl ] || fail "a failed export left missing.jsonl"

step "tampered manifest (a value changed, still valid JSON): refused with the key"
fresh tampered
$PY -c "
import json
p = 'tampered/manifest.json'; m = json.load(open(p))
m['created_at'] = m['created_at'] - 1000
json.dump(m, open(p, 'w'), indent=2)"
expect_fail 1 "manifest" "$VCHUNK" verify --key key tampered
expect_stdout "manifest\.json"
expect_fail 1 "manifest" "$VCHUNK" inspect --key key tampered
expect_fail 1 "manifest" "$VCHUNK" query --key key tampered "$query"

step "malformed manifest JSON: every command fails with exit 1 naming manifest.json"
fresh broken
head -c 200 good/manifest.json >broken/manifest.json
expect_fail 1 "manifest" "$VCHUNK" verify --key key broken
expect_fail 1 "manifest" "$VCHUNK" inspect broken
expect_fail 1 "manifest" "$VCHUNK" query --key key broken "$query"

step "plaintext session (--no-encryption): a flipped bit is still detected"
"$VCHUNK" import --no-encryption --chunk-size 500 data.jsonl plain >/dev/null
flip_bit plain/chunks/chunk-3.cbor
expect_fail 1 "problem" "$VCHUNK" verify plain
expect_stdout "chunks/chunk-3\.cbor"

step "the original session is still intact"
"$VCHUNK" verify --key key good | grep -q "^OK" || fail "good session damaged"

echo "test_cli_tamper: all passed"
