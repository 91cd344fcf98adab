"""
The workloads: Flowise-shaped event streams, built deterministically from fixed seeds.

The server process and every client process build the same bytes from the same seed, so
nothing large crosses a process boundary. Each workload carries the exact writes the server
makes and the event sequence a correct client must decode from them: a list of
``(event name, decoded JSON payload)`` pairs, heartbeat comments excluded.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


Expected = list[tuple[str, Any]]

KIB = 1024
MIB = 1024 * 1024

#: Words the fake model "generates": ASCII, Latin-1, CJK, emoji, JSON escapes, punctuation.
_VOCABULARY = (
    " the",
    " a",
    " of",
    " and",
    " to",
    " in",
    " is",
    " Flowise",
    " stream",
    " token",
    " model",
    " answer",
    " capital",
    " France",
    " Paris",
    ",",
    ".",
    "!",
    "?",
    " café",
    " naïve",
    " déjà",
    " vu",
    " Ünïcödé",
    " 東京",
    " 日本語",
    " テキスト",
    " 🚀",
    " 🙂",
    " Ωμέγα",
    " ∑",
    "\n",
    "\n\n",
    ' "quoted"',
    " back\\slash",
    "\t",
    " {json}",
    " 42",
)


@dataclass(frozen=True)
class Workload:
    """One benchmark input: what the server writes and what a client must decode."""

    name: str
    title: str
    #: The writes of one stream, in order (each is one ``write()`` on the server).
    writes: tuple[bytes, ...]
    #: The events one stream must decode to.
    expected: Expected
    #: How many streams run at once through one client.
    streams: int = 1
    #: For concurrent runs: after its first write, each stream waits until every stream of
    #: the run is open.
    hold_after_first: bool = False

    @functools.cached_property
    def body_bytes(self) -> int:
        """Body size of one stream, in bytes."""
        return sum(len(w) for w in self.writes)

    @property
    def events(self) -> int:
        """Events of one stream (heartbeats excluded)."""
        return len(self.expected)

    @property
    def total_events(self) -> int:
        return self.events * self.streams

    @property
    def total_bytes(self) -> int:
        return self.body_bytes * self.streams


def dumps(data: Any) -> bytes:
    """Encode like ``JSON.stringify``: compact, raw UTF-8."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def encode_frame(event: str, data: Any, eol: bytes = b"\n") -> bytes:
    """One Flowise frame: ``message:`` line, ``data:`` line, blank line."""
    return b"message:" + eol + b"data:" + dumps({"event": event, "data": data}) + eol + eol


def _tokens(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(_VOCABULARY) for _ in range(count)]


def _long_token(rng: random.Random, size: int) -> str:
    """A token of about *size* UTF-8 bytes."""
    parts: list[str] = []
    n = 0
    while n < size:
        word = rng.choice(_VOCABULARY)
        parts.append(word)
        n += len(word.encode())
    return "".join(parts)


def _metadata(i: int = 0) -> dict[str, Any]:
    return {
        "chatId": f"0ca6ef91-0cca-43ae-a004-{i:012d}",
        "chatMessageId": f"020a402f-aead-4523-b015-{i:012d}",
        "question": "What is the capital of France?",
        "sessionId": f"0ca6ef91-0cca-43ae-a004-{i:012d}",
    }


def _documents(rng: random.Random, size: int) -> list[dict[str, Any]]:
    """Source documents whose JSON is about *size* bytes."""
    paragraphs = [_long_token(rng, 2 * KIB) for _ in range(64)]
    docs: list[dict[str, Any]] = []
    n = 0
    i = 0
    while n < size:
        doc = {
            "pageContent": paragraphs[i % len(paragraphs)],
            "metadata": {
                "source": f"docs/file-{i}.txt",
                "loc": {"lines": {"from": i, "to": i + 40}},
            },
        }
        docs.append(doc)
        n += len(dumps(doc)) + 1
        i += 1
    return docs


def _chat(tokens: Sequence[str], *, docs: Any = None, meta: int = 0) -> Expected:
    """The event sequence of a classic chatflow run."""
    events: Expected = [("start", tokens[0] if tokens else "")]
    events += [("token", t) for t in tokens]
    if docs is not None:
        events.append(("sourceDocuments", docs))
    events.append(("metadata", _metadata(meta)))
    events.append(("end", "[DONE]"))
    return events


def _frames(expected: Expected, eol: bytes = b"\n") -> list[bytes]:
    return [encode_frame(name, data, eol) for name, data in expected]


def _slices(body: bytes, size: int) -> tuple[bytes, ...]:
    return tuple(body[i : i + size] for i in range(0, len(body), size))


# --- the workloads --------------------------------------------------------------------------


