"""The client's default keep-alive is pinned against the real server's idle close."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import urlsplit

import pytest

from flowise_async import Limits
from harness.server import RealFlowise


pytestmark = pytest.mark.integration


async def _idle_close_seconds(base_url: str) -> tuple[float, str]:
    """Send one keep-alive request on a raw socket; time from its answer to the server's close."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        request = (
            f"GET /api/v1/ping HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: keep-alive\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        received = b""
        last_data = time.monotonic()
        async with asyncio.timeout(30):
            while chunk := await reader.read(65536):
                received += chunk
                last_data = time.monotonic()
        return time.monotonic() - last_data, received.decode("latin-1")
    finally:
        writer.close()


async def test_default_keepalive_is_below_the_servers_idle_close(
    real_flowise: RealFlowise,
) -> None:
    """Flowise closes an idle connection after its Keep-Alive timeout; the default is shorter."""
    idle_close, answer = await _idle_close_seconds(real_flowise.base_url)
    announced = re.search(r"(?im)^keep-alive: timeout=(\d+)", answer)
    assert announced is not None, answer[:500]
    default = Limits().keepalive_expiry
    # A pooled connection must expire before the server may close it under a new request.
    assert default < int(announced.group(1))
    assert default < idle_close
    assert idle_close < int(announced.group(1)) + 3  # the server really closes it
