"""
Compare this tree's `flowise_async` with an earlier revision's on the stream workloads.

``python -m benchmarks.compare --base REV [--rounds 15] [--workloads a,b] [--hook none|noop]``
exports the package of *REV* (``git archive``, no network) to a temporary directory, starts
the benchmark server, then runs the ``flowise_async`` client on each workload in fresh worker
processes, *rounds* times, alternating base and current tree within each round (which goes
first alternates too). Each worker imports the package of its tree (its working directory
and ``PYTHONPATH`` come first) and says which one it imported.

With ``--hook noop`` the current tree's workers register one `flowise_async.Hooks` that
overrides nothing before they measure; the base's register none.

Per workload it prints the median time per event of each tree, the ratio current/base (the
geometric mean of the per-round paired ratios) with its 95% t-interval, and PASS when the
upper end of the interval is at most ``--limit`` (1.03). A worker's figure is the median of its
``--inner`` timed runs (``--stat min`` for the fastest; see `_figure`), and every worker runs
with the same hash seed. It does so twice: for the client's
CPU time (what the client costs; other work on a shared machine barely moves it) and for
wall time (what a user waits; the relay's latency is only measured so). It exits 0 whatever
the figures: they are figures, not tests.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import pair, workloads


PACKAGE = "flowise_async"
CLIENT = "flowise_async"
TREES = ("base", "current")
#: The pseudo-workload of the relay's latency: its figure is the median delay of a token.
RELAY = "relay-latency"

#: The 0.975 quantile of Student's t for 1..30 degrees of freedom.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with *df* degrees of freedom."""
    if df < 1:
        raise ValueError("a t-interval needs at least two values")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    # Cornish-Fisher expansion: within 1e-3 of the exact value beyond 30 degrees of freedom.
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def ratio_interval(current: Sequence[float], base: Sequence[float]) -> tuple[float, float, float]:
    """
    The ratio current/base over paired rounds and its 95% interval.

    Each round gives one ratio ``current[i] / base[i]``; the result is their geometric mean
    and the t-interval of the mean of their logarithms, taken back by ``exp``.
    """
    if len(current) != len(base):
        raise ValueError("current and base need one value per round each")
    logs = [math.log(c / b) for c, b in zip(current, base, strict=True)]
    mean = statistics.fmean(logs)
    half = t975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def export_revision(revision: str, dest: Path, repo: Path | None = None) -> Path:
    """Write *revision*'s ``flowise_async`` package under *dest*; return *dest*."""
    return pair.export_base(revision, dest, Path(repo or Path.cwd()), name=PACKAGE)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _worker(argv: Sequence[str]) -> None:
    """A worker of `benchmarks.worker`, after checking the package and registering hooks."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", required=True, help="the directory the package must be in")
    parser.add_argument("--hook", choices=("none", "noop"), default="none")
    args, rest = parser.parse_known_args(argv)
    problem = _check_tree(args.tree, args.hook)
    if problem:
        print(json.dumps({"ok": False, "reason": problem}))
        return
    from benchmarks import worker

    worker.main(rest)


def _check_tree(tree: str, hook: str) -> str | None:
    """Check that `flowise_async` comes from *tree*, register the hook; or say what is wrong."""
    import flowise_async

    where = Path(flowise_async.__file__).resolve()
    if not where.is_relative_to(Path(tree).resolve()):
        return f"imported {where}, not from {tree}"
    if hook == "noop":
        flowise_async.add_hooks(flowise_async.Hooks())
    return None


def _relay(argv: Sequence[str]) -> None:
    """Serve ``POST /relay/{flow}``: the flow of the upstream server through `sse_response`."""
    import contextlib
    from collections.abc import AsyncIterator

    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", required=True)
    parser.add_argument("--hook", choices=("none", "noop"), default="none")
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    problem = _check_tree(args.tree, args.hook)
    if problem:
        raise SystemExit(problem)
    import uvicorn
    from fastapi import FastAPI

    from benchmarks.clients import QUESTION
    from flowise_async import AsyncFlowise
    from flowise_async.fastapi import SSEResponse, sse_response

    clients: list[AsyncFlowise] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncFlowise(f"http://127.0.0.1:{args.upstream}") as client:
            clients.append(client)
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/relay/{flow}")
    async def relay(flow: str) -> SSEResponse:
        return sse_response(clients[0].predictions.stream(flow, QUESTION))

    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    uvicorn.Server(config).run()


async def _probe_relay(port: int, frames: int) -> list[int]:
    """Token delays (ns) of one relayed latency stream, after a warm-up stream."""
    base = f"http://127.0.0.1:{port}/relay"
    await pair.warm_up(f"{base}/warmup")
    return await pair.token_delays(f"{base}/latency~{frames}~1")


def _relay_round(
    tree: Path, here: Path, hook: str, *, upstream: int, frames: int, timeout: float
) -> dict[str, Any]:
    """Start a relay on *tree*'s package, measure one latency stream through it, stop it."""
    import asyncio

    port = pair.free_port()
    command = [*_python(), "-m", "benchmarks.compare", "--relay", "--tree", str(tree)]
    command += ["--hook", hook, "--upstream", str(upstream), "--port", str(port)]
    try:
        with pair.served(command, port=port, timeout=timeout, env=_env(tree, here), cwd=tree):
            delays = asyncio.run(asyncio.wait_for(_probe_relay(port, frames), timeout))
    except pair.ServerStartError as exc:
        return {"ok": False, "reason": str(exc)}
    except Exception as exc:
        return {"ok": False, "reason": f"{type(exc).__name__}: {str(exc)[:160]}"}
    if len(delays) != frames:
        return {"ok": False, "reason": f"{len(delays)} tokens relayed, expected {frames}"}
    return {"ok": True, "wall": statistics.median(delays) / 1e9}


