#!/usr/bin/env bash
# Recall after evolution: a Fashion-MNIST session (784-d, L2) goes through 10 rounds of
# `vchunk add`, `vchunk delete` and `vchunk compact`; its recall@10 (default search, against
# exact neighbours computed with numpy on the final live set) must be within 0.01 of a fresh
# import of the same final set (below it fails; above it is reported: evolution must not cost
# recall). Exact search on the evolved session must find the true
# neighbours (the live set is the model's). Then one more batch is added and left in the recent
# tier: the merged search (index + recent graph) must stay within 0.01 of that fresh recall.
#
# Sizes (environment): RECALL_BASE (20000), RECALL_ROUNDS (10), RECALL_ADD (2000),
# RECALL_DELETE (1000), RECALL_QUERIES (200), RECALL_SEED.
set -euo pipefail
source "$(dirname "$0")/test_cli_common.sh"
cd "$WORK"

"$VCHUNK" --help | grep -q "^  add " ||
	fail "this vchunk has no 'add' command: the write path (add, delete, compact) is missing"
"$VCHUNK" keygen key >/dev/null

timeout 900 $PY - "$VCHUNK" <<'PYEOF'
import gzip, json, os, subprocess, sys, time
import numpy as np

vchunk = sys.argv[1]
env = os.environ
BASE = int(env.get("RECALL_BASE", 20000))
ROUNDS = int(env.get("RECALL_ROUNDS", 10))
ADD = int(env.get("RECALL_ADD", 2000))
DELETE = int(env.get("RECALL_DELETE", 1000))
QUERIES = int(env.get("RECALL_QUERIES", 200))
SEED = int(env.get("RECALL_SEED", 20261128))
FMNIST = "/usr/share/datasets/fashion-mnist"
K = 10


def images(name):
    with gzip.open(os.path.join(FMNIST, name), "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        sys.exit("%s is not an idx image file" % name)
    # raw pixel values 0..255: L2 neighbours are those of the usual /255 scaling, and the
    # .jsonl files for `vchunk add` stay small (integers)
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, rows * cols).astype(np.float32)


def run(*args):
    t = time.time()
    p = subprocess.run([vchunk, *args], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit("FAIL: vchunk %s exited %d: %s" % (args[0], p.returncode, p.stderr.strip()))
    return p.stdout, time.time() - t


def write_jsonl(path, rows, ids):
    with open(path, "w") as f:
        for i in ids:
            f.write('{"id": "%d", "vector": [%s]}\n'
                    % (i, ",".join(map(str, rows[i].astype(np.int32).tolist()))))


def write_fvecs(path, rows):
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.int32)
    out[:, 0] = rows.shape[1]
    out[:, 1:] = np.ascontiguousarray(rows, dtype=np.float32).view(np.int32)
    out.tofile(path)


def search(session, *extra):
    out, secs = run("query", "--key", "key", "-k", str(K), "--format", "tsv",
                    "--batch", "queries.fvecs", *extra, session)
    answers, cur = [], []
    for line in out.split("\n"):
        if not line.strip():
            if cur:
                answers.append(cur)
            cur = []
            continue
        cur.append(line.split("\t")[1])
    if cur:
        answers.append(cur)
    if len(answers) != QUERIES:
        sys.exit("FAIL: %d answers for %d queries" % (len(answers), QUERIES))
    return answers, secs


def recall(answers, truth, to_row):
    found = sum(len(set(to_row(a) for a in ans) & set(t)) for ans, t in zip(answers, truth))
    return found / (K * len(truth))


train = images("train-images-idx3-ubyte.gz")
queries = images("t10k-images-idx3-ubyte.gz")[:QUERIES]
need = BASE + ROUNDS * ADD
if need > train.shape[0]:
    sys.exit("FAIL: %d rows needed, Fashion-MNIST has %d" % (need, train.shape[0]))
write_fvecs("queries.fvecs", queries)
rng = np.random.default_rng(SEED)

