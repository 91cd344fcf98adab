"""
Misbehaving local servers for the reliability tests.

Every server listens on 127.0.0.1 and runs in its own thread with its own event loop, so the
test's loop holds only the client's tasks (a leaked task is visible there) and a server that
blocks does not stall the client. `RawServer` speaks just enough HTTP/1.1 (keep-alive, chunked
responses) for each handler to misbehave at the byte level: never answer, cut a frame, send a
TCP reset, send an HTML error page, stream heartbeats, and so on.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import attrs
import pytest

from flowise_async import AsyncFlowise, Retries, Timeouts
from tests._clients import make_client as either_client


T = TypeVar("T")

API_KEY = "sk-secret-8f3a9c21d7e64b05"
FLOW_ID = "5f3b1c2a-0d4e-4f6a-8b7c-9d0e1f2a3b4c"
PREDICTION_PATH = f"/api/v1/prediction/{FLOW_ID}"

# Short enough that a hang fails fast, long enough for a loaded 2-core machine.
FAST = Timeouts(connect=2, headers=2, idle=2)
NO_RETRY = Retries(attempts=1)


def frame(name: str, data: Any) -> bytes:
    """One event exactly as Flowise writes it."""
    payload = json.dumps({"event": name, "data": data}, separators=(",", ":"))
    return b"message:\ndata:" + payload.encode() + b"\n\n"


END = frame("end", "[DONE]")


def tokens(n: int, prefix: str = "t") -> list[bytes]:
    """*n* token frames, ``t0`` .. ``t{n-1}``."""
    return [frame("token", f"{prefix}{i}") for i in range(n)]


# -- the server thread ----------------------------------------------------------------------


class ServerLoop:
    """An event loop in a daemon thread; coroutines are run there and awaited from the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run *coro* in the server loop; the result is awaitable from the test's loop."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run *coro* in the server loop and block until it is done."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(_cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def server_loop() -> Iterator[ServerLoop]:
    """One server thread for the session."""
    loop = ServerLoop()
    yield loop
    loop.close()


# -- a raw HTTP/1.1 server --------------------------------------------------------------------


@attrs.define
class Request:
    """A request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.body)


@attrs.define(eq=False)
class Conn:
    """One server-side connection, with helpers to answer (or misbehave)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server: RawServer
    state: str = "idle"  # idle (between requests) | busy | closed
    sent: int = 0

    def write(self, data: bytes) -> None:
        self.sent += len(data)
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    async def head(
        self,
        status: int = 200,
        content_type: str = "text/event-stream",
        headers: dict[str, str] | None = None,
        *,
        chunked: bool = True,
        length: int | None = None,
    ) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}"]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        elif length is not None:
            lines.append(f"Content-Length: {length}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.drain()

    async def chunk(self, data: bytes) -> None:
        """Write one chunk of a chunked body."""
        self.write(b"%x\r\n%s\r\n" % (len(data), data))
        await self.drain()

    async def end(self) -> None:
        """Terminate a chunked body."""
        self.write(b"0\r\n\r\n")
        await self.drain()

    async def respond(
        self,
        status: int,
        body: bytes | str | Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """A complete response with a Content-Length."""
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode()
        await self.head(status, content_type, headers, chunked=False, length=len(body))
        self.write(body)
        await self.drain()

    async def stream(self, frames: list[bytes], *, delay: float = 0, end: bool = True) -> None:
        """A 200 event stream of *frames*, one chunk each."""
        await self.head()
        for data in frames:
            if delay:
                await asyncio.sleep(delay)
            await self.chunk(data)
        if end:
            await self.end()

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0)."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def wait_peer_closed(self, timeout: float = 30) -> None:
        """Wait (bounded) until the client closes the connection."""
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass


Handler = Callable[[Request, Conn], Awaitable[bool | None]]


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(data[:-2])
        body = b"".join(parts)
    return Request(method, path, headers, body)


class RawServer:
    """
    An HTTP/1.1 server whose *handler* writes each response itself. The handler returns
    False (or closes the connection) to end the connection, anything else keeps it alive.
    """

    def __init__(
        self,
        loop: ServerLoop,
        handler: Handler,
        *,
        tls: ssl.SSLContext | None = None,
        port: int = 0,
    ):
        self.loop = loop
        self.handler = handler
        self.tls = tls
        self.requests: list[Request] = []
        self.conns: list[Conn] = []
        self.port = port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests arrived (optionally of one method and path prefix)."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path.startswith(path))
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        conn = Conn(reader, writer, self)
        self.conns.append(conn)
        try:
            while True:
                conn.state = "idle"
                request = await _read_request(reader)
                if request is None:
                    break
                conn.state = "busy"
                request.at = time.monotonic()
                self.requests.append(request)
                keep = await self.handler(request, conn)
                if keep is False or writer.is_closing():
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass  # server shutdown: end quietly (this loop belongs to the server)
        finally:
            conn.state = "closed"
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for conn in self.conns:
            conn.writer.transport.abort()
        tasks = list(self._tasks)
        if tasks:
            _, alive = await asyncio.wait(tasks, timeout=2)
            for task in alive:
                task.cancel()
            await asyncio.gather(*alive, return_exceptions=True)
        await self._server.wait_closed()

    async def settled(self, timeout: float = 10) -> bool:
        """Wait (bounded) until no connection is busy; True if so."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while any(c.state == "busy" for c in self.conns):
                    await asyncio.sleep(0.02)
                return True
        return False

    def states(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for conn in self.conns:
            out[conn.state] = out.get(conn.state, 0) + 1
        return out


@pytest.fixture
async def serve(server_loop: ServerLoop) -> AsyncIterator[Callable[..., Awaitable[RawServer]]]:
    """Start a `RawServer` with a handler: ``server = await serve(handler)``."""
    servers: list[RawServer] = []

    async def start(
        handler: Handler, *, tls: ssl.SSLContext | None = None, port: int = 0
    ) -> RawServer:
        server = RawServer(server_loop, handler, tls=tls, port=port)
        await server_loop.submit(server._start())
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server_loop.submit(server._stop())


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the client side ------------------------------------------------------------------------


def pending_tasks() -> list[asyncio.Task[Any]]:
    """Tasks of the test's loop other than the test itself."""
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]


@pytest.fixture
async def make_client(client_kind: str) -> AsyncIterator[Callable[..., AsyncFlowise]]:
    """
    ``make_client(url, **options)``: an `AsyncFlowise` (or a `SyncFlowise` with its shape, per
    ``client_kind``) with the test key and fast timeouts, no retries unless given. At teardown each one must hold no acquired connection, and closing
    it must leave no task behind.
    """
    clients: list[AsyncFlowise] = []

    def make(url: str, **options: Any) -> AsyncFlowise:
        options.setdefault("api_key", API_KEY)
        options.setdefault("timeouts", FAST)
        options.setdefault("retries", NO_RETRY)
        client: AsyncFlowise = either_client(url, **options)
        clients.append(client)
        return client

    yield make
    gc.collect()  # an unclosed response or session warns now, and warnings are errors
    leaks = {}
    for client in clients:
        stats = client.pool_stats()
        await client.aclose()
        if stats["acquired"]:
            leaks[repr(client)] = stats
    clients.clear()
    gc.collect()
    assert not leaks, f"connections still acquired at teardown: {leaks}"
    assert not pending_tasks(), f"tasks left pending: {pending_tasks()}"