#: Whether workers run with a fixed memory layout (``--aslr`` turns it off).
FIXED_LAYOUT = {"on": True}


def _python() -> list[str]:
    """
    How a worker's Python starts: without address-space randomisation where ``setarch -R``
    works (Linux), so that two processes of one tree lay out their memory alike and differ
    by their code, not by where the kernel happened to put their heap.
    """
    setarch = shutil.which("setarch")
    if FIXED_LAYOUT["on"] and setarch and _setarch_works(setarch):
        return [setarch, platform.machine(), "-R", sys.executable]
    return [sys.executable]


@functools.cache
def _setarch_works(setarch: str) -> bool:
    try:
        done = subprocess.run(
            [setarch, platform.machine(), "-R", sys.executable, "-c", "pass"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _env(tree: Path, here: Path) -> dict[str, str]:
    """A worker's environment: its tree's package first, and one hash seed for every worker."""
    path = os.pathsep.join([str(tree), str(here)])
    return {**os.environ, "PYTHONPATH": path, "PYTHONHASHSEED": "0"}


def _run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run a worker; the JSON of its last line, or why there is none."""
    from benchmarks.run import run_json

    return run_json(command, timeout=timeout, cwd=cwd, env=env)


def measure(
    *,
    trees: dict[str, Path],
    names: Sequence[str],
    rounds: int,
    hook: str,
    port: int,
    streams: int,
    inner: int,
    timeout: float,
    relay_frames: int = 500,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``results[workload][tree]``: one worker result per round (a failure ends the series)."""
    here = trees["current"]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {tree: [] for tree in TREES} for name in names
    }
    for index in range(rounds):
        order = TREES if index % 2 == 0 else TREES[::-1]
        for name in names:
            if any(runs and not runs[-1].get("ok") for runs in results[name].values()):
                continue
            count = 1 if name == RELAY or workloads.get(name).streams == 1 else streams
            for tree in order:
                tree_hook = hook if tree == "current" else "none"
                t0 = time.perf_counter()
                if name == RELAY:
                    result = _relay_round(
                        trees[tree],
                        here,
                        tree_hook,
                        upstream=port,
                        frames=relay_frames,
                        timeout=timeout,
                    )
                else:
                    command = [*_python(), "-m", "benchmarks.compare", "--worker"]
                    command += ["--tree", str(trees[tree]), "--hook", tree_hook]
                    command += ["--client", CLIENT, "--workload", name, "--port", str(port)]
                    command += ["--streams", str(count), "--inner", str(1 if count > 1 else inner)]
                    limit = timeout * (3 if count > 1 else 1)
                    result = _run(
                        command, cwd=trees[tree], env=_env(trees[tree], here), timeout=limit
                    )
                status = "ok" if result.get("ok") else f"FAIL {result.get('reason')}"
                _log(
                    f"  round {index + 1}/{rounds} {name:<20} {tree:<8} "
                    f"{1000 * result.get('wall', float('nan')):9.3f} ms "
                    f"({time.perf_counter() - t0:.1f} s)  {status}"
                )
                results[name][tree].append(result)
    return results


#: How a worker's timed runs become its figure of a round (``--stat``).
STATS: dict[str, Callable[[Sequence[float]], float]] = {
    "median": statistics.median,
    "min": min,
}


def _figure(result: dict[str, Any], clock: str, stat: str = "median") -> float:
    """
    A worker's figure on *clock*: the *stat* of its timed runs, or its single figure where it
    gives no list.

    The median is the default. The fastest run (``timeit``'s advice: other work only adds
    time) misleads on the workloads of one frame per write: a run now and then finds the
    frames coalesced into a few reads and costs half as much, and whether a side had such a
    run decides its minimum. The median is the cost of the workload as designed.
    """
    runs = result.get(f"{clock}s")
    return float(STATS[stat](runs)) if runs else float(result[clock])


def measure_pairs(
    *,
    base_dir: Path,
    here: Path,
    names: Sequence[str],
    rounds: int,
    hook: str,
    port: int,
    streams: int,
    inner: int,
    timeout: float,
    relay_frames: int = 500,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """
    ``results[workload][tree]`` as `measure` gives them, from `benchmarks.pair` workers: each
    round is one process that runs both trees alternately, *inner* times each.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(here), str(base_dir)]),
        "PYTHONHASHSEED": "0",
    }
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {tree: [] for tree in TREES} for name in names
    }
    for index in range(rounds):
        for name in names:
            if any(runs and not runs[-1].get("ok") for runs in results[name].values()):
                continue
            command = [*_python(), "-m", "benchmarks.pair", "--hook", hook]
            if name == RELAY:
                command += ["--relay", "--port", str(port), "--frames", str(relay_frames)]
                command += ["--runs", str(inner)]
                limit = timeout * 2
            else:
                count = streams if workloads.get(name).streams > 1 else 1
                command += ["--workload", name, "--port", str(port), "--streams", str(count)]
                command += ["--runs", str(max(2, inner // 3) if count > 1 else inner)]
                limit = timeout * (6 if count > 1 else 2)
            t0 = time.perf_counter()
            result = _run(command, cwd=here, env=env, timeout=limit)
            for tree in TREES:
                side = result.get(tree) if result.get("ok") else None
                if side is None:
                    results[name][tree].append({"ok": False, "reason": result.get("reason")})
                    continue
                entry: dict[str, Any] = {"ok": True, **side}
                for clock in ("cpu", "wall"):
                    if f"{clock}s" in side:
                        entry[clock] = statistics.median(side[f"{clock}s"])
                results[name][tree].append(entry)
            status = "ok" if result.get("ok") else f"FAIL {result.get('reason')}"
            _log(
                f"  round {index + 1}/{rounds} {name:<20} "
                f"({time.perf_counter() - t0:.1f} s)  {status}"
            )
    return results


def summarize(
    results: dict[str, dict[str, list[dict[str, Any]]]],
    events: dict[str, int],
    limit: float,
    clock: str = "wall",
    stat: str = "median",
) -> list[dict[str, Any]]:
    """
    One row per workload: median µs per event of each tree, ratio, interval, verdict.

    *clock* is ``wall`` or ``cpu`` (the client process's CPU time); workloads measured
    without it (the relay's latency has no CPU figure) are left out.
    """
    rows = []
    for name, per_tree in results.items():
        if any(r.get("ok") and clock not in r for runs in per_tree.values() for r in runs):
            continue
        row: dict[str, Any] = {"workload": name, "clock": clock}
        failed = [r for runs in per_tree.values() for r in runs if not r.get("ok")]
        if failed:
            row.update(verdict="FAIL", reason=str(failed[0].get("reason")))
            rows.append(row)
            continue
        walls = {tree: [_figure(r, clock, stat) for r in runs] for tree, runs in per_tree.items()}
        for tree in TREES:
            row[f"{tree}_us"] = 1e6 * statistics.median(walls[tree]) / events[name]
        if len(walls["current"]) < 2:
            row.update(verdict="FAIL", reason="fewer than two rounds")
            rows.append(row)
            continue
        point, low, high = ratio_interval(walls["current"], walls["base"])
        row.update(ratio=point, low=low, high=high, verdict="PASS" if high <= limit else "FAIL")
        rows.append(row)
    return rows


def render(rows: Sequence[dict[str, Any]], header: str, limit: float) -> str:
    lines = [
        header,
        "",
        "| workload | base µs/event | current µs/event | current/base | 95% interval | "
        f"≤ {limit:g} |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        if "ratio" not in row:
            lines.append(f"| {row['workload']} | | | | | FAIL: {row.get('reason', '')} |")
            continue
        lines.append(
            f"| {row['workload']} | {row['base_us']:.3f} | {row['current_us']:.3f} | "
            f"{row['ratio']:.3f} | {row['low']:.3f} to {row['high']:.3f} | {row['verdict']} |"
        )
    if any(row["workload"] == RELAY for row in rows):
        lines += ["", f"{RELAY}: the median delay of a token through a FastAPI relay, in µs."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["--worker"]:
        _worker(args_in[1:])
        return
    if args_in[:1] == ["--relay"]:
        _relay(args_in[1:])
        return
    if args_in[:1] == ["--report"]:
        saved = argparse.ArgumentParser(prog="python -m benchmarks.compare --report")
        saved.add_argument("file", type=Path)
        saved.add_argument("--stat", choices=tuple(STATS), default="median")
        saved.add_argument("--limit", type=float, default=1.03)
        opts = saved.parse_args(args_in[1:])
        report_file(opts.file, opts.stat, opts.limit)
        return
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base", required=True, help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=15, help="paired rounds (15)")
    parser.add_argument(
        "--workloads", help=f"comma-separated subset of: {', '.join(workloads.NAMES)}"
    )
    parser.add_argument("--hook", choices=("none", "noop"), default="none")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams (1000)")
    parser.add_argument("--inner", type=int, default=9, help="timed runs per worker (9)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per worker (30)")
    parser.add_argument(
        "--relay-frames",
        type=int,
        default=500,
        help="token frames (1 ms apart) of the relay's latency stream; 0 skips the relay (500)",
    )
    parser.add_argument("--limit", type=float, default=1.03, help="bar for the upper end (1.03)")
    parser.add_argument("--json", type=Path, dest="json_path", help="also write raw results here")
    parser.add_argument(
        "--stat",
        choices=tuple(STATS),
        default="median",
        help="a worker's figure of a round: the median of its timed runs, or the fastest (median)",
    )
    parser.add_argument(
        "--mode",
        choices=("pair", "process"),
        default="pair",
        help="pair: one process per round runs both trees alternately (benchmarks.pair); "
        "process: one process per tree and round (pair)",
    )
    parser.add_argument(
        "--aslr",
        action="store_true",
        help="keep address-space randomisation in the workers (by default setarch -R turns it "
        "off where it can)",
    )
    args = parser.parse_args(args_in)
    FIXED_LAYOUT["on"] = not args.aslr
    names = args.workloads.split(",") if args.workloads else list(workloads.NAMES)
    for name in names:
        if name not in workloads.NAMES:
            parser.error(f"unknown workload {name!r}")
    if args.relay_frames > 0:
        names.append(RELAY)
    if args.rounds < 2:
        parser.error("--rounds must be at least 2")
    from benchmarks.run import Server

    here = Path.cwd().resolve()
    load0 = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="flowise-base-") as tmp:
        try:
            if args.mode == "pair":
                base = pair.export_base(args.base, Path(tmp).resolve(), here)
            else:
                base = export_revision(args.base, Path(tmp).resolve(), here)
        except ValueError as exc:
            parser.error(str(exc))
        events = {RELAY: 1}
        for name in names:
            if name != RELAY:
                spec = workloads.get(name)
                events[name] = spec.events * (args.streams if spec.streams > 1 else 1)
        _log(f"starting the server; base {args.base} exported; hook {args.hook}")
        server = Server([*(n for n in names if n != RELAY), "warmup"])
        common: dict[str, Any] = {
            "names": names,
            "rounds": args.rounds,
            "hook": args.hook,
            "port": server.port,
            "streams": args.streams,
            "inner": args.inner,
            "timeout": args.timeout,
            "relay_frames": args.relay_frames,
        }
        try:
            if args.mode == "pair":
                results = measure_pairs(base_dir=base, here=here, **common)
            else:
                results = measure(trees={"base": base, "current": here}, **common)
        finally:
            server.close()
    layout = "fixed memory layout" if _python()[0] != sys.executable else "randomised layout"
    header = (
        f"current tree vs {args.base}: {args.rounds} interleaved rounds, hook {args.hook}, "
        f"{args.streams} concurrent streams, {args.mode} mode, {args.stat} of {args.inner} runs, "
        f"{layout}, "
        f"load {load0:.2f} → {os.getloadavg()[0]:.2f}, "
        f"{time.perf_counter() - started:.0f} s"
    )
    rows = report(results, events, header, args.limit, args.stat)
    if args.json_path:
        raw = {"header": header, "events": events, "rows": rows, "results": results}
        args.json_path.write_text(json.dumps(raw, indent=1), encoding="utf-8")


def report(
    results: dict[str, dict[str, list[dict[str, Any]]]],
    events: dict[str, int],
    header: str,
    limit: float,
    stat: str,
) -> list[dict[str, Any]]:
    """Print the CPU-time and wall-time tables; return their rows."""
    rows = []
    for clock, what in (("cpu", "client CPU time"), ("wall", "wall time")):
        clock_rows = summarize(results, events, limit, clock, stat)
        print(render(clock_rows, f"{header}; {what}", limit) + "\n")
        rows += clock_rows
    return rows


def report_file(path: Path, stat: str, limit: float) -> None:
    """Print the tables of a run saved with ``--json``, with the per-round *stat*."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    events = raw.get("events") or _events_of(raw["results"])
    header = f"{raw['header']} (from {path.name}, {stat} of each worker's runs)"
    report(raw["results"], events, header, limit, stat)


def _events_of(results: dict[str, Any]) -> dict[str, int]:
    """Events per run of each workload, for files saved before they were recorded."""
    counts = {RELAY: 1}
    for name, per_tree in results.items():
        if name != RELAY:
            first = next(r for runs in per_tree.values() for r in runs if r.get("ok"))
            counts[name] = int(first.get("events") or _default_events(name))
    return counts


def _default_events(name: str) -> int:
    spec = workloads.get(name)
    return spec.events * (1000 if spec.streams > 1 else 1)


if __name__ == "__main__":
    main()
