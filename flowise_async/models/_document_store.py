"""Document stores: stores, loaders, chunks, vector store queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._types import JSON, JSON_STRING
from ._prediction import Document


__all__ = [
    "Chunk",
    "ChunkPage",
    "ComponentNode",
    "DocumentStore",
    "DocumentStoreLoader",
    "LoaderPreview",
    "QueryResult",
    "StoreDocument",
]


def _extra() -> Any:
    return attrs.field(factory=dict, repr=False)


def _json() -> Any:
    return attrs.field(default=None, metadata={JSON_STRING: True})


@attrs.frozen(kw_only=True)
class DocumentStoreLoader:
    """
    A document loader of a store, with its splitter and the chunks it produced.

    Attributes:
        id: The loader's id in this store (``doc_id`` / ``loader_id`` in other calls).
        loader_id: The loader component, e.g. ``"plainText"`` or ``"textFile"``.
        loader_name: Its display name.
        loader_config: The loader's inputs.
        splitter_id: The text splitter component, if any.
        splitter_name: Its display name.
        splitter_config: The splitter's inputs.
        total_chunks: Chunks produced.
        total_chars: Characters in those chunks.
        status: ``SYNC``, ``SYNCING``, ``STALE``, ...
        files: Files stored for the loader.
        source: A short description of the source, as the UI shows it.
        extra: Every other field the server sent.
    """

    id: str
    loader_id: str | None = None
    loader_name: str | None = None
    loader_config: JSON = _json()
    splitter_id: str | None = None
    splitter_name: str | None = None
    splitter_config: JSON = _json()
    total_chunks: int | None = None
    total_chars: int | None = None
    status: str | None = None
    files: list[JSON] | None = None
    source: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class DocumentStore:
    """
    A document store: loaders that produce chunks, and the vector store they go into.

    The configuration columns (*loaders*, *where_used*, *vector_store_config*,
    *embedding_config*, *record_manager_config*) are decoded, also where the server sends
    them as JSON strings.

    Attributes:
        id: The store id.
        name: Its name.
        description: Its description.
        status: ``EMPTY``, ``SYNC``, ``SYNCING``, ``STALE``, ``NEW``, ``UPSERTING`` or
            ``UPSERTED``.
        loaders: The loaders.
        where_used: Chatflows that use the store.
        vector_store_config: ``{"name", "config"}`` of the vector store, if configured.
        embedding_config: ``{"name", "config"}`` of the embeddings, if configured.
        record_manager_config: ``{"name", "config"}`` of the record manager, if any.
        total_chunks: Chunks in all loaders.
        total_chars: Characters in all loaders.
        created_date: ISO timestamp.
        updated_date: ISO timestamp.
        workspace_id: The workspace it belongs to.
        extra: Every other field the server sent.
    """

    id: str
    name: str = ""
    description: str | None = None
    status: str | None = None
    loaders: list[DocumentStoreLoader] = attrs.field(factory=list, metadata={JSON_STRING: True})
    where_used: list[JSON] = attrs.field(factory=list, metadata={JSON_STRING: True})
    vector_store_config: JSON = _json()
    embedding_config: JSON = _json()
    record_manager_config: JSON = _json()
    total_chunks: int | None = None
    total_chars: int | None = None
    created_date: str | None = None
    updated_date: str | None = None
    workspace_id: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class Chunk:
    """
    A stored chunk of a document store.

    Attributes:
        id: The chunk id (for ``chunks.update`` / ``chunks.delete``).
        doc_id: The loader that produced it.
        store_id: The store.
        chunk_no: Its position (from 1).
        page_content: The text.
        metadata: Its metadata, decoded from the server's JSON string.
        extra: Every other field the server sent.
    """

    id: str
    doc_id: str | None = None
    store_id: str | None = None
    chunk_no: int | None = None
    page_content: str = ""
    metadata: Mapping[str, JSON] = attrs.field(factory=dict, metadata={JSON_STRING: True})
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class ChunkPage:
    """
    A page of up to 50 chunks of a store or of one of its loaders.

    Attributes:
        chunks: The chunks on this page.
        count: Chunks in all pages.
        characters: Characters in all chunks.
        current_page: This page's number (from 1).
        file: The loader, when the page is of one loader.
        doc_id: The loader id, or ``"all"``.
        store_name: The store's name.
        description: The store's description.
        workspace_id: The store's workspace.
        extra: Every other field the server sent.
    """

    chunks: list[Chunk] = attrs.field(factory=list)
    count: int = 0
    characters: int | None = None
    current_page: int | None = None
    file: DocumentStoreLoader | None = None
    doc_id: str | None = None
    store_name: str | None = None
    description: str | None = None
    workspace_id: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class LoaderPreview:
    """
    The first chunks a loader and splitter would produce (nothing is stored).

    Attributes:
        chunks: The previewed chunks.
        total_chunks: How many chunks the whole source gives.
        preview_chunk_count: How many are in *chunks*.
        extra: Every other field the server sent.
    """

    chunks: list[Document] = attrs.field(factory=list)
    total_chunks: int = 0
    preview_chunk_count: int | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class StoreDocument:
    """
    A document found by a vector store query.

    Attributes:
        page_content: The text.
        metadata: Its metadata.
        id: The chunk id, if the server found it among the store's chunks.
        chunk_no: The chunk's number, ``-1`` if not found among the store's chunks.
        extra: Every other field the server sent.
    """

    page_content: str = ""
    metadata: Mapping[str, JSON] = attrs.field(factory=dict)
    id: str | None = None
    chunk_no: int | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class QueryResult:
    """
    The answer of a vector store query.

    Attributes:
        docs: The documents found, best first.
        time_taken: The server's query time in milliseconds.
        extra: Every other field the server sent.
    """

    docs: list[StoreDocument] = attrs.field(factory=list)
    time_taken: float | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class ComponentNode:
    """
    A component (loader, splitter, embeddings, vector store, record manager) the server
    offers, as described by the server: its *name* is what the configuration calls use.

    Attributes:
        name: The component name, e.g. ``"plainText"`` or ``"memoryVectorStore"``.
        label: Its display name.
        category: Its category.
        description: What it does.
        inputs: Its input parameters (descriptions of names, types, defaults).
        extra: Every other field the server sent.
    """

    name: str
    label: str = ""
    category: str | None = None
    description: str | None = None
    inputs: list[JSON] = attrs.field(factory=list)
    extra: Mapping[str, JSON] = _extra()
