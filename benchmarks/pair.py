"""
One process, two revisions: this tree's `flowise_async` and an earlier revision's, side by side.

Two worker processes of the same code differ by several percent on a stream workload (how the
socket happens to coalesce the server's writes, where the heap lands): more than the 3% a
comparison must resolve. Here one process loads both packages (the earlier one exported under
another name, `BASE_NAME`: the package imports itself only relatively) and runs the workload
with each alternately, *runs* times, against the same server, after one warm-up each. Its figure
for each side is the fastest run (``timeit``'s advice): a round of `benchmarks.compare`.

``python -m benchmarks.pair --workload NAME --port N [--streams N] [--runs N] [--hook noop]``
prints one JSON line: ``{"ok": true, "current": {"cpus": [...], "walls": [...]}, "base": ...}``.
``--relay`` instead serves both revisions' FastAPI relay in one app (in a process of its own)
and times latency streams through each, alternately, from this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import importlib
import io
import json
import statistics
import subprocess
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks import workloads
from benchmarks.clients import QUESTION, FlowiseAsync


PACKAGE = "flowise_async"
BASE_NAME = "flowise_async_base"
"""The name the earlier revision's package is imported under."""
SIDES = ("current", "base")


def export_base(revision: str, dest: Path, repo: Path, name: str = BASE_NAME) -> Path:
    """Write *revision*'s package as ``dest/<name>`` (``flowise_async_base``); return *dest*."""
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", revision, PACKAGE],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        message = archive.stderr.decode(errors="replace").strip()
        raise ValueError(f"cannot export {PACKAGE} at {revision!r}: {message}")
    staging = dest / ".staging"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(staging, filter="data")
    (staging / PACKAGE).rename(dest / name)
    staging.rmdir()
    return dest


def packages(hook: str) -> dict[str, ModuleType]:
    """Both packages by side; with ``hook="noop"`` the current one gets one no-op hook."""
    found = {
        "current": importlib.import_module(PACKAGE),
        "base": importlib.import_module(BASE_NAME),
    }
    if found["current"].__file__ == found["base"].__file__:
        raise RuntimeError("both sides imported the same package")
    if hook == "noop":
        found["current"].add_hooks(found["current"].Hooks())
    return found


def _nothing() -> None:
    """The first-event callback of a single stream."""


class _Release:
    """
    The server holds every stream of a concurrent run after its first frame: once all of them
    got theirs, release the run (blocking for a moment, the same cost on both sides).
    """

    def __init__(self, port: int, run: str, streams: int) -> None:
        self.port, self.run, self.left = port, run, streams

    def first(self) -> None:
        self.left -= 1
        if self.left == 0:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.request("POST", f"/bench/release/{self.run}")
            conn.getresponse().read()
            conn.close()


async def measure_pair(
    workload: str, *, port: int, streams: int, runs: int, hook: str
) -> dict[str, Any]:
    """Alternate the two packages on *workload*; CPU and wall seconds of every run of each."""
    mods = packages(hook)
    base_url = f"http://127.0.0.1:{port}"
    figures: dict[str, dict[str, list[float]]] = {s: {"cpus": [], "walls": []} for s in SIDES}
    counts: set[int] = set()
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, FlowiseAsync] = {}
        for side in SIDES:
            client = FlowiseAsync(base_url, max(streams, 10), module=mods[side])
            await stack.enter_async_context(client)
            await client.stream("warmup", _nothing)
            clients[side] = client
        # One untimed run each first: the workload's first-time costs.
        for run in range(-1, runs):
            for side in SIDES if run % 2 == 0 else SIDES[::-1]:
                if streams == 1:
                    flow, first = workload, _nothing
                else:
                    run_id = uuid.uuid4().hex
                    flow, first = f"{workload}~{run_id}", _Release(port, run_id, streams).first
                gc.collect()
                wall0, cpu0 = time.perf_counter(), time.process_time()
                outcomes = await asyncio.gather(
                    *(clients[side].stream(flow, first) for _ in range(streams)),
                    return_exceptions=True,
                )
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                errors = [o for o in outcomes if isinstance(o, BaseException)]
                if errors:
                    first_error = errors[0]
                    reason = f"{side}: {type(first_error).__name__}: {first_error}"
                    return {"ok": False, "reason": reason}
                counts.update(len(o) for o in outcomes if isinstance(o, list))
                if run >= 0:
                    figures[side]["cpus"].append(cpu)
                    figures[side]["walls"].append(wall)
                del outcomes
    if len(counts) != 1:
        return {"ok": False, "reason": f"the sides decoded different event counts: {counts}"}
    return {"ok": True, "events": counts.pop(), **figures}