# ids are training row numbers: the base import (.npy) numbers its rows 0..BASE-1 itself
np.save("base.npy", train[:BASE])
_, secs = run("import", "--key", "key", "--metric", "l2", "base.npy", "evolved")
print("   import of %d x %d: %.1f s" % (BASE, train.shape[1], secs))
live = set(range(BASE))
nxt = BASE
for r in range(1, ROUNDS + 1):
    new = list(range(nxt, nxt + ADD))
    nxt += ADD
    write_jsonl("add.jsonl", train, new)
    _, t_add = run("add", "--key", "key", "evolved", "add.jsonl")
    live.update(new)
    gone = sorted(int(i) for i in rng.choice(sorted(live), DELETE, replace=False))
    _, t_del = run("delete", "--key", "key", "evolved", *[str(i) for i in gone])
    live.difference_update(gone)
    _, t_cmp = run("compact", "--key", "key", "evolved")
    print("   round %d: add %d %.1f s, delete %d %.1f s, compact %.1f s, %d live"
          % (r, ADD, t_add, DELETE, t_del, t_cmp, len(live)))
    os.remove("add.jsonl")

out, _ = run("inspect", "evolved")
field = {l.split()[0]: l.split()[1] for l in out.splitlines() if l.strip() and l[0] != " "}
count = field["vectors"]
print("   evolved: epoch %s, %s vectors" % (field["epoch"], count))
if int(count) != len(live):
    sys.exit("FAIL: evolved session counts %s vectors, %d are live" % (count, len(live)))

final = np.array(sorted(live))
np.save("final.npy", train[final])
_, secs = run("import", "--key", "key", "--metric", "l2", "final.npy", "fresh")
print("   fresh import of the final %d: %.1f s" % (len(final), secs))



def exact_truth(rows):
    """Exact neighbours in float64 (ties by row), as positions in rows, and row -> position."""
    fin = train[rows].astype(np.float64)
    q = queries.astype(np.float64)
    d = (q * q).sum(1)[:, None] - 2 * q @ fin.T + (fin * fin).sum(1)[None, :]
    return ([list(np.lexsort((np.arange(len(rows)), row))[:K]) for row in d],
            {int(row): i for i, row in enumerate(rows)})


truth, pos = exact_truth(final)

exact, _ = search("evolved", "--exact")
r_exact = recall(exact, truth, lambda a: pos.get(int(a), -1))
ans_e, t_e = search("evolved")
ans_f, t_f = search("fresh")
r_e = recall(ans_e, truth, lambda a: pos.get(int(a), -1))
r_f = recall(ans_f, truth, int)
print("   recall@10 over %d queries: evolved %.4f (%.2f s), fresh %.4f (%.2f s), exact %.4f"
      % (QUERIES, r_e, t_e, r_f, t_f, r_exact))
if r_exact < 0.999:
    sys.exit("FAIL: exact search on the evolved session finds %.4f of the true neighbours"
             % r_exact)
if r_e < r_f - 0.01:
    sys.exit("FAIL: evolved recall %.4f is more than 0.01 below a fresh import's %.4f"
             % (r_e, r_f))
if r_e > r_f + 0.01:
    print("   note: evolved recall is more than 0.01 above the fresh import's")

# one more batch, not compacted: searches merge the index with the recent tier's graph
if nxt + ADD <= train.shape[0]:
    new = list(range(nxt, nxt + ADD))
    write_jsonl("add.jsonl", train, new)
    run("add", "--key", "key", "evolved", "add.jsonl")
    with_recent = np.array(sorted(live | set(new)))
    truth_r, pos_r = exact_truth(with_recent)
    ans_r, t_r = search("evolved")
    r_r = recall(ans_r, truth_r, lambda a: pos_r.get(int(a), -1))
    hits_recent = sum(int(a) >= nxt for ans in ans_r for a in ans)
    print("   with %d rows in the recent tier: recall@10 %.4f (%.2f s), %d of the answers "
          "recent rows" % (ADD, r_r, t_r, hits_recent))
    if r_r < r_f - 0.01:
        sys.exit("FAIL: recall with a recent tier %.4f is more than 0.01 below a fresh "
                 "import's %.4f" % (r_r, r_f))
print("   OK")
PYEOF
