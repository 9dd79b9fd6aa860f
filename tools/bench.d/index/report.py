#!/usr/bin/python3
"""Index benchmark report: turn the result files of tools/bench.d/index.sh into the Markdown
"Index" section of docs/BENCHMARKS.md (printed on stdout).

    report.py RESULTS_DIR

RESULTS_DIR holds run.tsv, notes.txt, commands.md and DATASET.kinds (the index kinds measured),
and per dataset a folder with anchors.tsv and anchors-build.tsv and, per index kind, a folder
with ours.tsv, cold.N.tsv and figures.tsv. Targets come from DESIGN §9; each is
printed with the measured value and "met" or "NOT met" (or "not measured").
"""
import csv
import glob
import json
import os
import statistics
import sys

RECALL_TARGETS = (0.90, 0.95, 0.99)
ANCHORS = ("hnswlib", "faiss-ivf")
# DESIGN §9 targets per scale; Fashion-MNIST (60,000 rows) is held to the 100K column.
TARGETS = {
    "100K": {"p50": 1.0, "p99": 3.0, "open": 20.0, "first": 150.0, "read_pct": None,
             "rss_mib": 175.0, "import_s": 10.0},
    "1M": {"p50": 10.0, "p99": 30.0, "open": 50.0, "first": 200.0, "read_pct": 5.0,
           "rss_mib": 250.0, "import_s": 180.0},
}
DESCRIPTIONS = {
    "fmnist-784": "Fashion-MNIST (Debian `dataset-fashion-mnist`): the 60,000 training images as "
                  "base vectors, 784-d, pixel values / 255; queries are test images",
    "fmnist-384": "Fashion-MNIST projected to 384-d by one seeded Gaussian random projection "
                  "(the same matrix for base vectors and queries)",
    "synth-1m-384": "synthetic, not real embeddings: 1,000,000 vectors from a seeded mixture of "
                    "2,000 Gaussian clusters in 384-d (centres N(0, I), spreads log-uniform in "
                    "[0.25, 1.0] per coordinate, log-normal cluster weights), not normalised; "
                    "queries are fresh draws from the same mixture",
}


def read_tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def read_pairs(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split("\t", 1) for line in f if "\t" in line)


def num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def verdict(value, limit):
    if limit is None:
        return "—"
    if value is None:
        return "not measured"
    return "met" if value <= limit else "NOT met"


def same_as_default(rows, row):
    """A knob setting that did exactly the work of `default` (same recall, same vectors scored)
    is `default` measured again: it must not win a comparison on timing noise."""
    if row["setting"] == "default":
        return False
    return any(r["system"] == row["system"] and r["setting"] == "default"
               and (r["recall"], r["scored_frac"]) == (row["recall"], row["scored_frac"])
               for r in rows)


def fastest(rows, system, target):
    """The setting of `system` with the lowest p50 among those reaching recall `target`."""
    hits = [r for r in rows if r["system"] == system and num(r["recall"]) is not None
            and num(r["recall"]) >= target and not same_as_default(rows, r)]
    return min(hits, key=lambda r: num(r["p50_ms"])) if hits else None


def results_table(rows):
    out = ["| system | setting | queries | recall@10 | p50 ms | p99 ms | batch ms/query | "
           "bytes read/query | chunks read/query | vectors scored | note |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        scored = num(r["scored_frac"])
        bytes_q = num(r["bytes_per_query"])
        out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            r["system"], r["setting"], r["queries"], r["recall"], r["p50_ms"], r["p99_ms"],
            r["batch_ms"].replace("-", "—"),
            "—" if bytes_q is None else f"{bytes_q / 1e3:,.0f} kB",
            r["chunks_per_query"].replace("-", "—"),
            "—" if scored is None else f"{100 * scored:.2f} %",
            "" if r["note"] == "-" else r["note"]))
    return out


def no_effect_notes(rows, system):
    """Sweeps of `system` in which every setting did the same work: the knob changed nothing."""
    notes = []
    for knob in ("ef", "nprobe"):
        swept = [r for r in rows if r["system"] == system and r["setting"].startswith(knob + "=")
                 and num(r["recall"]) is not None]
        if len(swept) > 1 and len({(r["recall"], r["scored_frac"]) for r in swept}) == 1:
            notes.append(f"{system}: every {knob} setting scored the same vectors with the same "
                         f"recall: {knob} had no effect on this session.")
    return notes


