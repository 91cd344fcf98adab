"""
Micro-benchmark of the pure decoders on in-memory bytes (no sockets, no event loop).

``python -m benchmarks.micro [--reps N] [--inputs a,b]`` prints one JSON object: for each
input, the median time of flowise_async's decoder + event structuring, of its SSE decoder
alone, and of the hand-rolled ``split(b"\\n\\n")`` + ``json.loads`` loop, fed the same chunks;
and, as a lower bound, of ``json.loads`` alone on the data lines cut out beforehand.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks import workloads
from benchmarks.clients import _typed_to_wire, tuned_frames
from benchmarks.worker import diff


#: Inputs: a workload and how its bytes are fed (the server's writes).
INPUTS = (
    "tokens-coalesced",
    "tokens-per-write",
    "tokens-1k",
    "doc-1mib",
    "doc-16mib",
    "splits-crlf",
)

Decode = Callable[[Sequence[bytes]], list[Any]]


def hand_rolled(chunks: Sequence[bytes]) -> list[Any]:
    """The loop users write: buffer, split on a blank line, ``json.loads`` each data line."""
    events: list[Any] = []
    append = events.append
    loads = json.loads
    buf = b""
    for chunk in chunks:
        buf += chunk
        *frames, buf = buf.split(b"\n\n")
        for frame in frames:
            for line in frame.split(b"\n"):
                if line.startswith(b"data:"):
                    append(loads(line[5:]))
    return events


def hand_tuned(chunks: Sequence[bytes]) -> list[Any]:
    """The tuned loop: ``bytearray`` buffer, separator searched in the new bytes only."""
    events: list[Any] = []
    append = events.append
    loads = json.loads
    buf = bytearray()
    start = 0
    for chunk in chunks:
        buf += chunk
        frames, start = tuned_frames(buf, start)
        for frame in frames:
            for line in frame.split("\n"):
                if line.startswith("data:"):
                    append(loads(line[5:]))
    return events


def json_only(payloads: Sequence[bytes]) -> list[Any]:
    """Lower bound: ``json.loads`` of the data lines, already cut out of the stream."""
    loads = json.loads
    return [loads(p) for p in payloads]


def _data_lines(chunks: Sequence[bytes]) -> list[bytes]:
    body = b"".join(chunks).replace(b"\r\n", b"\n")
    return [line[5:] for line in body.split(b"\n") if line.startswith(b"data:")]


def _event_decoder_class() -> Any:
    from flowise_async import _stream

    return _stream.EventDecoder


def flowise_events(chunks: Sequence[bytes]) -> list[Any]:
    """flowise_async: bytes to typed events (SSE decoding, JSON, structuring)."""
    decoder = _event_decoder_class()()
    events: list[Any] = []
    extend = events.extend
    feed = decoder.feed
    for chunk in chunks:
        extend(feed(chunk))
    extend(decoder.flush())
    return events


def flowise_sse(chunks: Sequence[bytes]) -> list[Any]:
    """flowise_async's SSE decoder alone: bytes to ``ServerSentEvent`` (data left as text)."""
    try:
        from flowise_async.sse import SSEDecoder
    except ImportError:
        from flowise_async._sse import SSEDecoder

    decoder = SSEDecoder(max_event_size=64 * 1024 * 1024)
    events: list[Any] = []
    extend = events.extend
    feed = decoder.feed
    for chunk in chunks:
        extend(feed(chunk))
    extend(decoder.flush())
    return events


def _check(name: str, out: list[Any], spec: workloads.Workload) -> str | None:
    if name == "flowise_async events":
        return diff(spec.expected, [_typed_to_wire(e) for e in out])
    if name == "flowise_async SSE only":
        got = [(json.loads(e.data)["event"], json.loads(e.data)["data"]) for e in out if e.data]
        return diff(spec.expected, got)
    return diff(spec.expected, [(d["event"], d["data"]) for d in out])


DECODERS: dict[str, Decode] = {
    "flowise_async events": flowise_events,
    "flowise_async SSE only": flowise_sse,
    "hand-tuned bytearray+rfind": hand_tuned,
    "hand-rolled split+json.loads": hand_rolled,
    "json.loads only (lower bound)": json_only,
}


def run(inputs: Sequence[str], reps: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in inputs:
        spec = workloads.get(name)
        feeds: dict[str, Sequence[bytes]] = dict.fromkeys(DECODERS, spec.writes)
        feeds["json.loads only (lower bound)"] = _data_lines(spec.writes)
        times: dict[str, list[float]] = {d: [] for d in DECODERS}
        status: dict[str, str | None] = {}
        for decoder, fn in DECODERS.items():
            try:
                status[decoder] = _check(decoder, fn(feeds[decoder]), spec)
            except Exception as exc:
                status[decoder] = f"{type(exc).__name__}: {str(exc)[:160]}"
        for rep in range(reps):
            order = list(DECODERS)
            order = order[rep % len(order) :] + order[: rep % len(order)]
            for decoder in order:
                if status[decoder] is not None:
                    continue
                fn = DECODERS[decoder]
                gc.collect()
                t0 = time.perf_counter()
                fn(feeds[decoder])
                times[decoder].append(time.perf_counter() - t0)
        results[name] = {
            "chunks": len(spec.writes),
            "bytes": spec.body_bytes,
            "events": spec.events,
            "decoders": {
                d: {
                    "ok": status[d] is None,
                    "reason": status[d],
                    "median": statistics.median(times[d]) if times[d] else None,
                    "times": times[d],
                }
                for d in DECODERS
            },
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--inputs", default=",".join(INPUTS))
    args = parser.parse_args()
    print(json.dumps(run(args.inputs.split(","), args.reps)), flush=True)


if __name__ == "__main__":
    main()
