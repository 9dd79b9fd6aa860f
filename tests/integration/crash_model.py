#!/usr/bin/python3
"""Model of a deterministic sequence of commits, for the crash and reader tests.

    crash_model.py plan --seed S --commits N --dim D [--base N] [--no-gc] [--kinds K,...] [--txn] DIR
        write DIR/base.jsonl (state 0, imported), DIR/ops.tsv (commit i = line i: an op and
        its arguments) and DIR/add-I.jsonl for every add commit
    crash_model.py match DIR N EXPORT.jsonl
        EXPORT must hold exactly state N or state N+1 (ids, bit-exact vectors, metadata);
        prints the matching index (N+1 when both states are equal), exit 1 with a diff if neither
    crash_model.py run --vchunk V [--kill-after-ms MS] [--last L] DIR SESSION KEY START
        the writer: runs commits START..L of the plan, each one `vchunk` process, printing
        "begin I" before and "acked I MS" after each (MS: the command's wall time); with --kill-after-ms, SIGKILLs the command
        running at that moment (and reaps it) and stops. Exit 1 when a command fails by itself.
        With --writer EXE (a plan made with --txn), runs EXE (crash_writer.c: every commit in
        one process through the library) and SIGKILLs that at the deadline.
    crash_model.py epochs [--min-states M] DIR RESULTS
        RESULTS holds one reader's `vchunk query` JSON lines in the order read (k at least the
        live count, so each answer is the whole live set) and, from a mount, {"epoch": E,
        "vectors": V} lines; prints for each answer "LO HI": the states it equals exactly.
        Exit 1 naming the line when an answer equals no state (a mix of epochs) or only states
        older than an earlier answer's, or when fewer than M distinct states were seen.

Ops (one commit each): add FILE | delete ID... | delete-filter JSON | update ID JSON |
compact | gc. Vectors are derived from their id (BLAKE2b bytes -> multiples of 1/64 in
[-2, 2)), so they are exact in float32 and in decimal text.
"""
import argparse
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import time


def vector_of(ident, dim):
    h = hashlib.blake2b(ident.encode(), digest_size=dim).digest()
    v = [(b - 128) / 64.0 for b in h]
    if all(x == 0 for x in v):
        v[0] = 1.0
    return v


def f32_bits(values):
    return struct.pack("<%df" % len(values), *values)


def read_ops(d):
    ops = []
    with open(os.path.join(d, "ops.tsv"), encoding="utf-8") as f:
        for line in f:
            ops.append(line.rstrip("\n").split("\t"))
    return ops


def read_jsonl(path):
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                rows[str(r["id"])] = r
    return rows