def describe(r):
    if r is None:
        return "not reached"
    return f"{r['setting']}: {float(r['recall']):.3f}, {r['p50_ms']} ms"


def net_p50(row, overhead):
    """An anchor's p50 less its Python call overhead (never below 1 µs)."""
    return max(num(row["p50_ms"]) - overhead.get(row["system"], 0.0), 0.001)


def ratio(ours, anchor, overhead):
    if ours is None or anchor is None:
        return "—"
    p50 = num(ours["p50_ms"])
    return f"{p50 / num(anchor['p50_ms']):.2f} ({p50 / net_p50(anchor, overhead):.2f})"


def equal_recall_table(rows, ours_systems, overhead):
    out = ["| recall@10 ≥ | ours | hnswlib | faiss IVF | ours / hnswlib p50 | ours / faiss p50 |",
           "|---|---|---|---|---|---|"]
    for target in RECALL_TARGETS:
        best = {s: fastest(rows, s, target) for s in ANCHORS}
        for system in ours_systems:
            mine = fastest(rows, system, target)
            out.append(f"| {target:.2f} | {system} {describe(mine)} | "
                       f"{describe(best['hnswlib'])} | {describe(best['faiss-ivf'])} | "
                       f"{ratio(mine, best['hnswlib'], overhead)} | "
                       f"{ratio(mine, best['faiss-ivf'], overhead)} |")
    return out


def cold_figures(folder):
    runs = [read_tsv(p)[0] for p in sorted(glob.glob(os.path.join(folder, "cold.*.tsv")))]
    if not runs:
        return None
    med = {key: statistics.median(float(r[key]) for r in runs)
           for key in ("open_ms", "first_query_ms", "total_ms", "bytes_read", "read_pct")}
    med["runs"] = len(runs)
    med["stored"] = float(runs[0]["stored_bytes"])
    med["setting"] = runs[0]["setting"]
    return med


def target_rows(rows, system, figures, cold, scale, overhead):
    t = TARGETS[scale]
    best = fastest(rows, system, 0.95)
    hnsw = fastest(rows, "hnswlib", 0.95)
    rss_mib = num(figures.get("rss_kb"))
    rss_mib = rss_mib / 1024 if rss_mib is not None else None
    p50 = num(best["p50_ms"]) if best else None
    p99 = num(best["p99_ms"]) if best else None
    out = ["| figure | value | target | verdict |", "|---|---|---|---|"]
    setting = f" ({best['setting']}, recall {float(best['recall']):.3f})" if best else \
        " (no setting reached recall 0.95)"
    out.append(f"| warm p50 at recall@10 ≥ 0.95{setting} | "
               f"{'—' if p50 is None else f'{p50:.3f} ms'} | ≤ {t['p50']:g} ms | "
               f"{verdict(p50, t['p50'])} |")
    out.append(f"| warm p99 at the same setting | {'—' if p99 is None else f'{p99:.3f} ms'} | "
               f"≤ {t['p99']:g} ms | {verdict(p99, t['p99'])} |")
    if hnsw is not None and p50 is not None:
        anchor = net_p50(hnsw, overhead)
        out.append(f"| p50 vs hnswlib at recall ≥ 0.95 ({hnsw['setting']}, its p50 less the "
                   f"Python call overhead) | {p50:.3f} vs {anchor:.3f} ms = {p50 / anchor:.2f}x "
                   f"| ≤ 1x | {verdict(p50 / anchor, 1.0)} |")
    else:
        out.append("| p50 vs hnswlib at recall ≥ 0.95 | — | ≤ 1x | not measured |")
    if cold is not None:
        n = cold["runs"]
        out.append(f"| open (vc_session_open), cold, median of {n} | {cold['open_ms']:.2f} ms | "
                   f"≤ {t['open']:g} ms | {verdict(cold['open_ms'], t['open'])} |")
        out.append(f"| first query after open, cold ({cold['setting']}), median of {n} | "
                   f"{cold['first_query_ms']:.1f} ms | ≤ {t['first']:g} ms | "
                   f"{verdict(cold['first_query_ms'], t['first'])} |")
        out.append(f"| open + first query (mount to first result), median of {n} | "
                   f"{cold['total_ms']:.1f} ms | — | — |")
        limit = t["read_pct"]
        out.append(f"| bytes read by the first cold query | {cold['bytes_read'] / 1e6:.2f} MB = "
                   f"{cold['read_pct']:.2f} % of {cold['stored'] / 1e6:.1f} MB stored | "
                   f"{'—' if limit is None else f'≤ {limit:g} %'} | "
                   f"{verdict(cold['read_pct'], limit)} |")
    out.append(f"| peak RSS, cache_mb=150 ({figures.get('pick', '?')}, /usr/bin/time -v) | "
               f"{'—' if rss_mib is None else f'{rss_mib:.0f} MiB'} | ≤ {t['rss_mib']:g} MiB | "
               f"{verdict(rss_mib, t['rss_mib'])} |")
    imp = num(figures.get("import_s"))
    out.append(f"| import (vchunk import, wall) | {imp:.1f} s | ≤ {t['import_s']:g} s | "
               f"{verdict(imp, t['import_s'])} |")
    return out


