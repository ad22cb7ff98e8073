"""Reads the JSON lines of both benchmarks and prints one markdown table per workload."""

import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
capacity = [r for r in rows if r["workload"].startswith("capacity_")]
other = [r for r in rows if "ops_per_s" not in r and not r["workload"].startswith("capacity_")]
rows = [r for r in rows if "ops_per_s" in r]
if capacity:
    print("\n### capacity (3x the limit written)\n")
    print("| value size | impl | kept/limit | largest dir/limit | evicted after half the limit |")
    print("|---:|---|---:|---:|---:|")
    for r in sorted(capacity, key=lambda r: (int(r["workload"].split("_")[1]), r["impl"])):
        print(f"| {r['workload'].split('_')[1]} B | {r['impl']} | {r['kept_ratio']:.0%} "
              f"| {r['max_dir_ratio']:.0%} | {r['evicted_at_half']} |")
for r in other:
    print(f"\n### {r['workload']}\n")
    print(json.dumps({k: v for k, v in r.items() if k not in ("impl", "workload")}))
by = {}
for r in rows:
    by.setdefault(r["workload"], {})[r["impl"]] = r
order = ["hassette", "redb", "diskcache", "diskcache-lru"]
for workload, impls in by.items():
    print(f"\n### {workload}\n")
    print("| impl | ops | ops/s | p50 µs | p99 µs | vs diskcache | vs diskcache LRU | hassette vs redb |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = impls.get("diskcache")
    lru = impls.get("diskcache-lru")
    ours = impls.get("hassette")
    for name in order:
        r = impls.get(name)
        if not r:
            continue
        # Reopen is about time, not throughput: compare latencies there.
        if workload == "reopen":
            ratio = lambda b: f"{b['p50_us'] / r['p50_us']:.1f}x" if b else ""
        else:
            ratio = lambda b: f"{r['ops_per_s'] / b['ops_per_s']:.1f}x" if b else ""
        floor = ""
        if name == "hassette" and impls.get("redb"):
            f = impls["redb"]
            floor = (f"{f['p50_us'] / r['p50_us']:.2f}x" if workload == "reopen"
                     else f"{r['ops_per_s'] / f['ops_per_s']:.2f}x")
        print(f"| {name} | {r['ops']} | {r['ops_per_s']:,} | {r['p50_us']} | {r['p99_us']} "
              f"| {ratio(base)} | {ratio(lru)} | {floor} |")
