"""
Added latency per event: the server writes a token frame every millisecond whose text is its
``time.monotonic_ns()`` just before the write (a system-wide clock on Linux); the client
subtracts it from its own clock when the event reaches the consumer.

``python -m benchmarks.latency --port N [--frames N] [--clients a,b]`` prints one JSON object
with the median and p99 per client, in microseconds. The hand-written aiohttp loops are the
floor: the server's write path, the loopback and the event loop's wake-up, with almost no
decoding.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from typing import Any

from benchmarks.clients import BODY, QUESTION, tuned_frames


async def _flowise_async(base_url: str, flow: str) -> list[int]:
    from flowise_async import AsyncFlowise
    from flowise_async.events import TokenEvent

    delays: list[int] = []
    clock = time.monotonic_ns
    async with AsyncFlowise(base_url) as client:
        async with client.predictions.stream("warmup", QUESTION) as stream:
            async for _ in stream:
                pass
        async with client.predictions.stream(flow, QUESTION) as stream:
            async for event in stream:
                if isinstance(event, TokenEvent):
                    delays.append(clock() - int(event.text))
    return delays


async def _hand_rolled(base_url: str, flow: str) -> list[int]:
    import aiohttp

    delays: list[int] = []
    clock = time.monotonic_ns
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base_url}/api/v1/prediction/warmup", json=BODY) as r:
            await r.read()
        async with session.post(f"{base_url}/api/v1/prediction/{flow}", json=BODY) as r:
            buf = b""
            async for chunk in r.content.iter_any():
                buf += chunk
                *frames, buf = buf.split(b"\n\n")
                for frame in frames:
                    for line in frame.split(b"\n"):
                        if line.startswith(b"data:"):
                            obj = json.loads(line[5:])
                            if obj["event"] == "token":
                                delays.append(clock() - int(obj["data"]))
    return delays


async def _hand_tuned(base_url: str, flow: str) -> list[int]:
    import aiohttp

    delays: list[int] = []
    clock = time.monotonic_ns
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base_url}/api/v1/prediction/warmup", json=BODY) as r:
            await r.read()
        async with session.post(f"{base_url}/api/v1/prediction/{flow}", json=BODY) as r:
            buf = bytearray()
            start = 0
            async for chunk in r.content.iter_any():
                buf += chunk
                frames, start = tuned_frames(buf, start)
                for frame in frames:
                    for line in frame.split("\n"):
                        if line.startswith("data:"):
                            obj = json.loads(line[5:])
                            if obj["event"] == "token":
                                delays.append(clock() - int(obj["data"]))
    return delays


CLIENTS = {
    "flowise_async": _flowise_async,
    "hand-tuned": _hand_tuned,
    "hand-rolled": _hand_rolled,
}


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(port: int, frames: int, clients: list[str], rounds: int = 4) -> dict[str, Any]:
    """Interleaved: *rounds* streams per client, the clients' order rotated each round."""
    base_url = f"http://127.0.0.1:{port}"
    per_round = max(1, frames // rounds)
    delays: dict[str, list[int]] = {name: [] for name in clients}
    failures: dict[str, str] = {}
    for rnd in range(rounds):
        order = clients[rnd % len(clients) :] + clients[: rnd % len(clients)]
        for name in order:
            if name in failures:
                continue
            gc.collect()
            try:
                got = await CLIENTS[name](base_url, f"latency~{per_round}~1")
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {str(exc)[:160]}"
                continue
            if len(got) != per_round:
                failures[name] = f"{len(got)} tokens, expected {per_round}"
                continue
            delays[name] += got
    results: dict[str, Any] = {}
    for name in clients:
        if name in failures:
            results[name] = {"ok": False, "reason": failures[name]}
            continue
        values = delays[name]
        results[name] = {
            "ok": True,
            "frames": len(values),
            "median_us": statistics.median(values) / 1000,
            "p99_us": _percentile(values, 0.99) / 1000,
            "max_us": max(values) / 1000,
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.port, args.frames, args.clients.split(",")))))


if __name__ == "__main__":
    main()
