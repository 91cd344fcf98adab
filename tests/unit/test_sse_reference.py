"""
The SSE decoder held equal to the plain reference decoder (`_sse_reference`): the same events,
the same error and the same committed last event id, for random streams cut at random places.
"""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowise_async._sse import MessageDecoder, ServerSentEvent, SSEDecoder
from flowise_async.sse import SSEProtocolError
from tests.unit._sse_reference import Outcome, reference_decode, split_lines


# Fewer examples when each run matters less than the number of runs (mutation testing).
EXAMPLES = int(os.environ.get("FLOWISE_PROPERTY_EXAMPLES", "400"))
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

NAMES = st.sampled_from(
    [b"data", b"data", b"data", b"event", b"id", b"retry", b"message", b"foo", b"Data", b""]
)
SEPARATORS = st.sampled_from([b":", b": ", b":  ", b":   ", b"", b"::"])
VALUES = st.one_of(
    st.text(max_size=12).map(str.encode),
    st.sampled_from([b"", b" ", b"  x", b"12", b"007", b"1x", b"\xd9\xa3", b"a\x00b", b"\xff"]),
    st.binary(max_size=8).filter(lambda b: b"\r" not in b and b"\n" not in b),
    st.integers(0, 40).map(lambda n: b"x" * n),
)
FIELD = st.builds(lambda n, s, v: n + s + v, NAMES, SEPARATORS, VALUES)
COMMENT = st.builds(lambda v: b":" + v, VALUES)
FLOWISE = st.text(max_size=10).map(
    lambda t: b'message:\ndata:{"event":"token","data":"' + t.encode() + b'"}'
)
LINE = st.one_of(FIELD, FIELD, FIELD, COMMENT, FLOWISE, st.just(b""), st.just(b""))
NEWLINE = st.sampled_from([b"\n", b"\r", b"\r\n"])


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """A stream of every field shape with mixed line ends, maybe a BOM, maybe unterminated."""
    lines = draw(st.lists(LINE, max_size=25))
    parts = [b"\xef\xbb\xbf"] if draw(st.booleans()) else []
    for line in lines:
        parts.append(line)
        parts.append(draw(NEWLINE))
    if draw(st.booleans()):
        parts.append(draw(LINE))  # an unterminated last line
    return b"".join(parts)


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """*data* cut at random places (empty chunks included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=20)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


CAPS = st.one_of(st.integers(1, 48), st.just(1 << 20))


def _kind(exc: SSEProtocolError) -> str:
    text = str(exc)
    if text.startswith("line longer"):
        return "line"
    assert text.startswith("event larger"), text
    return "event"


def run(decoder: SSEDecoder | MessageDecoder, chunks: list[bytes]) -> Outcome:
    """Feed *chunks*, then flush; collect the events until the first error."""
    out = Outcome()
    try:
        for chunk in chunks:
            for item in decoder.feed(chunk):
                out.events.append(ServerSentEvent(item) if isinstance(item, str) else item)
        decoder.flush()
    except SSEProtocolError as exc:
        out.error = _kind(exc)
    out.last_event_id = decoder.last_event_id
    return out


def _raw_items(decoder: MessageDecoder, chunks: list[bytes]) -> list[str | ServerSentEvent]:
    items: list[str | ServerSentEvent] = []
    try:
        for chunk in chunks:
            items.extend(decoder.feed(chunk))
    except SSEProtocolError:
        pass
    return items


def _without_ids(outcome: Outcome) -> list[ServerSentEvent]:
    # The plain strings of MessageDecoder carry no id.
    return [ServerSentEvent(e.data, e.event, None, e.retry) for e in outcome.events]


@PROPERTY
@given(stream=streams(), cap=CAPS, data=st.data())
def test_decoder_equals_reference(stream: bytes, cap: int, data: st.DataObject) -> None:
    """Events, error and committed id equal the reference's, for any chunking and cap."""
    expected = reference_decode(stream, cap)
    chunks = data.draw(chunkings(stream))
    assert run(SSEDecoder(cap), chunks) == expected
    assert run(SSEDecoder(cap), [stream]) == expected
    raw = run(MessageDecoder(cap), chunks)
    for item in _raw_items(MessageDecoder(cap), chunks):
        # A plain string exactly for the default type without retry.
        if isinstance(item, str):
            continue
        assert item.event != "message" or item.retry is not None
    assert (_without_ids(raw), raw.error, raw.last_event_id) == (
        _without_ids(expected),
        expected.error,
        expected.last_event_id,
    )


