#!/usr/bin/python3
"""Index benchmark data: base vectors, queries and exact ground truth as .fvecs/.ivecs files.

    data.py [--cache DIR] [--datasets NAME,...] [--gt-k K]

Datasets (all searched with the L2 metric, euclidean distance):
  fmnist-784    Fashion-MNIST from Debian's dataset-fashion-mnist: the 60,000 training images
                as base vectors, the 10,000 test images as queries; pixel values / 255.
  fmnist-384    the same images through one seeded Gaussian random projection 784 -> 384
                (entries N(0, 1/384)); the same matrix for base vectors and queries.
  synth-1m-384  synthetic: 1,000,000 base vectors and 1,000 queries from one mixture of 2,000
                Gaussian clusters in 384-d (centres N(0, I); each cluster its own spread, log-
                uniform in [0.25, 1.0] per coordinate; cluster weights log-normal); not normalised.

Each dataset is written to CACHE/NAME/ (base.fvecs, queries.fvecs, gt.ivecs, gt_dist.fvecs) with
a dataset.json holding the parameters and the SHA-256 of every file. A later run reuses the files
when the parameters match and every checksum verifies; otherwise it rebuilds them.

Ground truth: for every query the GT_K nearest base rows, found with faiss IndexFlatL2 (float32)
and then re-ranked by distances recomputed in float64 (ties broken by row number);
gt_dist.fvecs holds those euclidean distances, best first.
"""
import argparse
import gzip
import hashlib
import json
import os
import sys
import time

import faiss
import numpy as np

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
PROJECTION_SEED = 384
SYNTH = {"n": 1_000_000, "queries": 1_000, "dim": 384, "clusters": 2_000,
         "spread_min": 0.25, "spread_max": 1.0, "weight_sigma": 0.75, "seed": 20261128}
FORMAT_VERSION = 1  # bump when the way files are computed changes


def read_idx_images(path):
    """An idx3-ubyte.gz file as an (n, rows*cols) uint8 array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        sys.exit(f"data.py: {path} is not an idx image file (magic {magic})")
    pixels = np.frombuffer(raw[16:], dtype=np.uint8)
    if pixels.size != n * rows * cols:
        sys.exit(f"data.py: {path} is truncated ({pixels.size} of {n * rows * cols} pixels)")
    return pixels.reshape(n, rows * cols)


def write_vecs(path, rows, dtype):
    """Write rows as .fvecs/.ivecs (per row: int32 dimension, then the values), atomically."""
    rows = np.ascontiguousarray(rows, dtype=dtype)
    n, dim = rows.shape
    out = np.empty((n, dim + 1), dtype=np.int32)
    out[:, 0] = dim
    out[:, 1:] = rows.view(np.int32)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        out.tofile(f)
    os.replace(tmp, path)


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].view(np.float32)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def ground_truth(base, queries, k):
    """Exact k nearest base rows per query (L2), float64 re-ranked; returns (ids, distances)."""
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    index = faiss.IndexFlatL2(base.shape[1])
    index.add(base)
    depth = min(base.shape[0], k + 20)  # a margin for float32 rounding near rank k
    _, candidates = index.search(queries, depth)
    ids = np.empty((queries.shape[0], k), dtype=np.int32)
    dists = np.empty((queries.shape[0], k), dtype=np.float32)
    for i, q in enumerate(queries):
        cand = candidates[i]
        diff = base[cand].astype(np.float64) - q.astype(np.float64)
        exact = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        order = np.lexsort((cand, exact))[:k]
        ids[i] = cand[order]
        dists[i] = exact[order]
    return ids, dists


def fmnist(projected):
    base = read_idx_images(f"{FMNIST_DIR}/train-images-idx3-ubyte.gz").astype(np.float32) / 255
    queries = read_idx_images(f"{FMNIST_DIR}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
    if projected:
        rng = np.random.default_rng(PROJECTION_SEED)
        matrix = rng.standard_normal((784, 384)).astype(np.float32) / np.float32(np.sqrt(384))
        base, queries = base @ matrix, queries @ matrix
    return np.ascontiguousarray(base), np.ascontiguousarray(queries)


def synthetic():
    """Base rows and queries drawn from one seeded Gaussian mixture (see the module doc)."""
    p = SYNTH
    rng = np.random.default_rng(p["seed"])
    centres = rng.standard_normal((p["clusters"], p["dim"])).astype(np.float32)
    spreads = np.exp(rng.uniform(np.log(p["spread_min"]), np.log(p["spread_max"]),
                                 p["clusters"])).astype(np.float32)
    weights = rng.lognormal(0.0, p["weight_sigma"], p["clusters"])
    weights /= weights.sum()

    def draw(n):
        out = np.empty((n, p["dim"]), dtype=np.float32)
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            which = rng.choice(p["clusters"], size=m, p=weights)
            noise = rng.standard_normal((m, p["dim"]), dtype=np.float32)
            out[start:start + m] = centres[which] + noise * spreads[which, None]
        return out

    base = draw(p["n"])
    queries = draw(p["queries"])
    return base, queries


DATASETS = {
    "fmnist-784": {"make": lambda: fmnist(False), "params": {"source": FMNIST_DIR}},
    "fmnist-384": {"make": lambda: fmnist(True),
                   "params": {"source": FMNIST_DIR, "projection_seed": PROJECTION_SEED}},
    "synth-1m-384": {"make": synthetic, "params": SYNTH},
}
FILES = ("base.fvecs", "queries.fvecs", "gt.ivecs", "gt_dist.fvecs")


def cached(folder, params):
    """True when folder holds this dataset with these parameters and every checksum verifies."""
    try:
        with open(os.path.join(folder, "dataset.json")) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return False
    if info.get("params") != params:
        return False
    for name in FILES:
        path = os.path.join(folder, name)
        if not os.path.exists(path) or sha256(path) != info["sha256"].get(name):
            return False
    return True


def prepare(cache, name, gt_k):
    folder = os.path.join(cache, name)
    params = dict(DATASETS[name]["params"], gt_k=gt_k, metric="l2", format=FORMAT_VERSION)
    if cached(folder, params):
        print(f"data.py: {name}: reusing {folder} (checksums verified)")
        return
    os.makedirs(folder, exist_ok=True)
    start = time.monotonic()
    base, queries = DATASETS[name]["make"]()
    write_vecs(os.path.join(folder, "base.fvecs"), base, np.float32)
    write_vecs(os.path.join(folder, "queries.fvecs"), queries, np.float32)
    ids, dists = ground_truth(base, queries, gt_k)
    write_vecs(os.path.join(folder, "gt.ivecs"), ids, np.int32)
    write_vecs(os.path.join(folder, "gt_dist.fvecs"), dists, np.float32)
    info = {"name": name, "params": params, "base": list(base.shape),
            "queries": list(queries.shape),
            "sha256": {f: sha256(os.path.join(folder, f)) for f in FILES}}
    with open(os.path.join(folder, "dataset.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"data.py: {name}: {base.shape[0]} x {base.shape[1]} base, {queries.shape[0]} queries, "
          f"ground truth top-{gt_k}; built in {time.monotonic() - start:.0f} s into {folder}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default="/var/tmp/vchunk-bench")
    parser.add_argument("--datasets", default="fmnist-784,fmnist-384,synth-1m-384")
    parser.add_argument("--gt-k", type=int, default=100)
    args = parser.parse_args()
    for name in args.datasets.split(","):
        if name not in DATASETS:
            sys.exit(f"data.py: no dataset named '{name}' (have: {', '.join(DATASETS)})")
        prepare(args.cache, name, args.gt_k)


if __name__ == "__main__":
    main()
