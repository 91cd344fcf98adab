"""
A batch of 1,000 predictions against the local fast server, at concurrency 64.

Run ``python -m benchmarks.batch_1000 [--items 1000] [--concurrency 64]``. It starts the
Flowise-shaped server of ``benchmarks.server`` in its own process (workload ``concurrent``:
200 frames per stream) and reports, for ``await batch`` (results kept, in input order) and for
``batch.as_completed()`` (results dropped): wall time, predictions and tokens per second, peak
memory of this process (RSS high-water mark, and the Python heap peak with ``--tracemalloc``),
and the connections still open afterwards (pool figures and the process's socket count).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from flowise_async import AsyncFlowise, Limits, Timeouts


def open_sockets() -> int:
    """Sockets this process has open (Linux)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


def rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", "--port", "0", "--preload", "concurrent"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


async def one_run(base_url: str, mode: str, items: int, concurrency: int) -> dict[str, Any]:
    questions = (f"question {i}" for i in range(items))
    sockets_before = open_sockets()
    async with AsyncFlowise(
        base_url,
        limits=Limits(max_connections=concurrency + 1),
        timeouts=Timeouts(connect=10, headers=60, idle=60),
    ) as client:
        started = time.perf_counter()
        batch = client.predictions.batch(
            "concurrent", questions, concurrency=concurrency, total=items
        )
        ok = 0
        if mode == "await":
            results = await batch
            ok = sum(r.ok for r in results)
            assert [r.index for r in results] == list(range(items))
            errors = [r.error for r in results if not r.ok][:3]
            del results
        else:
            errors = []
            async for result in batch.as_completed():
                ok += result.ok
                if not result.ok and len(errors) < 3:
                    errors.append(result.error)
        wall = time.perf_counter() - started
        progress = batch.progress()
        pool = client.pool_stats()
        sockets_open = open_sockets() - sockets_before
    sockets_closed = open_sockets() - sockets_before
    return {
        "mode": mode,
        "wall": wall,
        "ok": ok,
        "errors": errors,
        "rate": items / wall,
        "tokens_per_s": progress.tokens / wall,
        "pool": pool,
        "sockets_open": sockets_open,
        "sockets_after_close": sockets_closed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tracemalloc", action="store_true", help="also the Python heap peak")
    args = parser.parse_args()
    server, base_url = start_server()
    try:
        print(f"{args.items} predictions at concurrency {args.concurrency}, 200 frames each")
        baseline = rss_peak_mib()
        for mode in ("await", "as_completed"):
            if args.tracemalloc:
                tracemalloc.start()
            figures = asyncio.run(one_run(base_url, mode, args.items, args.concurrency))
            heap = ""
            if args.tracemalloc:
                heap = f", heap peak {tracemalloc.get_traced_memory()[1] / 2**20:.1f} MiB"
                tracemalloc.stop()
            pool = figures["pool"]
            print(
                f"{mode:>12}: {figures['wall']:.2f} s, {figures['ok']}/{args.items} ok, "
                f"{figures['rate']:.0f} predictions/s, {figures['tokens_per_s']:.0f} tokens/s; "
                f"RSS peak {rss_peak_mib():.1f} MiB (start {baseline:.1f}){heap}; "
                f"after the batch: {pool['acquired']} connections in use, {pool['idle']} idle "
                f"in the pool; sockets left after close: {figures['sockets_after_close']}"
            )
            if figures["errors"]:
                print(f"  first errors: {figures['errors']}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
