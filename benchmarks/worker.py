"""
One measurement in a fresh process: one client, one workload, one repetition.

``python -m benchmarks.worker --client NAME --workload NAME --port N [--streams N] [--inner N]``
prints one JSON object. The workload's bytes are only built *after* the clock and the peak
RSS were read, so that the expected events do not count as client memory.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import http.client
import json
import os
import statistics
import threading
import time
import uuid
from typing import Any

from benchmarks import workloads
from benchmarks.clients import CLIENTS, Client
from benchmarks.server import raise_fd_limit


_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Current resident set size of this process, in bytes."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * _PAGE


def peak_rss() -> int:
    """
    Peak resident set size of this process so far, in bytes.

    ``VmHWM`` belongs to this program's address space; ``getrusage``'s ``ru_maxrss`` would
    also count the parent's peak, which it inherits across ``fork`` + ``exec``.
    """
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class _Probe:
    """
    Counts streams that received their first event. When all of them did, it samples RSS
    and releases the run on the server, which holds every stream after its first frame.
    """

    def __init__(self, streams: int, port: int, run: str | None) -> None:
        self.streams = streams
        self.port = port
        self.run = run
        self.count = 0
        self.rss_all_open: int | None = None
        self._lock = threading.Lock()

    def first(self) -> None:
        with self._lock:
            self.count += 1
            if self.count != self.streams:
                return
            self.rss_all_open = rss()
        if self.run is not None:
            # Once per run, blocking for a moment: the same small cost for every client.
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.request("POST", f"/bench/release/{self.run}")
            conn.getresponse().read()
            conn.close()


def server_cpu(port: int) -> float:
    """CPU seconds the server process has used so far."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/bench/cpu")
        return float(json.loads(conn.getresponse().read())["cpu"])
    finally:
        conn.close()


def diff(expected: workloads.Expected, got: workloads.Expected) -> str | None:
    """Where *got* departs from *expected*, or ``None`` when they are equal."""
    if got == expected:
        return None
    for i, (want, have) in enumerate(zip(expected, got, strict=False)):
        if want != have:
            return f"event {i}: expected {_short(want)}, got {_short(have)}"
    return f"{len(got)} events, expected {len(expected)}"


def _short(value: Any, limit: int = 90) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _errors(outcomes: list[Any], streams: int) -> str | None:
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if not errors:
        return None
    first = errors[0]
    what = f"{type(first).__name__}: {_short(' '.join(str(first).split()), 120)}"
    return f"{len(errors)}/{streams} streams raised {what}"


async def measure(
    client_name: str,
    workload: str,
    *,
    port: int,
    streams: int = 1,
    inner: int = 1,
    profile: str | None = None,
) -> dict[str, Any]:
    """Warm up, then time *inner* runs; peak RSS and the full check come from the first."""
    cls = CLIENTS[client_name]
    base_url = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {"client": client_name, "workload": workload, "streams": streams}
    walls: list[float] = []
    cpus: list[float] = []
    server_cpus: list[float] = []
    first_outcomes: list[Any] = []
    client: Client = cls(base_url, max_streams=max(streams, 10))
    async with client:
        # Warm-up: connection pool, lazily built converters, first-call costs.
        warm = await client.stream("warmup", lambda: None)
        del warm
        for run in range(inner):
            run_id = None if streams == 1 else uuid.uuid4().hex
            flow = workload if run_id is None else f"{workload}~{run_id}"
            gc.collect()
            probe = _Probe(streams, port, run_id)
            rss_base = rss()
            server0 = server_cpu(port)
            profiler = cProfile.Profile() if profile and run == 0 else None
            wall0 = time.perf_counter()
            cpu0 = time.process_time()
            if profiler:
                profiler.enable()
            outcomes = await asyncio.gather(
                *(client.stream(flow, probe.first) for _ in range(streams)),
                return_exceptions=True,
            )
            if profiler:
                profiler.disable()
            walls.append(time.perf_counter() - wall0)
            cpus.append(time.process_time() - cpu0)
            server_cpus.append(server_cpu(port) - server0)
            if run == 0:
                result["rss_base"] = rss_base
                result["rss_peak"] = peak_rss()
                result["rss_all_open"] = probe.rss_all_open
                if profiler and profile:
                    profiler.dump_stats(profile)
                first_outcomes = outcomes
            problem = _errors(outcomes, streams)
            if problem is None and run > 0:
                sizes = {len(o) for o in [*outcomes, *first_outcomes] if isinstance(o, list)}
                if len(sizes) > 1:
                    problem = f"run {run + 1} decoded a different number of events: {sizes}"
            if problem is not None:
                result.update(ok=False, reason=problem)
                return result
            del outcomes
    result["walls"] = walls
    result["cpus"] = cpus
    result["wall"] = statistics.median(walls)
    result["cpu"] = statistics.median(cpus)
    result["server_cpus"] = server_cpus
    # Verification, after the measurement.
    spec = workloads.get(workload)
    if client.checks == "bytes":
        expected: workloads.Expected = [("bytes", spec.body_bytes)]
    else:
        expected = spec.expected
    for outcome in first_outcomes:
        problem = diff(expected, client.normalize(outcome))
        if problem is not None:
            result.update(ok=False, reason=problem)
            return result
    result["ok"] = True
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", required=True, choices=sorted(CLIENTS))
    parser.add_argument("--workload", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--inner", type=int, default=1, help="timed runs in this process")
    parser.add_argument("--profile", help="write cProfile stats of the timed part here")
    args = parser.parse_args(argv)
    raise_fd_limit()
    try:
        result = asyncio.run(
            measure(
                args.client,
                args.workload,
                port=args.port,
                streams=args.streams,
                inner=args.inner,
                profile=args.profile,
            )
        )
    except Exception as exc:
        result = {"ok": False, "reason": f"{type(exc).__name__}: {_short(str(exc), 160)}"}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
