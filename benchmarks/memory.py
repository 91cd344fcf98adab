"""
Memory per stream at the end of a long answer: a 1 MiB answer (UTF-8) streamed as small
tokens, read through `EventStream` from an in-memory body (no sockets), every event dropped
as it is taken.

``python -m benchmarks.memory`` prints one JSON object: for the default stream and for
``keep_text=False``, the bytes the stream still holds once it was read to its end (traced
by ``tracemalloc``, the body's own bytes excluded), next to the answer's size.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import tracemalloc
from typing import Any

from benchmarks import workloads


ANSWER_BYTES = workloads.MIB


def answer_tokens(size: int = ANSWER_BYTES) -> list[str]:
    """Small tokens from the workloads' vocabulary, about *size* UTF-8 bytes in all."""
    rng = random.Random(8)
    tokens: list[str] = []
    n = 0
    while n < size:
        token = rng.choice(workloads._VOCABULARY)
        tokens.append(token)
        n += len(token.encode())
    return tokens


class _Body:
    status = 200
    content_type = "text/event-stream"
    method = "POST"
    url = "http://127.0.0.1/api/v1/prediction/memory"

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = iter(chunks)

    async def read(self) -> bytes:
        return next(self._chunks, b"")

    async def read_all(self, limit: int) -> bytes:
        raise AssertionError("a stream body")

    def close(self, *, reuse: bool) -> None:
        return None


async def _read(chunks: list[bytes], keep_text: bool) -> tuple[int, int, Any]:
    from flowise_async import EventStream, events

    async def opener() -> _Body:
        return _Body(chunks)

    stream = EventStream(opener, chat_id="c", chatflow_id="memory", keep_text=keep_text)
    tokens = 0
    gc.collect()
    tracemalloc.start()
    async with stream:
        async for event in stream:
            if type(event) is events.TokenEvent:
                tokens += 1
        del event
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    text = stream.text if keep_text else None
    return held, peak, (tokens, text)


def run() -> dict[str, Any]:
    tokens = answer_tokens()
    answer = "".join(tokens)
    size = len(answer.encode())
    frames = workloads._frames(workloads._chat(tokens))
    chunks = list(workloads._slices(b"".join(frames), 64 * workloads.KIB))
    out: dict[str, Any] = {"answer_bytes": size, "tokens": len(tokens)}
    for name, keep in (("keep_text=True", True), ("keep_text=False", False)):
        held, peak, (count, text) = asyncio.run(_read(chunks, keep))
        if count != len(tokens) or (keep and text != answer):
            out[name] = {
                "ok": False,
                "reason": f"{count} tokens read, text equal: {text == answer}",
            }
            continue
        out[name] = {"ok": True, "held": held, "peak": peak, "ratio": held / size}
    return out


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    print(json.dumps(run()), flush=True)


if __name__ == "__main__":
    main()
