"""The SSE decoder, rule by rule (WHATWG HTML "Interpreting an event stream")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowise_async.sse import ServerSentEvent, SSEDecoder, SSEProtocolError


def decode(*chunks: bytes, **kwargs: int) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**kwargs)
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.flush())
    return out


def test_flowise_frame() -> None:
    """Flowise's `message:` field line is ignored and the JSON data line is the data."""
    events = decode(b'message:\ndata:{"event":"token","data":"Hi"}\n\n')
    assert events == [ServerSentEvent(data='{"event":"token","data":"Hi"}')]


def test_old_flowise_end_frame_without_colon() -> None:
    """A field line without a colon (`message`) is a field with an empty value: ignored."""
    events = decode(b'message\ndata:{"event":"end","data":"[DONE]"}\n\n')
    assert [e.data for e in events] == ['{"event":"end","data":"[DONE]"}']


@pytest.mark.parametrize("newline", [b"\n", b"\r", b"\r\n"])
def test_line_endings(newline: bytes) -> None:
    """LF, CR and CRLF all end a line."""
    stream = newline.join([b"data: a", b"data: b", b"", b"data: c", b"", b""])
    assert [e.data for e in decode(stream)] == ["a\nb", "c"]


def test_crlf_split_between_chunks() -> None:
    """A CR at the end of one chunk and its LF at the start of the next are one line end."""
    assert [e.data for e in decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n")] == ["a", "b"]


def test_cr_then_blank_line() -> None:
    """A lone CR followed later by LF is two line ends (the LF is a blank line)."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == [ServerSentEvent(data="a")]


def test_bom_stripped_once() -> None:
    """One leading BOM is stripped; a second one is part of the field name."""
    bom = "\ufeff".encode()
    assert [e.data for e in decode(bom + b"data: x\n\n")] == ["x"]
    assert decode(bom + bom + b"data: x\n\n") == []


def test_bom_split_across_chunks() -> None:
    """A BOM split over chunks is still stripped."""
    bom = "\ufeff".encode()
    assert [e.data for e in decode(bom[:1], bom[1:], b"data: x\n\n")] == ["x"]


def test_bom_only_at_stream_start() -> None:
    """A BOM after the start is not stripped."""
    assert decode(b"data: a\n\n\xef\xbb\xbfdata: b\n\n") == [ServerSentEvent(data="a")]


def test_utf8_split_inside_character() -> None:
    """A multibyte character split across chunks decodes correctly."""
    raw = "data: héllo ☃ 𝄞\n\n".encode()
    for cut in range(1, len(raw)):
        assert [e.data for e in decode(raw[:cut], raw[cut:])] == ["héllo ☃ 𝄞"], cut


def test_invalid_utf8_replaced() -> None:
    """Invalid bytes become U+FFFD."""
    assert [e.data for e in decode(b"data: a\xffb\n\n")] == ["a\ufffdb"]


def test_comments_ignored() -> None:
    """Lines starting with a colon are comments (Flowise's heartbeat)."""
    assert [e.data for e in decode(b":heartbeat\n\ndata: x\n:hi\n\n")] == ["x"]


def test_one_optional_space_after_colon() -> None:
    """Exactly one space after the colon is removed."""
    assert [e.data for e in decode(b"data:  two\n\ndata:none\n\n")] == [" two", "none"]


def test_field_without_colon_is_empty_value() -> None:
    """`data` alone adds an empty line to the data buffer."""
    assert [e.data for e in decode(b"data\ndata\n\n")] == ["\n"]


def test_unknown_fields_ignored() -> None:
    """Unknown fields are ignored."""
    assert decode(b"foo: bar\ndata: x\nbaz\n\n") == [ServerSentEvent(data="x")]


def test_block_without_data_dispatches_nothing() -> None:
    """A block with only an event name dispatches nothing, and its type does not leak."""
    assert decode(b"event: a\n\ndata: x\n\n") == [ServerSentEvent(data="x", event="message")]


def test_event_type_resets_after_dispatch() -> None:
    """The event type applies to one event only."""
    events = decode(b"event: token\ndata: a\n\ndata: b\n\n")
    assert [(e.event, e.data) for e in events] == [("token", "a"), ("message", "b")]


def test_empty_data_dispatches_empty_string() -> None:
    """`data:` with an empty value dispatches an event with empty data."""
    assert decode(b"data:\n\n") == [ServerSentEvent(data="")]


def test_id_persists_and_nul_ignored() -> None:
    """The last event id persists across events; an id with NUL is ignored."""
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\ndata: a\n\ndata: b\n\nid: x\x00y\ndata: c\n\nid\ndata: d\n\n")
    assert [e.id for e in events] == ["1", "1", "1", ""]
    assert decoder.last_event_id == ""


def test_id_none_until_set() -> None:
    """Events have id None until the stream sets one."""
    assert decode(b"data: a\n\n")[0].id is None


def test_retry_only_ascii_digits_and_per_block() -> None:
    """retry is set only from ASCII digits and only on its own block's event."""
    events = decode(
        b"retry: 100\ndata: a\n\ndata: b\n\nretry: 1x\ndata: c\n\nretry: \xd9\xa3\ndata: d\n\n"
    )
    assert [e.retry for e in events] == [100, None, None, None]


def test_unterminated_event_discarded_at_eof() -> None:
    """An event not ended by a blank line is never dispatched."""
    assert decode(b"data: a\n\ndata: b\n") == [ServerSentEvent(data="a")]
    assert decode(b"data: a\n\ndata: b") == [ServerSentEvent(data="a")]


def test_flush_makes_decoder_reusable() -> None:
    """After flush the decoder starts a new stream, keeping the committed last event id."""
    decoder = SSEDecoder()
    decoder.feed(b"id: 7\ndata: done\n\nid: 8\ndata: partial")
    assert decoder.flush() == []
    assert decoder.feed(b"data: new\n\n") == [ServerSentEvent(data="new", id="7")]


# --- last_event_id is the committed value (WHATWG: set from the buffer at dispatch) ---------


def test_id_field_sets_only_the_buffer() -> None:
    """An `id:` line alone does not change last_event_id: its block is not dispatched yet."""
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n") == []
    assert decoder.last_event_id is None


def test_id_committed_when_block_dispatched() -> None:
    """The blank line that dispatches the block commits its id, and the event carries it."""
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n\n") == [ServerSentEvent(data="a", id="1")]
    assert decoder.last_event_id == "1"


def test_id_committed_by_block_without_data() -> None:
    """A block with an id and no data dispatches no event but still commits the id."""
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 5\n\n") == []
    assert decoder.last_event_id == "5"
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent(data="x", id="5")]


def test_id_of_unterminated_block_never_committed() -> None:
    """An id in a block the stream never ends (end of stream) is not committed."""
    decoder = SSEDecoder()
    decoder.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n")
    assert decoder.flush() == []
    assert decoder.last_event_id == "1"


def test_reconnect_continues_from_committed_id() -> None:
    """The next stream starts from the committed id, not from the dropped buffer."""
    decoder = SSEDecoder()
    decoder.feed(b"id: 1\n\nid: 2\n")
    decoder.flush()
    assert decoder.last_event_id == "1"
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent(data="x", id="1")]


