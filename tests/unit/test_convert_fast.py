"""The fast path for source documents gives what the generic converter gives, errors included."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flowise_async import EventDecodeError
from flowise_async import events as ev
from flowise_async._event_table import _documents, _documents_generic, decode_message
from flowise_async.models import Document


USUAL = {"pageContent": "text é 🚀", "metadata": {"source": "a.txt", "loc": {"lines": 1}}}

SHAPES: list[Any] = [
    [],
    [USUAL, USUAL],
    [USUAL, {"pageContent": "x", "metadata": {}, "id": "d1"}],  # an extra key
    [USUAL, {"pageContent": None, "metadata": {}}],  # null: the default
    [USUAL, {"metadata": {"a": 1}, "pageContent": "y"}],  # other key order
    [{"pageContent": "only"}],
    [{"pageContent": "x", "meta": {}}],  # two keys, not the usual ones
    None,
]


@pytest.mark.parametrize("value", SHAPES)
def test_fast_documents_equal_the_generic_ones(value: Any) -> None:
    fast = _documents(value)
    assert fast == _documents_generic(value)
    assert all(type(d) is Document for d in fast)


BAD: list[Any] = [
    [USUAL, {"pageContent": 3, "metadata": {}}],
    [USUAL, {"pageContent": "x", "metadata": []}],
    [USUAL, "not an object"],
    {"pageContent": "x"},
]


@pytest.mark.parametrize("value", BAD)
def test_a_bad_document_is_the_same_typed_error(value: Any) -> None:
    data = json.dumps({"event": "sourceDocuments", "data": value})
    with pytest.raises(EventDecodeError) as fast:
        decode_message(data)
    with pytest.raises(ValueError) as generic:
        _documents_generic(value)
    assert str(generic.value) in fast.value.message
    assert fast.value.event == "sourceDocuments"


def test_documents_event_from_the_wire() -> None:
    data = json.dumps({"event": "sourceDocuments", "data": [USUAL]})
    assert decode_message(data) == ev.SourceDocumentsEvent(
        documents=[Document(page_content=USUAL["pageContent"], metadata=USUAL["metadata"])]
    )
