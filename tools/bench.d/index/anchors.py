#!/usr/bin/python3
"""Anchor systems for the index benchmark: Debian's hnswlib (HNSW) and faiss (IndexIVFFlat).

    anchors.py --data DIR [--queries N] [--ef LIST] [--nprobe LIST] [--build-threads N]
               [--index-cache DIR] [--out FILE.tsv] [--build-out FILE.tsv]

DIR is a dataset folder written by data.py (base.fvecs, queries.fvecs, gt.ivecs, gt_dist.fvecs);
the metric is L2. hnswlib: M=16, ef_construction=200, swept over ef. faiss: IndexIVFFlat with
nlist = 4*sqrt(n) lists (k-means: 10 iterations on at most 64 points per list), swept over
nprobe. Indexes are built with --build-threads threads and kept in --index-cache (keyed by the
base file's checksum), so a later run loads them and reports the build time measured when they
were built.

Queries run on one thread (hnswlib set_num_threads(1), faiss.omp_set_num_threads(1), BLAS set to
one thread), one at a time: a Python loop over single-row calls, each timed with
time.perf_counter_ns, so p50/p99 include the Python call overhead. For comparison the same
queries are also run as one batch call on one thread; batch_ms is that call's time divided by
the number of queries (no per-call overhead). The call overhead itself is measured as the p50 of
the same single-query call on a one-vector index (hnswlib; faiss IndexFlatL2). Recall@k uses the
rule of bench_index.c: a result counts when it is among the exact k nearest or ties the k-th
exact distance.
"""
import argparse
import ctypes
import json
import math
import os
import time

import faiss
import hnswlib
import numpy as np

TIE_TOLERANCE = 1e-6
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 200
KMEANS_ITERATIONS, KMEANS_POINTS_PER_LIST = 10, 64
HEADER = ("system\tsetting\tqueries\trecall\tp50_ms\tp99_ms\tmean_ms\tbatch_ms\tbytes_per_query"
          "\tchunks_per_query\tscored_frac\tnote\n")