def test_fast_path_commits_id_of_earlier_lines() -> None:
    """An id on its own line before a fast-path data block belongs to that block."""
    decoder = SSEDecoder()
    decoder.feed(b"id: 9\n")
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent(data="x", id="9")]
    assert decoder.last_event_id == "9"


def test_event_over_cap_raises() -> None:
    """An event larger than max_event_size raises SSEProtocolError."""
    with pytest.raises(SSEProtocolError, match="max_event_size"):
        decode(b"data: " + b"x" * 600 + b"\ndata: " + b"y" * 600 + b"\n\n", max_event_size=1000)


def test_endless_line_raises_before_growing() -> None:
    """A line without a newline that exceeds the cap raises, however it is chunked."""
    decoder = SSEDecoder(max_event_size=1000)
    with pytest.raises(SSEProtocolError):
        for _ in range(100):
            decoder.feed(b"a" * 100)


def test_large_line_linear() -> None:
    """A 16 MiB line fed in 64 KiB chunks decodes (no quadratic copying: bounded time)."""
    payload = b"x" * (16 * 1024 * 1024)
    raw = b"data:" + payload + b"\n\n"
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for i in range(0, len(raw), 65536):
        events.extend(decoder.feed(raw[i : i + 65536]))
    assert len(events) == 1
    assert len(events[0].data) == len(payload)


