"""
A local server that answers like Flowise, from pre-encoded bytes.

Run as its own process (``python -m benchmarks.server --port 0``) so that its CPU is not the
client's; it prints ``PORT <n>`` once it listens, and stops when its parent process ends.

Routes (the paths and headers of a real Flowise):

- ``GET /api/v1/chatflows-streaming/{id}`` answers ``{"isStreaming": true}``.
- ``POST /api/v1/prediction/{id}`` streams ``text/event-stream``. The chatflow id names the
  workload: ``<workload>``; ``<workload>~<run>`` for concurrent runs, where each stream waits
  after its first frame until the client calls ``POST /bench/release/<run>`` (once every
  stream of the run has delivered its first event; at most 20 s); or
  ``latency~<frames>~<gap ms>``: token frames whose text is the server's
  ``time.monotonic_ns()`` just before the write.
- ``PUT /api/v1/chatmessage/abort/{flow}/{chat}`` answers like Flowise.
- ``GET /bench/cpu``: the server process's CPU seconds so far (to show it is not the
  bottleneck).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import time

from aiohttp import web

from benchmarks import workloads


_STREAM_HEADERS = {
    "Vary": "Origin",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}
_GATE_TIMEOUT = 20.0


class _Gate:
    """Holds the streams of one concurrent run until the client releases them (or a timeout)."""

    def __init__(self) -> None:
        self.open = asyncio.Event()

    async def wait(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.open.wait(), _GATE_TIMEOUT)


_gates: dict[str, _Gate] = {}


async def _start(request: web.Request) -> web.StreamResponse:
    await request.read()
    response = web.StreamResponse(status=200, headers=_STREAM_HEADERS)
    response.content_type = "text/event-stream"
    await response.prepare(request)
    return response


async def streaming(request: web.Request) -> web.Response:
    return web.json_response({"isStreaming": True})


async def cpu(request: web.Request) -> web.Response:
    return web.json_response({"cpu": time.process_time()})


async def release(request: web.Request) -> web.Response:
    _gates.setdefault(request.match_info["run"], _Gate()).open.set()
    return web.json_response({"released": True})


async def abort(request: web.Request) -> web.Response:
    return web.json_response({"status": 200, "message": "Chat message aborted"})


async def prediction(request: web.Request) -> web.StreamResponse:
    flow = request.match_info["flow"]
    name, _, rest = flow.partition("~")
    if name == "latency":
        return await _latency(request, rest)
    try:
        workload = workloads.get(name)
    except KeyError:
        raise web.HTTPNotFound(text=f"unknown workload {name!r}") from None
    gate = _gates.setdefault(rest, _Gate()) if rest and workload.hold_after_first else None
    chunks = _chunked(name)
    response = await _start(request)
    transport = request.transport
    try:
        # The first write goes through aiohttp, which sends the headers with it ...
        await response.write(workload.writes[0])
        if gate is not None:
            await gate.wait()
        # ... small ones straight to the socket, already framed as HTTP chunks: one
        # ``send()`` each, so the server stays far cheaper than any client. Large ones go
        # through aiohttp, which waits for the socket to drain.
        for raw, framed in zip(workload.writes[1:], chunks[1:], strict=True):
            if len(raw) >= _LARGE:
                await response.write(raw)
                continue
            if transport is None or transport.is_closing():
                raise ConnectionResetError
            transport.write(framed)
        await response.write_eof()
    except ConnectionError:
        pass  # the client left early; that is its business
    return response


_LARGE = 16 * 1024
_framed: dict[str, tuple[bytes, ...]] = {}


def _chunked(name: str) -> tuple[bytes, ...]:
    """The writes of a workload framed for ``Transfer-Encoding: chunked``, built once."""
    framed = _framed.get(name)
    if framed is None:
        writes = workloads.get(name).writes
        framed = _framed[name] = tuple(b"%x\r\n%b\r\n" % (len(w), w) for w in writes)
    return framed


async def _latency(request: web.Request, spec: str) -> web.StreamResponse:
    frames, _, gap_ms = spec.partition("~")
    gap = float(gap_ms or 1) / 1000
    response = await _start(request)
    await response.write(workloads.encode_frame("start", ""))
    for _ in range(int(frames)):
        await response.write(workloads.encode_frame("token", str(time.monotonic_ns())))
        await asyncio.sleep(gap)
    await response.write(workloads.encode_frame("end", "[DONE]"))
    await response.write_eof()
    return response


def make_app() -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_get("/api/v1/chatflows-streaming/{flow}", streaming)
    app.router.add_post("/api/v1/prediction/{flow}", prediction)
    app.router.add_put("/api/v1/chatmessage/abort/{flow}/{chat}", abort)
    app.router.add_post("/bench/release/{run}", release)
    app.router.add_get("/bench/cpu", cpu)
    return app


def raise_fd_limit() -> None:
    """Allow thousands of sockets (1,000 concurrent streams need more than 1,024 fds)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def serve(port: int, preload: list[str]) -> None:
    for name in preload:
        _chunked(name)
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    actual = server.sockets[0].getsockname()[1]
    print(f"PORT {actual}", flush=True)
    # Stop with the parent process (SIGTERM from it, or its death).
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--preload", nargs="*", default=[], help="workloads to build up front")
    args = parser.parse_args()
    raise_fd_limit()
    asyncio.run(serve(args.port, args.preload))


if __name__ == "__main__":
    main()