def build_table(builds):
    out = ["| anchor | parameters | build s | build threads | built | reused from cache | "
           "Python call overhead (p50) |", "|---|---|---|---|---|---|---|"]
    for r in builds:
        out.append(f"| {r['system']} | {r['params']} | {r['build_s']} | {r['threads']} | "
                   f"{r['built_at']} | {r['cached']} | "
                   f"{1000 * float(r['call_overhead_ms']):.1f} µs |")
    return out


def session_line(system, figures):
    imp_rss = num(figures.get("import_rss_kb")) or 0
    return (f"- {system}: `vchunk import --index {figures['kind']}`, encrypted, metric l2: "
            f"{figures['chunks']} chunks and {figures['index_objects']} index objects, "
            f"{int(figures['stored_bytes']) / 1e6:.1f} MB stored; import "
            f"{float(figures['import_s']):.1f} s, peak RSS {imp_rss / 1024:.0f} MiB.")


def dataset_section(results, name, run):
    folder = os.path.join(results, name)
    with open(os.path.join(folder + ".kinds")) as f:
        kinds = [k for k in f.read().split() if k]
    with open(os.path.join(run["cache"], name, "dataset.json")) as f:
        info = json.load(f)
    builds = read_tsv(os.path.join(folder, "anchors-build.tsv"))
    overhead = {r["system"]: float(r["call_overhead_ms"]) for r in builds}
    scale = "1M" if info["base"][0] >= 500_000 else "100K"
    n, dim = info["base"]
    per_kind, rows = [], []
    for kind in kinds:
        sub = os.path.join(folder, kind)
        ours = read_tsv(os.path.join(sub, "ours.tsv"))
        system = ours[0]["system"] if ours else f"ours-{kind}"
        per_kind.append((system, read_pairs(os.path.join(sub, "figures.tsv")), cold_figures(sub)))
        rows += ours
    rows += read_tsv(os.path.join(folder, "anchors.tsv"))
    exact_q = per_kind[0][1]["exact_queries"] if per_kind else "?"
    lines = [f"### {name}: {n:,} × {dim}, L2", "",
             f"Data: {DESCRIPTIONS.get(name, name)}. {info['queries'][0]:,} queries available; "
             f"the first {run['queries']} are used (exact search: the first {exact_q}; a "
             f"setting stops early after {run['budget_s']} s of queries once 50 have run, so "
             "`queries` says how many ran). Ground truth: exact top-100 by L2, float64 "
             "re-rank.", "", "Sessions:"]
    lines += [session_line(system, figures) for system, figures, _ in per_kind]
    lines += ["", "#### Warm queries (one thread, one at a time)", ""]
    lines += results_table(rows)
    notes = [n for system, _, _ in per_kind for n in no_effect_notes(rows, system)]
    lines += ([""] + notes) if notes else []
    lines += ["", "#### At equal recall", "",
              "Fastest setting of each system reaching the recall (recall, p50); the ratio is "
              "ours / anchor p50, in brackets ours / (anchor p50 less its Python call "
              "overhead).", ""]
    lines += equal_recall_table(rows, [system for system, _, _ in per_kind], overhead)
    for system, figures, cold in per_kind:
        applied = "" if n in (100_000, 1_000_000) else f", applied to {n:,} vectors"
        lines += ["", f"#### Targets for {system} (DESIGN §9, {scale} column{applied})", ""]
        lines += target_rows(rows, system, figures, cold, scale, overhead)
    lines += ["", "#### Anchor builds", ""] + build_table(builds) + [""]
    return lines