def test_one_byte_per_feed() -> None:
    """Feeding one byte at a time gives the same events."""
    raw = b'message:\r\ndata:{"event":"token","data":"h\xc3\xa9"}\r\n\r\n:hb\n\nid: 3\ndata: z\n\n'
    assert decode(*[raw[i : i + 1] for i in range(len(raw))]) == decode(raw)


def test_rejects_non_positive_cap() -> None:
    """max_event_size must be positive."""
    with pytest.raises(ValueError, match="positive"):
        SSEDecoder(max_event_size=0)


_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"",
                b"data",
                b"data:",
                b"message:",
                b":heartbeat",
                b"event: token",
                b"id: 5",
                b"id",
                b"retry: 10",
                b"retry: x",
                b"\xef\xbb\xbfdata: bom",
            ]
        ),
        st.text(max_size=20).map(lambda t: b"data: " + t.encode()),
        st.binary(max_size=12),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    lines=_LINES,
    newline=st.sampled_from([b"\n", b"\r", b"\r\n"]),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=25),
)
def test_any_chunking_gives_same_events(
    lines: list[bytes], newline: bytes, cuts: list[int]
) -> None:
    """Every split of a stream (random points, empty chunks) yields the whole stream's events."""
    raw = newline.join(lines)
    points = sorted(min(c, len(raw)) for c in cuts)
    chunks = []
    start = 0
    for point in points:
        chunks.append(raw[start:point])  # may be empty
        start = point
    chunks.append(raw[start:])
    whole = decode(raw)
    assert decode(*chunks) == whole


def test_cap_errors_say_what_to_check() -> None:
    """The line error names the cap, the field-name allowance and the likely causes."""
    decoder = SSEDecoder(max_event_size=10)
    with pytest.raises(SSEProtocolError) as line:
        decoder.feed(b"x" * 27)
    assert str(line.value) == (
        "line longer than max_event_size (10 bytes, plus 16 for the field name) without a line "
        "break: the server sent no line end, or the cap is too small for its events"
    )
    with pytest.raises(SSEProtocolError) as event:
        SSEDecoder(max_event_size=10).feed(b"data: 12345678901\n\n")
    assert str(event.value) == "event larger than max_event_size (10 bytes)"


def test_repr_shows_cap_and_committed_id() -> None:
    """The repr names the class, the cap and the committed id."""
    decoder = SSEDecoder(max_event_size=5)
    decoder.feed(b"id: 7\n\n")
    assert repr(decoder) == "<SSEDecoder max_event_size=5 last_event_id='7'>"


def test_invalid_utf8_replaced_in_multiline_data() -> None:
    """Invalid bytes in an event of several data lines become U+FFFD too."""
    assert [e.data for e in decode(b"data: a\xff\ndata: b\n\n")] == ["a\ufffd\nb"]


def test_line_cap_boundary() -> None:
    """A complete line of exactly max_event_size + 16 bytes passes; one byte more fails."""
    assert decode(b":" + b"c" * 25 + b"\ndata: x\n\n", max_event_size=10) == [
        ServerSentEvent(data="x")
    ]
    with pytest.raises(SSEProtocolError, match="line longer"):
        decode(b":" + b"c" * 26 + b"\ndata: x\n\n", max_event_size=10)


def test_event_size_restarts_at_each_event() -> None:
    """Each event counts its own data: two events at the cap in one chunk both pass."""
    stream = b"event: a\ndata: 1234567890\n\nevent: b\ndata: 1234567890\n\n"
    events = decode(stream, max_event_size=10)
    assert [(e.event, e.data) for e in events] == [("a", "1234567890"), ("b", "1234567890")]


def test_fields_from_an_earlier_chunk_keep_the_fast_path_away() -> None:
    """An event type or retry received before a data block's chunk belongs to that event."""
    decoder = SSEDecoder()
    assert decoder.feed(b"event: token\n") == []
    assert decoder.feed(b"data: y\n\n") == [ServerSentEvent(data="y", event="token")]
    assert decoder.feed(b"retry: 5\n") == []
    assert decoder.feed(b"data: z\n\n") == [ServerSentEvent(data="z", retry=5)]


