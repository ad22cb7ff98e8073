"""The cache workloads against diskcache, printed as JSON lines like cache_workloads.rs.

diskcache is configured as the Python framework used it: size_limit=100 MiB, with the
least-recently-used policy it documented and with its default least-recently-stored policy.
Counts scale with HASSETTE_BENCH_N, HASSETTE_BENCH_NB and HASSETTE_BENCH_FILL.
"""

import json
import os
import shutil
import tempfile
import time

import diskcache

LIMIT = 104857600
N = int(os.environ.get("HASSETTE_BENCH_N", 100000))
NB = min(int(os.environ.get("HASSETTE_BENCH_NB", 10000)), N)
FILL = int(os.environ.get("HASSETTE_BENCH_FILL", 3))
CAP_LIMIT = int(os.environ.get("HASSETTE_BENCH_CAP_LIMIT", 20 << 20))
ONLY = os.environ.get("HASSETTE_BENCH_ONLY", "")


def report(impl, workload, secs, lat):
    lat.sort()
    pct = lambda p: lat[int((len(lat) - 1) * p)] / 1000.0
    print(json.dumps({"impl": impl, "workload": workload, "ops": len(lat),
                      "ops_per_s": round(len(lat) / secs), "p50_us": round(pct(0.5), 2),
                      "p99_us": round(pct(0.99), 2)}), flush=True)


def run(impl, workload, n, op):
    lat = []
    clock = time.perf_counter_ns
    start = clock()
    for i in range(n):
        t = clock()
        op(i)
        lat.append(clock() - t)
    report(impl, workload, (clock() - start) / 1e9, lat)


def open_cache(path, policy):
    kwargs = {"size_limit": LIMIT}
    if policy:
        kwargs["eviction_policy"] = policy
    return diskcache.Cache(path, **kwargs)


def bench(impl, policy):
    keys = [f"key{i}" for i in range(N)]
    missing = [f"missing{i}" for i in range(N)]
    tmp = tempfile.mkdtemp()
    c = open_cache(tmp, policy)
    run(impl, "set", N, lambda i: c.set(keys[i], {"theme": "dark", "n": i}))
    run(impl, "get_hit", N, lambda i: c.get(keys[i]))
    run(impl, "get_miss", N, lambda i: c.get(missing[i]))
    run(impl, "overwrite_one_key", N, lambda i: c.set("same", {"theme": "dark", "n": i}))
    run(impl, "delete", N, lambda i: c.delete(keys[i]))
    run(impl, "set_ttl", N, lambda i: c.set(keys[i], {"theme": "dark", "n": i}, expire=3600))
    c.clear()
    for label, size in (("1k", 1024), ("64k", 64 * 1024)):
        value = "x" * (size - 2)
        run(impl, f"set_{label}", NB, lambda i: c.set(keys[i], value))
        run(impl, f"get_{label}", NB, lambda i: c.get(keys[i]))
        c.clear()
    c.close()
    shutil.rmtree(tmp)

    tmp = tempfile.mkdtemp()
    c = open_cache(tmp, policy)
    for i in range(N):
        c.set(keys[i], {"theme": "dark", "n": i})
    c.close()
    lat = []
    start = time.perf_counter_ns()
    for r in range(5):
        t = time.perf_counter_ns()
        c = open_cache(tmp, policy)
        assert c.get(keys[r * 7]) is not None
        lat.append(time.perf_counter_ns() - t)
        c.close()
    report(impl, "reopen", (time.perf_counter_ns() - start) / 1e9, lat)
    shutil.rmtree(tmp)

    tmp = tempfile.mkdtemp()
    c = open_cache(tmp, policy)
    value = "x" * 1022
    run(impl, "fill_3x_limit", FILL * LIMIT // 1024, lambda i: c.set(f"fill{i}", value))
    c.close()
    shutil.rmtree(tmp)


def dir_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
               for f in files if os.path.exists(os.path.join(d, f)))


def capacity(impl, policy, value_len):
    """Writes 3x the limit; kept/limit, the largest dir/limit sampled every 32 writes, and
    the evictions after half the limit (as cache_workloads.rs does)."""
    tmp = tempfile.mkdtemp()
    kwargs = {"size_limit": CAP_LIMIT}
    if policy:
        kwargs["eviction_policy"] = policy
    c = diskcache.Cache(tmp, **kwargs)
    value = "v" * (value_len - 2)  # our values are JSON strings: value_len bytes with quotes
    count = 3 * CAP_LIMIT // value_len
    max_dir, evicted_at_half = 0, None
    for i in range(count):
        c.set(f"k{i:08}", value)
        if i % 32 == 0:
            max_dir = max(max_dir, dir_size(tmp))
        if evicted_at_half is None and (i + 1) * value_len >= CAP_LIMIT // 2:
            evicted_at_half = i + 1 - len(c)
    max_dir = max(max_dir, dir_size(tmp))
    kept = len(c) * value_len
    print(json.dumps({"impl": impl, "workload": f"capacity_{value_len}",
                      "kept_ratio": round(kept / CAP_LIMIT, 3),
                      "max_dir_ratio": round(max_dir / CAP_LIMIT, 3),
                      "evicted_at_half": evicted_at_half or 0}), flush=True)
    c.close()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    for impl, policy in (("diskcache", None), ("diskcache-lru", "least-recently-used")):
        if ONLY in ("", "workloads"):
            bench(impl, policy)
        if ONLY in ("", "capacity"):
            for value_len in (100, 1024, 16 * 1024, 64 * 1024):
                capacity(impl, policy, value_len)
