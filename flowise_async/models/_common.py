"""Values shared by several API groups: pages, delete results, upsert results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import attrs

from .._types import JSON
from ._prediction import Document


__all__ = ["DeleteResult", "Page", "UpsertResult"]

T = TypeVar("T")


def _extra() -> Any:
    return attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """
    One page of a paginated listing (``?page=N&limit=M``).

    Attributes:
        items: The values on this page.
        total: How many values exist in all pages.
    """

    items: list[T]
    total: int


@attrs.frozen(kw_only=True)
class DeleteResult:
    """
    What the server answers to a delete: how many rows went.

    Attributes:
        affected: The number of deleted rows (``None`` when the database does not say).
        raw: The database driver's raw answer.
    """

    affected: int | None = None
    raw: JSON = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class UpsertResult:
    """
    The result of an upsert into a vector store (document store upsert, vector upsert).

    Which counts are present depends on the vector store and on whether a record manager is
    configured; an upsert without counts answers only *result*.

    Attributes:
        num_added: Documents added.
        num_deleted: Documents deleted (record manager cleanup).
        num_updated: Documents updated.
        num_skipped: Documents skipped as unchanged (record manager).
        total_keys: Keys known to the record manager.
        added_docs: The added documents.
        result: A status text such as ``"Successfully Upserted"``.
        doc_id: The document store loader id (document store upserts).
        extra: Every other field the server sent.
    """

    num_added: int | None = None
    num_deleted: int | None = None
    num_updated: int | None = None
    num_skipped: int | None = None
    total_keys: int | None = None
    added_docs: list[Document] = attrs.field(factory=list)
    result: str | None = None
    doc_id: str | None = None
    extra: Mapping[str, JSON] = _extra()