# -- the relay's latency ----------------------------------------------------------------------


def relay_app(upstream: int, hook: str) -> Any:
    """A FastAPI app relaying the upstream's flows through each side's `sse_response`."""
    from fastapi import FastAPI

    mods = packages(hook)
    fastapi_mods = {
        side: importlib.import_module(f"{mods[side].__name__}.fastapi") for side in SIDES
    }
    clients: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for side in SIDES:
                client = mods[side].AsyncFlowise(f"http://127.0.0.1:{upstream}")
                clients[side] = await stack.enter_async_context(client)
            yield

    app = FastAPI(lifespan=lifespan)

    def route(side: str) -> None:
        async def relay(flow: str) -> Any:
            stream = clients[side].predictions.stream(flow, QUESTION)
            return fastapi_mods[side].sse_response(stream)

        app.post(f"/{side}/{{flow}}")(relay)

    for side in SIDES:
        route(side)
    return app


async def token_delays(url: str) -> list[int]:
    """Token delays (ns) of one latency stream: each token carries its send time."""
    import aiohttp

    delays: list[int] = []
    async with aiohttp.ClientSession() as session, session.post(url) as response:
        name = ""
        async for line in response.content:
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:") and name == "token":
                data = json.loads(line[5:])
                text = data if isinstance(data, str) else data["text"]
                delays.append(time.monotonic_ns() - int(text))
    return delays


async def warm_up(url: str) -> None:
    """One whole stream from *url*, read and dropped."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.post(url) as response:
        await response.read()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerStartError(RuntimeError):
    """A server process exited or did not listen in time; the message says which."""


@contextlib.contextmanager
def served(
    command: list[str],
    *,
    port: int,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[None]:
    """Run the server *command* until it listens on *port*; stop it on the way out."""
    import socket

    proc = subprocess.Popen(command, env=env, cwd=cwd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                tail = (proc.communicate()[1].strip().splitlines() or ["no output"])[-1]
                raise ServerStartError(f"relay exited: {tail[:200]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ServerStartError("relay did not start") from None
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def probe_relay(port: int, *, frames: int, runs: int) -> dict[str, Any]:
    """Alternate latency streams through the two sides; each run's median token delay (s)."""
    base = f"http://127.0.0.1:{port}"
    figures: dict[str, dict[str, list[float]]] = {s: {"walls": []} for s in SIDES}
    for side in SIDES:
        await warm_up(f"{base}/{side}/warmup")
    for run in range(runs):
        for side in SIDES if run % 2 == 0 else SIDES[::-1]:
            delays = await token_delays(f"{base}/{side}/latency~{frames}~1")
            if len(delays) != frames:
                return {"ok": False, "reason": f"{side}: {len(delays)} of {frames} tokens"}
            figures[side]["walls"].append(statistics.median(delays) / 1e9)
    return {"ok": True, **figures}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pair", description=__doc__)
    parser.add_argument("--workload")
    parser.add_argument("--port", type=int, required=True, help="the benchmark server's port")
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each side (10)")
    parser.add_argument("--hook", choices=("none", "noop"), default="none")
    parser.add_argument("--relay", action="store_true", help="time the relay's latency")
    parser.add_argument("--frames", type=int, default=500, help="tokens of a latency stream")
    parser.add_argument("--serve-relay", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_relay:
        _serve_relay(args.port, args.upstream, args.hook)
        return
    if args.relay:
        result = _relay_main(args.port, args.hook, frames=args.frames, runs=args.runs)
    else:
        if args.workload not in workloads.NAMES:
            parser.error(f"unknown workload {args.workload!r}")
        result = asyncio.run(
            measure_pair(
                args.workload,
                port=args.port,
                streams=args.streams,
                runs=args.runs,
                hook=args.hook,
            )
        )
    print(json.dumps(result))


def _serve_relay(port: int, upstream: int, hook: str) -> None:
    """Serve the two-sided relay on *port* until stopped."""
    import uvicorn

    app = relay_app(upstream, hook)
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).run()


def _relay_main(upstream: int, hook: str, *, frames: int, runs: int) -> dict[str, Any]:
    """Start the two-sided relay in its own process, probe it from this one, stop it."""
    import sys

    port = free_port()
    command = [sys.executable, "-m", "benchmarks.pair", "--serve-relay", "--port", str(port)]
    command += ["--upstream", str(upstream), "--hook", hook]
    try:
        with served(command, port=port, timeout=30):
            return asyncio.run(probe_relay(port, frames=frames, runs=runs))
    except ServerStartError as exc:
        return {"ok": False, "reason": str(exc)}


if __name__ == "__main__":
    main()