def header(run, results):
    quick = run["mode"] == "quick"
    with open(os.path.join(results, "notes.txt")) as f:
        notes = [line.strip() for line in f if line.strip()]
    first = run["datasets"].split()[0]
    with open(os.path.join(results, first + ".kinds")) as f:
        kind = f.read().split()[0]
    page = read_pairs(os.path.join(results, first, kind, "figures.tsv"))
    return [
        "## Index", "",
        f"Measured {run['date']} by `{run.get('invocation', 'tools/bench.d/index.sh')}` "
        f"(tools/bench.d/index.sh, tools/bench_index.c, tools/bench.d/index/data.py, anchors.py, "
        f"report.py) at commit {run['commit']}, release build (`build-bench`, "
        "`-Dbuildtype=release`)." + (" Quick mode: Fashion-MNIST only, shorter sweeps; the full "
                                     "run adds 1M × 384 synthetic." if quick else ""), "",
        f"Machine: {run['cpu']}, {run['cpus']} CPUs, {run['memory_gib']} GiB memory, Linux "
        f"{run['kernel']}; load average {run['load_start']} at the start of the run and "
        f"{run['load']} at its end (other work shares the machine: p99 and batch times in "
        "particular include time the process was not scheduled).", "",
        "Modes measured: " + " ".join(n.rstrip(".") + "." for n in notes) + " Each session runs "
        "`default` (its own search parameters), the sweeps of the knobs its index kind uses "
        "(ivf: nprobe; hnsw: ef; auto: both) and `exact` (flat search). A setting that was "
        "skipped is listed in the table with the reason; a knob that changed nothing is named "
        "under the table.", "",
        "How:",
        f"- Ours: `bench_index` opens the session once with a {run['cache_mb']} MB cache "
        "(`cache_bytes`, the library default), runs "
        f"{run['warmup']} untimed warm-up queries with `default` (the same queries that are "
        "then timed), then for each setting the "
        "queries one at a time on one thread (`vc_query.threads` = 0). Latency is "
        "`clock_gettime(CLOCK_MONOTONIC)` around `vc_session_search`; bytes and chunks read are "
        "`vc_query_stats.bytes_read` / `chunks_read` (fetched from storage, so 0 when the cache "
        "held everything); vectors scored is `vectors_scored` as a share of the session.",
        "- Recall@10: returned ids against the exact 10 nearest (an id whose exact distance ties "
        "the 10th counts too), the same rule for every system.",
        "- Anchors (`/usr/bin/python3`, Debian's python3-hnswlib and python3-faiss, OpenBLAS): "
        "hnswlib M=16, ef_construction=200; faiss IndexIVFFlat with nlist = 4·√n. Queries on "
        "one thread (hnswlib `set_num_threads(1)`, `faiss.omp_set_num_threads(1)`, BLAS at one "
        "thread), a Python loop over single queries timed with `time.perf_counter_ns`: their "
        "p50/p99 include the Python call overhead. `batch ms/query` is one batch call over the "
        "same queries on one thread, divided by their number (no per-call overhead). Anchors "
        "hold everything in memory and read nothing from storage. Their Python call overhead is "
        "measured as the p50 of the same call on a one-vector index (anchor builds table).",
        "- Cold: a fresh `bench_index --cold I` process per run after `sync; echo 3 > "
        f"/proc/sys/vm/drop_caches` (page cache {page.get('page_cache', '?').strip()}), timing "
        "`vc_session_open` and the first `vc_session_search` inside the process; a different "
        "query per run; medians. The setting is the session's fastest at recall ≥ 0.95 (else "
        "`default`).",
        "- Peak RSS: `/usr/bin/time -v` of `bench_index` with the 150 MB cache running that "
        "setting over the queries. Import: `/usr/bin/time -v vchunk import` (encrypted, key "
        "file).", ""]


def main():
    results = sys.argv[1]
    run = read_pairs(os.path.join(results, "run.tsv"))
    lines = header(run, results)
    for name in run["datasets"].split():
        lines += dataset_section(results, name, run)
    with open(os.path.join(results, "commands.md")) as f:
        commands = f.read().rstrip()
    lines += ["### Commands", "",
              f"As run (`$CACHE` = {run['cache']}, the data cache; `$WORK` = $CACHE/work):", "",
              "```", commands, "```"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