def apply(state, op, d):
    """state: id -> metadata (vectors are a function of the id). Returns the next state."""
    s = dict(state)
    kind = op[1]
    if kind == "add":
        for ident, r in read_jsonl(os.path.join(d, op[2])).items():
            assert ident not in s, "plan adds a live id"
            s[ident] = r.get("metadata")
    elif kind == "delete":
        for ident in op[2].split(" "):
            del s[ident]
    elif kind == "delete-filter":
        (key, cond), = json.loads(op[2]).items()
        want = cond["$eq"]
        for ident in [i for i, m in s.items() if m and m.get(key) == want]:
            del s[ident]
    elif kind == "update":
        s[op[2]] = json.loads(op[3])
    elif kind == "txn":
        with open(os.path.join(d, op[2]), encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                if r["op"] == "add":
                    assert r["id"] not in s, "plan adds a live id"
                    s[r["id"]] = r.get("metadata")
                elif r["op"] == "delete":
                    del s[r["id"]]
                else:
                    s[r["id"]] = r["metadata"]
    elif kind not in ("compact", "gc"):
        sys.exit("crash_model.py: unknown op %r" % kind)
    return s


def states(d):
    """Every state 0..len(ops), in order."""
    base = read_jsonl(os.path.join(d, "base.jsonl"))
    s = {i: r.get("metadata") for i, r in base.items()}
    out = [s]
    for op in read_ops(d):
        s = apply(s, op, d)
        out.append(s)
    return out


def plan(args):
    rng = random.Random(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    live = {}

    def row(ident, meta):
        return json.dumps({"id": ident, "vector": vector_of(ident, args.dim), "metadata": meta})

    with open(os.path.join(args.dir, "base.jsonl"), "w", encoding="utf-8") as f:
        for j in range(args.base):
            ident = "b-%d" % j
            live[ident] = {"c": 0, "g": j % 4}
            f.write(row(ident, live[ident]) + "\n")
    # cumulative weights of the kinds of commit; kinds left out give their share to add
    weights = [("add", 0.50), ("delete", 0.20), ("delete-filter", 0.05), ("update", 0.10),
               ("compact", 0.10), ("gc", 0.05)]
    if args.no_gc:
        weights = [(k, w + 0.05 if k == "compact" else w) for k, w in weights if k != "gc"]
    kinds = set(args.kinds.split(",")) if args.kinds else {k for k, _ in weights}
    ops = []
    for i in range(1, args.commits + 1):
        r = rng.random()
        ids = sorted(live)
        kind, acc = "add", 0.0
        for k, w in weights:
            acc += w
            if r < acc:
                kind = k
                break
        if kind not in kinds or len(ids) < 8:
            kind = "add"
        if args.txn and kind not in ("compact", "gc"):
            name = "txn-%d.jsonl" % i
            with open(os.path.join(args.dir, name), "w", encoding="utf-8") as f:
                for j in range(rng.randint(1, 4)):
                    ident = "v%d-%d" % (i, j)
                    live[ident] = {"c": i, "g": j % 4}
                    r = json.loads(row(ident, live[ident]))
                    f.write(json.dumps(dict(r, op="add")) + "\n")
                for ident in rng.sample(ids, rng.randint(0, 2)):
                    del live[ident]
                    f.write(json.dumps({"op": "delete", "id": ident}) + "\n")
                if rng.random() < 0.5:
                    ident = rng.choice([k for k in ids if k in live])
                    live[ident] = {"c": i, "g": 9, "updated": True}
                    f.write(json.dumps({"op": "update", "id": ident, "metadata": live[ident]})
                            + "\n")
            ops.append([str(i), "txn", name])
        elif kind == "add":
            name = "add-%d.jsonl" % i
            with open(os.path.join(args.dir, name), "w", encoding="utf-8") as f:
                for j in range(rng.randint(2, 6)):
                    ident = "v%d-%d" % (i, j)
                    live[ident] = {"c": i, "g": j % 4}
                    f.write(row(ident, live[ident]) + "\n")
            ops.append([str(i), "add", name])
        elif kind == "delete":
            gone = rng.sample(ids, rng.randint(1, 3))
            for ident in gone:
                del live[ident]
            ops.append([str(i), "delete", " ".join(gone)])
        elif kind == "delete-filter":
            # delete every live vector whose "c" equals that of a random live one
            c = live[rng.choice(ids)]["c"]
            for ident in [k for k, m in live.items() if m["c"] == c]:
                del live[ident]
            ops.append([str(i), "delete-filter", json.dumps({"c": {"$eq": c}})])
        elif kind == "update":
            ident = rng.choice(ids)
            live[ident] = {"c": i, "g": 9, "updated": True}
            ops.append([str(i), "update", ident, json.dumps(live[ident])])
        else:
            ops.append([str(i), kind])
    with open(os.path.join(args.dir, "ops.tsv"), "w", encoding="utf-8") as f:
        for op in ops:
            f.write("\t".join(op) + "\n")


def diff(state, rows, dim):
    """Why the exported rows are not this state ('' when they are)."""
    if set(state) != set(rows):
        extra = sorted(set(rows) - set(state))[:5]
        missing = sorted(set(state) - set(rows))[:5]
        return "ids differ (%d exported, %d expected; extra %s, missing %s)" % (
            len(rows), len(state), extra, missing)
    for ident, meta in state.items():
        r = rows[ident]
        if f32_bits(r["vector"]) != f32_bits(vector_of(ident, dim)):
            return "vector of %s differs" % ident
        if (r.get("metadata") or None) != (meta or None):
            return "metadata of %s: %r, expected %r" % (ident, r.get("metadata"), meta)
    return ""


def match(args):
    st = states(args.dir)
    dim = len(next(iter(read_jsonl(os.path.join(args.dir, "base.jsonl")).values()))["vector"])
    rows = read_jsonl(args.export)
    n = args.n
    why = []
    for cand in (n + 1, n):
        if 0 <= cand < len(st):
            w = diff(st[cand], rows, dim)
            if not w:
                print(cand)
                return 0
            why.append("state %d: %s" % (cand, w))
    print("crash_model.py: the session holds neither state %d nor %d:\n  %s"
          % (n, n + 1, "\n  ".join(why)), file=sys.stderr)
    return 1


def epochs(args):
    st = [frozenset(s) for s in states(args.dir)]
    bad = 0
    floor = 0  # one reader's answers must be explainable by non-decreasing states
    seen = set()
    with open(args.results, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            if "results" not in rec:
                # {"epoch": E, "vectors": V} from a mount's stats.json; with a plan made with
                # --no-gc, epoch E (import = 1) is the state after commit E - 1
                e = rec["epoch"] - 1
                if not 0 <= e < len(st) or len(st[e]) != rec["vectors"]:
                    print("crash_model.py: line %d: epoch %d with %d vectors, expected %s"
                          % (lineno, rec["epoch"], rec["vectors"],
                             len(st[e]) if 0 <= e < len(st) else "no such epoch"),
                          file=sys.stderr)
                    bad += 1
                continue
            ids = frozenset(h["id"] for h in rec["results"])
            hits = [e for e, s in enumerate(st) if s == ids and e >= floor]
            if not hits:
                best = min(range(len(st)), key=lambda e: len(st[e] ^ ids))
                print("crash_model.py: answer %d (%d ids) equals no committed state from %d on; "
                      "nearest is state %d, off by %d ids"
                      % (lineno, len(ids), floor, best, len(st[best] ^ ids)), file=sys.stderr)
                bad += 1
                continue
            floor = hits[0]
            seen.add(hits[0])
            print(hits[0], hits[-1])
    print("%d distinct states seen" % len(seen), file=sys.stderr)
    if len(seen) < args.min_states:
        print("crash_model.py: fewer than %d distinct states seen" % args.min_states,
              file=sys.stderr)
        bad += 1
    return 1 if bad else 0


def command(vchunk, op, d, session, key):
    """The vchunk command line of one planned commit."""
    kind = op[1]
    k = ["--key", key]
    if kind == "add":
        return [vchunk, "add", *k, session, os.path.join(d, op[2])]
    if kind == "delete":
        return [vchunk, "delete", *k, session, *op[2].split(" ")]
    if kind == "delete-filter":
        return [vchunk, "delete", *k, "--filter", op[2], session]
    if kind == "update":
        return [vchunk, "update", *k, session, op[2], op[3]]
    if kind == "gc":
        # no grace: delete everything unreferenced at once (no reader runs during crash tests)
        return [vchunk, "gc", *k, "--grace", "0", session]
    return [vchunk, kind, *k, session]


def run_writer(args):
    """Run the library writer (crash_writer) from START; SIGKILL it at the deadline."""
    import selectors
    cmd = [args.writer, args.session, args.key, args.dir, str(args.start)]
    if args.last < (1 << 62):
        cmd.append(str(args.last))
    p = subprocess.Popen(cmd,
                         stdout=subprocess.PIPE, text=True)
    # the deadline counts from the first "begin" (the session is open by then), else 30 s
    kill_at = None if args.kill_after_ms < 0 else args.kill_after_ms / 1000
    deadline = None if kill_at is None else time.monotonic() + 30
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    last = ""
    began = None
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            p.kill()
            p.wait()
            break
        if not sel.select(left):
            continue
        line = p.stdout.readline()
        if not line:
            break
        last = line.strip()
        if last.startswith("begin"):
            if kill_at is not None and began is None:
                deadline = time.monotonic() + kill_at
            began = time.monotonic()
        elif last.startswith("acked"):
            last = "%s %.0f" % (last, (time.monotonic() - began) * 1000)
        print(last, flush=True)
    # what the writer printed before it died is still in the pipe
    for line in p.stdout:
        print(line.rstrip("\n"), flush=True)
        last = line.strip()
    rc = p.wait()
    if rc < 0:
        print("killed in commit %s" % last.split()[1] if last.startswith("begin")
              else "killed between commits", flush=True)
        return 0
    return 1 if rc != 0 else 0


def run(args):
    """Run commits START.. as `vchunk` processes; SIGKILL the running one at the deadline
    (counted from the start of the first command, not of this interpreter)."""
    deadline = None
    for op in read_ops(args.dir):
        i = int(op[0])
        if i < args.start:
            continue
        if i > args.last:
            break
        if deadline is not None and time.monotonic() >= deadline:
            print("killed between commits")
            return 0
        print("begin %d" % i, flush=True)
        if deadline is None and args.kill_after_ms >= 0:
            deadline = time.monotonic() + args.kill_after_ms / 1000
        t0 = time.monotonic()
        p = subprocess.Popen(command(args.vchunk, op, args.dir, args.session, args.key),
                             stdout=subprocess.DEVNULL)
        try:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            rc = p.wait(timeout=left)
        except subprocess.TimeoutExpired:
            p.kill()  # SIGKILL, then reap at once so no zombie keeps the writer lock "alive"
            p.wait()
            print("killed in commit %d" % i, flush=True)
            return 0
        if rc != 0:
            print("crash_model.py: commit %d (%s) failed with exit %d" % (i, " ".join(op[1:]), rc),
                  file=sys.stderr)
            return 1
        print("acked %d %.0f" % (i, (time.monotonic() - t0) * 1000), flush=True)
    print("done", flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("plan")
    a.add_argument("--seed", type=int, required=True)
    a.add_argument("--commits", type=int, required=True)
    a.add_argument("--dim", type=int, default=8)
    a.add_argument("--base", type=int, default=40)
    a.add_argument("--txn", action="store_true",
                   help="commits for crash_writer: each one transaction of adds, deletes and "
                   "an update (txn-I.jsonl), besides compact and gc")
    a.add_argument("--kinds", default="",
                   help="comma-separated kinds of commit to plan (default all)")
    a.add_argument("--no-gc", action="store_true",
                   help="compact instead of gc: every commit then moves the epoch by one")
    a.add_argument("dir")
    a = sub.add_parser("match")
    a.add_argument("dir")
    a.add_argument("n", type=int)
    a.add_argument("export")
    a = sub.add_parser("epochs")
    a.add_argument("dir")
    a.add_argument("results")
    a.add_argument("--min-states", type=int, default=1)
    a = sub.add_parser("run")
    a.add_argument("--vchunk", required=True)
    a.add_argument("--writer", help="crash_writer executable: commits through the library")
    a.add_argument("--kill-after-ms", type=float, default=-1)
    a.add_argument("--last", type=int, default=1 << 62)
    a.add_argument("dir")
    a.add_argument("session")
    a.add_argument("key")
    a.add_argument("start", type=int)
    args = p.parse_args()
    if args.cmd == "plan":
        return plan(args) or 0
    if args.cmd == "run":
        return run_writer(args) if args.writer else run(args)
    return match(args) if args.cmd == "match" else epochs(args)


if __name__ == "__main__":
    sys.exit(main())