@PROPERTY
@given(first=streams(), second=streams(), data=st.data())
def test_reconnect_starts_from_committed_id(
    first: bytes, second: bytes, data: st.DataObject
) -> None:
    """After flush, a second stream is decoded from the id the first one committed."""
    decoder = SSEDecoder()
    one = run(decoder, data.draw(chunkings(first)))
    two = run(decoder, data.draw(chunkings(second)))
    assert one == reference_decode(first, decoder.max_event_size)
    assert two == reference_decode(second, decoder.max_event_size, one.last_event_id)


# --- the reference itself, on the spec's own examples ----------------------------------------


def test_reference_keeps_all_but_one_leading_space() -> None:
    """`data:  x` is ` x`: one space after the colon is removed, no more."""
    stream = b"data:  x\ndata:   y\ndata:z\n\n"
    assert reference_decode(stream, 100).events == [ServerSentEvent(" x\n  y\nz")]


def test_reference_line_ends() -> None:
    """CR, LF and CRLF all end a line; CR LF is one line end."""
    assert split_lines(b"a\rb\nc\r\nd") == ([b"a", b"b", b"c"], b"d")


def test_reference_caps() -> None:
    """The event cap counts the joined data; the line cap allows a field name on top."""
    assert reference_decode(b"data: 1234567890\n\n", 10).error is None
    assert reference_decode(b"data: 12345678901\n\n", 10).error == "event"
    assert reference_decode(b"data: 12345\ndata: 1234\n\n", 10).error is None
    assert reference_decode(b"data: 12345\ndata: 12345\n\n", 10).error == "event"
    assert reference_decode(b":" + b"c" * 25 + b"\n", 10).error is None
    assert reference_decode(b":" + b"c" * 26 + b"\n", 10).error == "line"


# --- examples the property is known to cover, kept as plain regressions ----------------------


@pytest.mark.parametrize(
    "chunks",
    [
        [b"data: 1234567890\n\n"],
        [b"data: 12345", b"67890\n\n"],
        [b"data: 1234567890", b"\n", b"\n"],
        [b"d", b"a", b"t", b"a", b":", b" ", b"1234567890\n\n"],
    ],
)
def test_cap_does_not_depend_on_chunking(chunks: list[bytes]) -> None:
    """With a cap of 10, a 10-byte event passes however it is cut (it failed when split)."""
    assert run(SSEDecoder(10), chunks).events == [ServerSentEvent("1234567890")]


@pytest.mark.parametrize("cut", range(1, 19))
def test_over_cap_is_the_same_error_for_every_cut(cut: int) -> None:
    """An 11-byte event with a cap of 10 is an event error, whole or cut anywhere."""
    stream = b"data: 12345678901\n\n"
    assert run(SSEDecoder(10), [stream[:cut], stream[cut:]]).error == "event"


def test_events_before_an_error_are_returned_first() -> None:
    """Events completed in the same chunk as a too large event come first; the error next."""
    decoder = SSEDecoder(10)
    assert decoder.feed(b"data: a\n\ndata: 12345678901\n\n") == [ServerSentEvent("a")]
    with pytest.raises(SSEProtocolError, match="event larger"):
        decoder.feed(b"data: b\n\n")
    with pytest.raises(SSEProtocolError, match="event larger"):
        decoder.flush()


def test_message_decoder_gives_strings_for_default_events_only() -> None:
    """Default-type events without retry are plain strings; the others are full events."""
    decoder = MessageDecoder()
    items = decoder.feed(
        b"data: a\n\nevent: token\ndata: b\n\nretry: 5\ndata: c\n\ndata: d\ndata: e\n\n"
    )
    assert items == [
        "a",
        ServerSentEvent("b", "token"),
        ServerSentEvent("c", retry=5),
        "d\ne",
    ]
    assert decoder.flush() == []
