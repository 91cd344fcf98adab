"""
Run the benchmark suite: start the server process, run every client on every workload in
fresh processes (interleaved repetitions), then the decoder micro-benchmark and the latency
probe, and print the report (Markdown).

This is not a test: it prints figures and exits 0 whatever they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from benchmarks import report, workloads
from benchmarks.clients import BASELINE, CLIENTS
from benchmarks.micro import INPUTS as MICRO_INPUTS


@dataclass
class Settings:
    workloads: list[str]
    clients: list[str]
    repeat: int
    inner: int
    streams: int
    timeout: float
    micro_reps: int
    latency_frames: int
    micro: bool = True
    latency: bool = True
    memory: bool = True
    profile: Path | None = None
    output: Path | None = None
    json_path: Path | None = None
    argv: list[str] = field(default_factory=list)


def parse(argv: Sequence[str]) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one repetition, 200 concurrent streams, shorter micro and latency runs",
    )
    parser.add_argument(
        "--workloads",
        help=f"comma-separated subset of: {', '.join(workloads.NAMES)}",
    )
    parser.add_argument("--clients", help=f"comma-separated subset of: {', '.join(CLIENTS)}")
    parser.add_argument("--repeat", type=int, help="repetitions per client and workload (3)")
    parser.add_argument(
        "--inner", type=int, help="timed runs inside each client process (3; concurrent: 1)"
    )
    parser.add_argument("--streams", type=int, help="streams of the concurrent workload (1000)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds before one measurement counts as failed (30; concurrent: 3x)",
    )
    parser.add_argument("--no-micro", action="store_true", help="skip the decoder micro-benchmark")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency probe")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory of a long answer")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also profile flowise_async (tokens-coalesced and the micro-benchmark) into DIR",
    )
    parser.add_argument("--output", type=Path, help="also write the report (MyST Markdown) here")
    parser.add_argument("--json", type=Path, dest="json_path", help="also write raw results here")
    args = parser.parse_args(argv)
    names = args.workloads.split(",") if args.workloads else list(workloads.NAMES)
    clients = args.clients.split(",") if args.clients else list(CLIENTS)
    for name in names:
        if name not in workloads.NAMES:
            parser.error(f"unknown workload {name!r}")
    for name in clients:
        if name not in CLIENTS:
            parser.error(f"unknown client {name!r}")
    if BASELINE not in clients:
        clients.insert(0, BASELINE)
    quick = args.quick
    return Settings(
        workloads=names,
        clients=clients,
        repeat=args.repeat or (1 if quick else 3),
        inner=args.inner or (1 if quick else 3),
        streams=args.streams or (200 if quick else 1000),
        timeout=args.timeout or (20.0 if quick else 30.0),
        micro_reps=3 if quick else 7,
        latency_frames=500 if quick else 2000,
        micro=not args.no_micro,
        latency=not args.no_latency,
        memory=not args.no_memory,
        profile=args.profile,
        output=args.output,
        json_path=args.json_path,
        argv=list(argv),
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Server:
    """The server subprocess."""

    def __init__(self, preload: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", "--port", "0", "--preload", *preload],
            stdout=subprocess.PIPE,
            text=True,
        )
        stdout: IO[str] | None = self.proc.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"benchmark server did not start: {line!r}")
        self.port = int(line.split()[1])

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _python_json(args: list[str], timeout: float) -> dict[str, Any]:
    """Run ``python -m <args>`` and parse the JSON object it prints last."""
    return run_json([sys.executable, "-m", *args], timeout=timeout)


def run_json(
    command: list[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run a worker *command*; the JSON object of its last line, or why there is none."""
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "reason": f"timeout: no result within {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "reason": f"exit {done.returncode}: {tail[:200]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


#: Seconds of timed runs after which a client is not measured again on that workload.
_SLOW = 10.0


def measure_all(settings: Settings, port: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``results[workload][client]`` = one dict per repetition (a failure ends the series)."""
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        w: {c: [] for c in settings.clients} for w in settings.workloads
    }
    clients = settings.clients
    for rep in range(settings.repeat):
        for name in settings.workloads:
            spec = workloads.get(name)
            streams = settings.streams if spec.streams > 1 else 1
            order = clients[rep % len(clients) :] + clients[: rep % len(clients)]
            for client in order:
                runs = results[name][client]
                if runs and not runs[-1].get("ok"):
                    continue  # it failed once: report that, do not retry
                if runs and sum(runs[-1].get("walls", [])) > _SLOW:
                    continue  # a slow one: its single measurement is clear enough
                args = ["benchmarks.worker", "--client", client, "--workload", name]
                args += ["--port", str(port), "--streams", str(streams)]
                args += ["--inner", str(1 if streams > 1 else settings.inner)]
                t0 = time.perf_counter()
                timeout = settings.timeout * (3 if streams > 1 else 1)
                result = _python_json(args, timeout)
                status = "ok" if result.get("ok") else f"FAIL {result.get('reason')}"
                _log(
                    f"  rep {rep + 1}/{settings.repeat} {name:<17} {client:<19} "
                    f"{result.get('wall', float('nan')):8.3f} s  ({time.perf_counter() - t0:.1f} s)"
                    f"  {status}"
                )
                runs.append(result)
    return results


def _versions() -> dict[str, str]:
    names = ["flowise-async", "aiohttp", "httpx", "httpx-sse", "aiohttp-sse-client"]
    names += ["flowise", "requests", "attrs", "cattrs"]
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _command(argv: Sequence[str]) -> str:
    args = list(argv)
    if os.environ.get("NOX_CURRENT_SESSION"):
        return "nox -s bench" + (" -- " + shlex.join(args) if args else "")
    return "python -m benchmarks" + (" " + shlex.join(args) if args else "")


def _profile(settings: Settings, port: int) -> str:
    """Profile flowise_async on tokens-coalesced and on the micro-benchmark; top of each."""
    import cProfile
    import pstats
    from io import StringIO

    assert settings.profile is not None
    settings.profile.mkdir(parents=True, exist_ok=True)
    out = StringIO()
    sock = settings.profile / "flowise_async-tokens-coalesced.pstats"
    args = ["benchmarks.worker", "--client", BASELINE, "--workload", "tokens-coalesced"]
    args += ["--port", str(port), "--profile", str(sock)]
    _python_json(args, settings.timeout)
    from benchmarks import micro

    chunks = workloads.get("tokens-coalesced").writes
    micro.flowise_events(chunks)
    mem = settings.profile / "flowise_async-micro-tokens-coalesced.pstats"
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(3):
        micro.flowise_events(chunks)
    profiler.disable()
    profiler.dump_stats(mem)
    for title, path in (("end to end, tokens-coalesced", sock), ("micro, tokens-coalesced", mem)):
        if not path.exists():
            out.write(f"\n## profile: {title}: no profile written\n")
            continue
        out.write(f"\n## profile: {title} ({path})\n")
        stats = pstats.Stats(str(path), stream=out)
        stats.sort_stats("tottime").print_stats(25)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> None:
    settings = parse(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    load = [os.getloadavg()[0], 0.0]
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "load": load,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": _versions(),
        "command": _command(settings.argv),
        "repeat": settings.repeat,
        "inner": settings.inner,
        "streams": settings.streams,
        "timeout": settings.timeout,
    }
    preload = [*settings.workloads, "warmup"]
    if settings.micro:
        preload += [w for w in MICRO_INPUTS if w not in preload]
    _log(f"starting the server (building {len(preload)} workloads)...")
    server = Server(preload)
    micro_results: dict[str, Any] | None = None
    latency_results: dict[str, Any] | None = None
    memory_results: dict[str, Any] | None = None
    profile_text = ""
    try:
        _log(f"server on 127.0.0.1:{server.port}; {settings.repeat} repetition(s)")
        results = measure_all(settings, server.port)
        if settings.micro:
            _log("decoder micro-benchmark...")
            micro_results = _python_json(
                ["benchmarks.micro", "--reps", str(settings.micro_reps)], 600
            )
        if settings.latency:
            _log("latency probe...")
            latency_results = _python_json(
                [
                    "benchmarks.latency",
                    "--port",
                    str(server.port),
                    "--frames",
                    str(settings.latency_frames),
                ],
                120,
            )
        if settings.memory:
            _log("memory of a long answer...")
            memory_results = _python_json(["benchmarks.memory"], 120)
        if settings.profile:
            _log("profiling flowise_async...")
            profile_text = _profile(settings, server.port)
    finally:
        server.close()
    info["elapsed"] = time.perf_counter() - started
    load[1] = os.getloadavg()[0]
    text = report.render(
        info=info,
        names=settings.workloads,
        clients=settings.clients,
        results=results,
        micro=micro_results,
        latency=latency_results,
        memory=memory_results,
    )
    print(text)
    if profile_text:
        print(profile_text)
    if settings.output:
        settings.output.write_text(report.page(text, info), encoding="utf-8")
    if settings.json_path:
        raw = {
            "info": info,
            "results": results,
            "micro": micro_results,
            "latency": latency_results,
            "memory": memory_results,
        }
        settings.json_path.write_text(json.dumps(raw, indent=1), encoding="utf-8")