def _tokens_coalesced() -> Workload:
    expected = _chat(_tokens(random.Random(1), 20_000))
    return Workload(
        "tokens-coalesced",
        "20,000 token frames, coalesced into 64 KiB writes",
        _slices(b"".join(_frames(expected)), 64 * KIB),
        expected,
    )


def _tokens_per_write() -> Workload:
    expected = _chat(_tokens(random.Random(1), 20_000))
    return Workload(
        "tokens-per-write",
        "20,000 token frames, one write per frame",
        tuple(_frames(expected)),
        expected,
    )


def _tokens_1k() -> Workload:
    rng = random.Random(3)
    expected = _chat([_long_token(rng, KIB) for _ in range(2_000)])
    return Workload(
        "tokens-1k",
        "2,000 frames with 1 KB tokens, one write per frame",
        tuple(_frames(expected)),
        expected,
    )


def _big_doc(name: str, size: int, label: str) -> Callable[[], Workload]:
    def build() -> Workload:
        rng = random.Random(4)
        expected = _chat(_tokens(rng, 10), docs=_documents(rng, size))
        return Workload(
            name,
            f"one {label} sourceDocuments line (64 KiB writes)",
            _slices(b"".join(_frames(expected)), 64 * KIB),
            expected,
        )

    return build


def _random_splits() -> Workload:
    """CRLF line endings, heartbeats, random write boundaries (inside UTF-8, between CR/LF)."""
    rng = random.Random(5)
    tokens = _tokens(rng, 3_000)
    # A real model can write "data:" inside a token (e.g. a data URI).
    tokens[1_500] = " data:image/png;base64,iVBORw0KGgo="
    docs = _documents(rng, 8 * KIB)
    expected = _chat(tokens, docs=docs)
    frames = _frames(expected, b"\r\n")
    heartbeat = b":heartbeat\r\n\r\n"
    for i in range(len(frames) - 1, 0, -300):
        frames.insert(i, heartbeat)
    body = b"".join(frames)

    cuts = set()
    pos = 0
    while pos < len(body):
        pos += rng.randint(1, 97)
        cuts.add(pos)
    crlf = [i + 1 for i in range(len(body) - 1) if body[i] == 0x0D and body[i + 1] == 0x0A]
    inside_utf8 = [i for i in range(1, len(body)) if 0x80 <= body[i] < 0xC0]
    cuts.update(rng.sample(crlf, min(1_000, len(crlf))))
    cuts.update(rng.sample(inside_utf8, min(1_000, len(inside_utf8))))
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(body)), len(body)]
    writes = tuple(body[a:b] for a, b in itertools.pairwise(bounds) if b > a)
    return Workload(
        "splits-crlf",
        "3,000 frames, CRLF, heartbeats, random writes split inside UTF-8 and CR|LF",
        writes,
        expected,
    )


def _concurrent() -> Workload:
    expected = _chat(_tokens(random.Random(6), 197))
    frames = _frames(expected)
    return Workload(
        "concurrent",
        "1,000 concurrent streams of 200 frames through one client",
        (frames[0], b"".join(frames[1:])),
        expected,
        streams=1_000,
        hold_after_first=True,
    )


def _concurrent_per_write() -> Workload:
    expected = _chat(_tokens(random.Random(6), 197))
    return Workload(
        "concurrent-per-write",
        "1,000 concurrent streams of 200 frames, one write per frame",
        tuple(_frames(expected)),
        expected,
        streams=1_000,
        hold_after_first=True,
    )


def _warmup() -> Workload:
    rng = random.Random(7)
    expected = _chat(_tokens(rng, 50), docs=_documents(rng, 4 * KIB))
    return Workload("warmup", "warm-up stream", tuple(_frames(expected)), expected)


BUILDERS: dict[str, Callable[[], Workload]] = {
    "tokens-coalesced": _tokens_coalesced,
    "tokens-per-write": _tokens_per_write,
    "tokens-1k": _tokens_1k,
    "doc-1mib": _big_doc("doc-1mib", MIB, "1 MiB"),
    "doc-16mib": _big_doc("doc-16mib", 16 * MIB, "16 MiB"),
    "splits-crlf": _random_splits,
    "concurrent": _concurrent,
    "concurrent-per-write": _concurrent_per_write,
}

#: Workloads in report order.
NAMES: tuple[str, ...] = tuple(BUILDERS)


@functools.cache
def get(name: str) -> Workload:
    """Build (once per process) the workload called *name*."""
    if name == "warmup":
        return _warmup()
    return BUILDERS[name]()


def quick(workload: Workload, streams: int) -> Workload:
    """The same workload with fewer concurrent streams (for ``--quick``)."""
    if workload.streams == 1:
        return workload
    return Workload(
        workload.name,
        workload.title.replace(f"{workload.streams:,}", f"{streams:,}"),
        workload.writes,
        workload.expected,
        streams=streams,
        hold_after_first=workload.hold_after_first,
    )
