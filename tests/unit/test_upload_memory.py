"""
Memory of a large streamed upload: a 200 MB file sent with ``stream_with_files`` must not be
read into memory. The client runs in a child process whose peak RSS is compared before and
after the upload; the receiving server runs here, so its buffers do not count.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from aiohttp import web

from tests.unit._server import frame, serve, write_sse


SIZE = 200 * 1024 * 1024
LIMIT = 20 * 1024 * 1024

CHILD = r"""
import asyncio, json, resource, sys
from flowise_async import AsyncFlowise, Retries, Timeouts

def peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux

async def main(url: str, path: str) -> None:
    timeouts = Timeouts(connect=10, headers=300, idle=300)
    async with AsyncFlowise(url, retries=Retries(attempts=1), timeouts=timeouts) as flowise:
        # Warm up: the same code path with a small file, so imports and pools are counted.
        async with flowise.predictions.stream_with_files("f", "q", files=[("a.txt", b"a")]) as s:
            await s.final()
        before = peak()
        async with flowise.predictions.stream_with_files("f", "q", files=[path]) as s:
            received = int((await s.final()).text)
        after = peak()
    print(json.dumps({"before": before, "after": after, "received": received}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def _sink(request: web.Request) -> web.StreamResponse:
    """Read the whole upload in small pieces and answer how many bytes arrived."""
    received = 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        received += len(chunk)
    return await write_sse(request, [frame("token", str(received)), frame("end", "[DONE]")])


async def test_a_200_mb_upload_is_streamed_from_disk(tmp_path: Path) -> None:
    """Peak RSS of the client grows by less than 20 MB while it uploads a 200 MB file."""
    path = tmp_path / "big.txt"
    with path.open("wb") as handle:
        handle.truncate(SIZE)  # sparse: reads as zeros, takes no disk space
    async with serve([("POST", "/api/v1/prediction/{id}", _sink)]) as url:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            url,
            str(path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(child.communicate(), timeout=600)
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
    assert child.returncode == 0, err.decode()[-2000:]
    figures = json.loads(out.decode().strip().splitlines()[-1])
    assert figures["received"] > SIZE  # the whole file (and the form around it) arrived
    grown = figures["after"] - figures["before"]
    print(f"peak RSS grew by {grown / 2**20:.1f} MB for a {SIZE // 2**20} MB upload")
    assert grown < LIMIT, f"peak RSS grew by {grown / 2**20:.1f} MB"