def set_blas_threads(n):
    """Limit the BLAS library numpy and faiss use (OpenBLAS) to n threads; no-op for others."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line and line.split()[-1][0] == "/"}
    for path in libs:
        setter = getattr(ctypes.CDLL(path), "openblas_set_num_threads", None)
        if setter is not None:
            setter(n)


def read_vecs(path, dtype=np.float32, rows=None):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    table = raw.reshape(-1, dim + 1)[:rows, 1:]
    return np.ascontiguousarray(table.view(dtype) if dtype == np.float32 else table)


def recall(labels, gt, gt_dist, k):
    """Mean share of each row of labels found among the exact k nearest (ties included)."""
    total = 0.0
    for row, ids, dist in zip(labels, gt, gt_dist):
        accepted = k
        limit = float(dist[k - 1]) * (1.0 + TIE_TOLERANCE)
        while accepted < len(dist) and dist[accepted] <= limit:
            accepted += 1
        total += len(set(int(x) for x in row[:k]) & set(int(x) for x in ids[:accepted])) / k
    return total / len(labels)


def cached_index(cache, name, base_sha, threads, build, save, load):
    """Load index `name` from cache when it was built from the same base file, else build it."""
    path = os.path.join(cache, name)
    meta_path = path + ".json"
    if os.path.exists(meta_path) and os.path.exists(path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("base_sha256") == base_sha:
            return load(path), dict(meta, cached=True)
    start = time.perf_counter()
    index = build()
    meta = {"base_sha256": base_sha, "build_s": time.perf_counter() - start, "threads": threads,
            "built_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    os.makedirs(cache, exist_ok=True)
    save(index, path)
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    return index, dict(meta, cached=False)


def hnsw_anchor(base_file, dim, threads):
    def build():
        base = read_vecs(base_file)
        index = hnswlib.Index(space="l2", dim=dim)
        index.init_index(max_elements=len(base), ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M)
        index.add_items(base, np.arange(len(base)), num_threads=threads)
        return index

    def load(path):
        index = hnswlib.Index(space="l2", dim=dim)
        index.load_index(path)
        return index

    return build, (lambda index, path: index.save_index(path)), load


def ivf_anchor(base_file, dim, n, threads):
    nlist = int(round(4 * math.sqrt(n)))

    def build():
        base = read_vecs(base_file)
        quantizer = faiss.IndexFlatL2(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_L2)
        index.cp.niter = KMEANS_ITERATIONS
        index.cp.max_points_per_centroid = KMEANS_POINTS_PER_LIST
        index.train(base)
        index.add(base)
        return index

    return nlist, build, faiss.write_index, faiss.read_index


def call_overhead(search, tiny, dim, k, calls=2000):
    """p50 of a single-query call on a one-vector index: what the call costs apart from search."""
    q = np.ones((1, dim), dtype=np.float32)
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter_ns()
        search(tiny, q, k)
        times[i] = (time.perf_counter_ns() - t0) / 1e6
    return float(np.median(times))


def hnsw_search(index, q, k):
    return index.knn_query(q, k=min(k, index.get_current_count()), num_threads=1)[0]


def faiss_search(index, q, k):
    return index.search(q, k)[1]


def tiny_hnsw(dim):
    index = hnswlib.Index(space="l2", dim=dim)
    index.init_index(max_elements=1, ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M)
    index.add_items(np.zeros((1, dim), dtype=np.float32), [0])
    index.set_num_threads(1)
    return index


def tiny_flat(dim):
    index = faiss.IndexFlatL2(dim)
    index.add(np.zeros((1, dim), dtype=np.float32))
    return index


def sweep(system, index, settings, apply, search, queries, gt, gt_dist, k):
    """Time every query alone and as one batch, per setting; one TSV row per setting."""
    rows = []
    for value in settings:
        apply(index, value)
        search(index, queries[:1], k)  # first call pays one-time costs outside the timing
        times = np.empty(len(queries))
        labels = np.empty((len(queries), k), dtype=np.int64)
        for i in range(len(queries)):
            q = queries[i:i + 1]
            t0 = time.perf_counter_ns()
            found = search(index, q, k)
            times[i] = (time.perf_counter_ns() - t0) / 1e6
            labels[i] = found[0]
        t0 = time.perf_counter_ns()
        search(index, queries, k)
        batch_ms = (time.perf_counter_ns() - t0) / 1e6 / len(queries)
        times.sort()
        p50 = times[math.ceil(0.50 * len(times)) - 1]
        p99 = times[math.ceil(0.99 * len(times)) - 1]
        r = recall(labels, gt, gt_dist, k)
        rows.append([system, value, len(queries), f"{r:.4f}", f"{p50:.3f}", f"{p99:.3f}",
                     f"{times.mean():.3f}", f"{batch_ms:.3f}", "-", "-", "-",
                     "in memory; p50/p99 include Python call overhead"])
        print(f"anchors.py: {system} {value}: recall@{k} {r:.4f} p50 {p50:.3f} ms "
              f"p99 {p99:.3f} ms, batch {batch_ms:.3f} ms/query")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--ef", default="16,32,64,128,256")
    parser.add_argument("--nprobe", default="1,2,4,8,16,32,64")
    parser.add_argument("--build-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--index-cache", default="/var/tmp/vchunk-bench/anchors")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--out", default="/dev/stdout")
    parser.add_argument("--build-out", default="/dev/stderr")
    args = parser.parse_args()

    with open(os.path.join(args.data, "dataset.json")) as f:
        info = json.load(f)
    n, dim = info["base"]
    base_file = os.path.join(args.data, "base.fvecs")
    base_sha = info["sha256"]["base.fvecs"]
    queries = read_vecs(os.path.join(args.data, "queries.fvecs"), rows=args.queries)
    gt = read_vecs(os.path.join(args.data, "gt.ivecs"), np.int32, rows=args.queries)
    gt_dist = read_vecs(os.path.join(args.data, "gt_dist.fvecs"), rows=args.queries)
    cache = os.path.join(args.index_cache, info["name"])

    set_blas_threads(args.build_threads)
    faiss.omp_set_num_threads(args.build_threads)
    hnsw_funcs = hnsw_anchor(base_file, dim, args.build_threads)
    hnsw, hnsw_meta = cached_index(cache, f"hnsw-M{HNSW_M}-efc{HNSW_EF_CONSTRUCTION}.bin",
                                   base_sha, args.build_threads, *hnsw_funcs)
    nlist, *ivf_funcs = ivf_anchor(base_file, dim, n, args.build_threads)
    ivf, ivf_meta = cached_index(cache, f"ivfflat-nlist{nlist}.faiss", base_sha,
                                 args.build_threads, *ivf_funcs)

    set_blas_threads(1)
    faiss.omp_set_num_threads(1)
    hnsw.set_num_threads(1)
    hnsw_meta["overhead_ms"] = call_overhead(hnsw_search, tiny_hnsw(dim), dim, args.k)
    ivf_meta["overhead_ms"] = call_overhead(faiss_search, tiny_flat(dim), dim, args.k)
    rows = sweep("hnswlib", hnsw, [f"ef={v}" for v in args.ef.split(",")],
                 lambda index, s: index.set_ef(int(s.split("=")[1])), hnsw_search,
                 queries, gt, gt_dist, args.k)
    rows += sweep("faiss-ivf", ivf, [f"nprobe={v}" for v in args.nprobe.split(",")],
                  lambda index, s: setattr(index, "nprobe", int(s.split("=")[1])), faiss_search,
                  queries, gt, gt_dist, args.k)
    with open(args.out, "w") as f:
        f.write(HEADER)
        for row in rows:
            f.write("\t".join(str(x) for x in row) + "\n")
    with open(args.build_out, "w") as f:
        f.write("system\tparams\tbuild_s\tthreads\tbuilt_at\tcached\tcall_overhead_ms\n")
        for system, params, meta in (
                ("hnswlib", f"M={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION}", hnsw_meta),
                ("faiss-ivf", f"IndexIVFFlat nlist={nlist}, k-means {KMEANS_ITERATIONS} "
                              f"iterations on <= {KMEANS_POINTS_PER_LIST} points/list; faiss "
                              f"{faiss.__version__} built {faiss.get_compile_options().strip()}",
                 ivf_meta)):
            f.write(f"{system}\t{params}\t{meta['build_s']:.1f}\t{meta.get('threads', '?')}\t"
                    f"{meta['built_at']}\t{'yes' if meta['cached'] else 'no'}\t"
                    f"{meta['overhead_ms']:.4f}\n")


if __name__ == "__main__":
    main()