def test_cap_errors_on_the_line_path_name_the_cap() -> None:
    """Errors found on complete lines (not the fast path) give the same messages."""
    with pytest.raises(SSEProtocolError) as line:
        decode(b":" + b"c" * 26 + b"\n", max_event_size=10)
    assert str(line.value).startswith("line longer than max_event_size (10 bytes, plus 16")
    with pytest.raises(SSEProtocolError) as event:
        decode(b"event: a\ndata: 12345678901\n\n", max_event_size=10)
    assert str(event.value) == "event larger than max_event_size (10 bytes)"


def test_data_field_without_colon_counts_toward_the_cap() -> None:
    """`data` alone adds an empty line (one byte of LF) to the event's size."""
    assert [e.data for e in decode(b"data: 123456789\ndata\n\n", max_event_size=10)] == [
        "123456789\n"
    ]
    with pytest.raises(SSEProtocolError, match="event larger"):
        decode(b"data: 1234567890\ndata\n\n", max_event_size=10)


def test_size_restarts_after_flush() -> None:
    """After flush, the next stream's first event counts its own data only."""
    decoder = SSEDecoder(max_event_size=10)
    decoder.feed(b"data: a\n")
    decoder.flush()
    assert decoder.feed(b"event: x\ndata: 1234567890\n\n") == [
        ServerSentEvent(data="1234567890", event="x")
    ]


def test_invalid_utf8_in_event_type_and_id_replaced() -> None:
    """Invalid bytes in the event type and the id become U+FFFD."""
    assert decode(b"event: a\xff\nid: b\xfe\ndata: x\n\n") == [
        ServerSentEvent(data="x", event="a\ufffd", id="b\ufffd")
    ]


def test_unterminated_line_cap_boundary() -> None:
    """An unterminated line may reach max_event_size + 16 bytes over several chunks, no more."""
    decoder = SSEDecoder(max_event_size=10)
    assert decoder.feed(b"x" * 13) == []
    assert decoder.feed(b"x" * 13) == []
    with pytest.raises(SSEProtocolError, match=r"line longer than max_event_size \(10 bytes"):
        decoder.feed(b"x")
    assert SSEDecoder(max_event_size=10).feed(b"a\n" + b"x" * 26) == []
    with pytest.raises(SSEProtocolError, match=r"\(10 bytes"):
        SSEDecoder(max_event_size=10).feed(b"a\n" + b"x" * 27)


def test_fast_path_tells_a_long_line_from_a_large_event() -> None:
    """A one-line event over the cap is a line error only when the line passes the line cap."""
    with pytest.raises(SSEProtocolError, match=r"^line longer than max_event_size \(10 bytes"):
        SSEDecoder(max_event_size=10).feed(b"data:" + b"x" * 22 + b"\n\n")
    with pytest.raises(SSEProtocolError, match=r"^event larger than max_event_size \(10 bytes"):
        SSEDecoder(max_event_size=10).feed(b"data:" + b"x" * 21 + b"\n\n")
    with pytest.raises(SSEProtocolError, match=r"^event larger"):
        SSEDecoder(max_event_size=10).feed(b"message:\ndata:" + b"x" * 21 + b"\n\n")


def test_cap_must_be_a_positive_integer_message() -> None:
    """The cap's error says what is expected."""
    with pytest.raises(ValueError) as info:
        SSEDecoder(max_event_size=-1)
    assert str(info.value) == "max_event_size must be a positive integer"


def test_bytes_like_chunks_and_pending_size_after_a_joined_line() -> None:
    """bytearray and memoryview chunks decode; a line joined from pieces resets the count."""
    decoder = SSEDecoder(max_event_size=10)
    assert decoder.feed(bytearray(b"data: x\n\n")) == [ServerSentEvent(data="x")]  # type: ignore[arg-type]
    assert decoder.feed(memoryview(b"data: y\n\n")) == [ServerSentEvent(data="y")]  # type: ignore[arg-type]
    assert decoder.feed(b":abc") == []
    assert decoder.feed(b"d\n") == []
    assert decoder.feed(b"x" * 26) == []


def test_data_without_colon_over_the_cap_names_the_cap() -> None:
    """The size error of a `data` line without a colon gives the same message."""
    with pytest.raises(SSEProtocolError) as info:
        decode(b"data: 1234567890\ndata\n\n", max_event_size=10)
    assert str(info.value) == "event larger than max_event_size (10 bytes)"
