"""
``client.document_store``: document stores, their loaders and chunks, their vector store,
and the one-call upsert.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Unpack, overload

from ..models._common import DeleteResult, Page, UpsertResult
from ..models._document_store import (
    Chunk,
    ChunkPage,
    ComponentNode,
    DocumentStore,
    DocumentStoreLoader,
    LoaderPreview,
    QueryResult,
)
from ._base import DEFAULT_PAGE_SIZE, Endpoint, RequestOptions, Resource, ResourceContext, structure
from ._files import FileInput, form_fields, form_files


__all__ = ["Chunks", "Components", "DocumentStores", "Loaders", "VectorStore"]

_BASE = "/api/v1/document-store"
_PREVIEW = Endpoint("POST", f"{_BASE}/loader/preview")
_SAVE_LOADER = Endpoint("POST", f"{_BASE}/loader/save")
_PROCESS = Endpoint("POST", f"{_BASE}/loader/process/{{doc_id}}")
_DELETE_LOADER = Endpoint("DELETE", f"{_BASE}/loader/{{store_id}}/{{doc_id}}")
_CHUNKS = Endpoint("GET", f"{_BASE}/chunks/{{store_id}}/{{doc_id}}/{{page}}")
_UPDATE_CHUNK = Endpoint("PUT", f"{_BASE}/chunks/{{store_id}}/{{doc_id}}/{{chunk_id}}")
_DELETE_CHUNK = Endpoint("DELETE", f"{_BASE}/chunks/{{store_id}}/{{doc_id}}/{{chunk_id}}")
_INSERT = Endpoint("POST", f"{_BASE}/vectorstore/insert")
_SAVE_VECTORS = Endpoint("POST", f"{_BASE}/vectorstore/save")
_UPDATE_VECTORS = Endpoint("POST", f"{_BASE}/vectorstore/update")
_DELETE_VECTORS = Endpoint("DELETE", f"{_BASE}/vectorstore/{{store_id}}", expect="any")
_QUERY = Endpoint("POST", f"{_BASE}/vectorstore/query")
_COMPONENTS = {
    kind: Endpoint("GET", f"{_BASE}/components/{kind}")
    for kind in ("loaders", "embeddings", "vectorstore", "recordmanager")
}
_CREATE = Endpoint("POST", f"{_BASE}/store")
_LIST = Endpoint("GET", f"{_BASE}/store")
_GET = Endpoint("GET", f"{_BASE}/store/{{store_id}}")
_UPDATE = Endpoint("PUT", f"{_BASE}/store/{{store_id}}")
_DELETE = Endpoint("DELETE", f"{_BASE}/store/{{store_id}}", expect="any")
_CONFIGS = Endpoint("GET", f"{_BASE}/store-configs/{{store_id}}/{{doc_id}}")
_UPSERT = Endpoint("POST", f"{_BASE}/upsert/{{store_id}}")
_REFRESH = Endpoint("POST", f"{_BASE}/refresh/{{store_id}}")


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _component(name: str | None, config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A ``{"name", "config"}`` pair of the upsert API (``None`` when no name is given)."""
    if name is None:
        if config is not None:
            raise ValueError("a configuration needs the component's name too")
        return None
    return {"name": name, "config": dict(config or {})}


def _loader_body(
    store_id: str,
    *,
    loader: str,
    loader_config: Mapping[str, Any],
    loader_name: str | None,
    splitter: str | None,
    splitter_config: Mapping[str, Any] | None,
    splitter_name: str | None,
    doc_id: str | None = None,
    credential: str | None = None,
) -> dict[str, Any]:
    # On the wire "loaderId" is the loader component ("plainText") and "id" the loader of
    # the store; the names here avoid that clash.
    body: dict[str, Any] = {
        "storeId": store_id,
        "loaderId": loader,
        "loaderName": loader_name or loader,
        "loaderConfig": dict(loader_config),
    }
    if splitter is not None:
        body["splitterId"] = splitter
        body["splitterName"] = splitter_name or splitter
        body["splitterConfig"] = dict(splitter_config or {})
    elif splitter_config is not None:
        raise ValueError("splitter_config needs splitter= (the splitter component's name)")
    if doc_id is not None:
        body["id"] = doc_id
    if credential is not None:
        body["credential"] = credential
    return body


class Loaders(Resource):
    """
    Loaders of a document store: preview, save, process (split and store the chunks),
    delete. A loader is a loader component (``plainText``, ``textFile``, ``pdfFile`` ...)
    with its inputs, and optionally a text splitter.
    """

    __slots__ = ()

    async def preview(
        self,
        store_id: str,
        *,
        loader: str,
        loader_config: Mapping[str, Any],
        splitter: str | None = None,
        splitter_config: Mapping[str, Any] | None = None,
        loader_name: str | None = None,
        splitter_name: str | None = None,
        preview_chunk_count: int = 20,
        **options: Unpack[RequestOptions],
    ) -> LoaderPreview:
        """
        Split a source and show the first chunks, storing nothing.

        Args:
            store_id: The store.
            loader: The loader component, e.g. ``"plainText"``.
            loader_config: Its inputs, e.g. ``{"text": "..."}``.
            splitter: The text splitter component, e.g. ``"recursiveCharacterTextSplitter"``.
            splitter_config: Its inputs, e.g. ``{"chunkSize": 500}``.
            loader_name: Display name (default: *loader*).
            splitter_name: Display name (default: *splitter*).
            preview_chunk_count: How many chunks to return (``-1``: all).
        """
        body = _loader_body(
            store_id,
            loader=loader,
            loader_config=loader_config,
            loader_name=loader_name,
            splitter=splitter,
            splitter_config=splitter_config,
            splitter_name=splitter_name,
        )
        body["previewChunkCount"] = preview_chunk_count
        data = await self._call(_PREVIEW, json_body=body, options=options)
        return structure(data, LoaderPreview)

    async def save(
        self,
        store_id: str,
        *,
        loader: str,
        loader_config: Mapping[str, Any],
        splitter: str | None = None,
        splitter_config: Mapping[str, Any] | None = None,
        loader_name: str | None = None,
        splitter_name: str | None = None,
        doc_id: str | None = None,
        credential: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> DocumentStoreLoader:
        """
        Add a loader to a store, or change one (*doc_id*), without processing it.

        Returns:
            The saved loader; its *id* is the ``doc_id`` of the other calls.
        """
        body = _loader_body(
            store_id,
            loader=loader,
            loader_config=loader_config,
            loader_name=loader_name,
            splitter=splitter,
            splitter_config=splitter_config,
            splitter_name=splitter_name,
            doc_id=doc_id,
            credential=credential,
        )
        data = await self._call(_SAVE_LOADER, json_body=body, options=options)
        return structure(data, DocumentStoreLoader)

    async def process(
        self,
        store_id: str,
        doc_id: str,
        *,
        loader: str,
        loader_config: Mapping[str, Any],
        splitter: str | None = None,
        splitter_config: Mapping[str, Any] | None = None,
        loader_name: str | None = None,
        splitter_name: str | None = None,
        credential: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> ChunkPage:
        """
        Run a saved loader: split its source and store the chunks (replacing the loader's
        previous chunks). Nothing is embedded yet: see `VectorStore.insert`.

        Returns:
            The first page of the loader's chunks.
        """
        body = _loader_body(
            store_id,
            loader=loader,
            loader_config=loader_config,
            loader_name=loader_name,
            splitter=splitter,
            splitter_config=splitter_config,
            splitter_name=splitter_name,
            doc_id=doc_id,
            credential=credential,
        )
        data = await self._call(_PROCESS, {"doc_id": doc_id}, json_body=body, options=options)
        return structure(data, ChunkPage)

    async def delete(
        self, store_id: str, doc_id: str, **options: Unpack[RequestOptions]
    ) -> DocumentStore:
        """Remove a loader and its chunks from a store; returns the store."""
        data = await self._call(
            _DELETE_LOADER, {"store_id": store_id, "doc_id": doc_id}, options=options
        )
        return structure(data, DocumentStore)


class Chunks(Resource):
    """The stored chunks of a document store (50 per page)."""

    __slots__ = ()

    async def list(
        self,
        store_id: str,
        doc_id: str = "all",
        *,
        page: int = 1,
        **options: Unpack[RequestOptions],
    ) -> ChunkPage:
        """
        One page of chunks: of the whole store (*doc_id* ``"all"``) or of one loader.

        Args:
            store_id: The store.
            doc_id: A loader id, or ``"all"``.
            page: The page number, from 1 (50 chunks per page).
        """
        if page < 1:
            raise ValueError("pages count from 1")
        data = await self._call(
            _CHUNKS, {"store_id": store_id, "doc_id": doc_id, "page": str(page)}, options=options
        )
        return structure(data, ChunkPage)

    async def iter(
        self, store_id: str, doc_id: str = "all", **options: Unpack[RequestOptions]
    ) -> AsyncIterator[Chunk]:
        """Iterate over all chunks of a store or loader, one page request at a time."""
        page = 1
        seen = 0
        while True:
            result = await self.list(store_id, doc_id, page=page, **options)
            for chunk in result.chunks:
                yield chunk
            seen += len(result.chunks)
            if not result.chunks or seen >= result.count:
                return
            page += 1

    async def update(
        self,
        store_id: str,
        doc_id: str,
        chunk_id: str,
        *,
        page_content: str,
        metadata: Mapping[str, Any] | None = None,
        **options: Unpack[RequestOptions],
    ) -> ChunkPage:
        """Replace a chunk's text and metadata; returns the loader's first page."""
        body = {"pageContent": page_content, "metadata": dict(metadata or {})}
        data = await self._call(
            _UPDATE_CHUNK, _chunk(store_id, doc_id, chunk_id), json_body=body, options=options
        )
        return structure(data, ChunkPage)

    async def delete(
        self, store_id: str, doc_id: str, chunk_id: str, **options: Unpack[RequestOptions]
    ) -> ChunkPage:
        """Delete a chunk; returns the loader's first page."""
        data = await self._call(_DELETE_CHUNK, _chunk(store_id, doc_id, chunk_id), options=options)
        return structure(data, ChunkPage)


def _vector_body(
    store_id: str,
    *,
    embedding: str | None,
    embedding_config: Mapping[str, Any] | None,
    vector_store: str | None,
    vector_store_config: Mapping[str, Any] | None,
    record_manager: str | None,
    record_manager_config: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"storeId": store_id}
    for name_key, config_key, name, config in (
        ("embeddingName", "embeddingConfig", embedding, embedding_config),
        ("vectorStoreName", "vectorStoreConfig", vector_store, vector_store_config),
        ("recordManagerName", "recordManagerConfig", record_manager, record_manager_config),
    ):
        if name is not None:
            body[name_key] = name
            body[config_key] = dict(config or {})
        elif config is not None:
            raise ValueError(f"{config_key} needs the component's name too")
    return body


class VectorStore(Resource):
    """The vector store side of a document store: configure, insert, query, delete."""

    __slots__ = ()

    async def insert(
        self,
        store_id: str,
        *,
        embedding: str | None = None,
        embedding_config: Mapping[str, Any] | None = None,
        vector_store: str | None = None,
        vector_store_config: Mapping[str, Any] | None = None,
        record_manager: str | None = None,
        record_manager_config: Mapping[str, Any] | None = None,
        doc_id: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> UpsertResult:
        """
        Embed the store's chunks and insert them into the vector store (and save the
        configuration). Components left out are taken from the store's saved configuration.

        Args:
            store_id: The store.
            embedding: The embeddings component, e.g. ``"openAIEmbeddings"``.
            embedding_config: Its inputs (``{"credential": ..., "modelName": ...}``).
            vector_store: The vector store component, e.g. ``"memoryVectorStore"``.
            vector_store_config: Its inputs.
            record_manager: An optional record manager component.
            record_manager_config: Its inputs.
            doc_id: Only this loader's chunks.
        """
        body = _vector_body(
            store_id,
            embedding=embedding,
            embedding_config=embedding_config,
            vector_store=vector_store,
            vector_store_config=vector_store_config,
            record_manager=record_manager,
            record_manager_config=record_manager_config,
        )
        if doc_id is not None:
            body["docId"] = doc_id
        data = await self._call(_INSERT, json_body=body, options=options)
        return structure(data, UpsertResult)

    async def save(
        self,
        store_id: str,
        *,
        embedding: str | None = None,
        embedding_config: Mapping[str, Any] | None = None,
        vector_store: str | None = None,
        vector_store_config: Mapping[str, Any] | None = None,
        record_manager: str | None = None,
        record_manager_config: Mapping[str, Any] | None = None,
        **options: Unpack[RequestOptions],
    ) -> DocumentStore:
        """Save the embeddings / vector store / record manager configuration, inserting nothing."""
        body = _vector_body(
            store_id,
            embedding=embedding,
            embedding_config=embedding_config,
            vector_store=vector_store,
            vector_store_config=vector_store_config,
            record_manager=record_manager,
            record_manager_config=record_manager_config,
        )
        data = await self._call(_SAVE_VECTORS, json_body=body, options=options)
        return structure(data, DocumentStore)

    async def update(
        self,
        store_id: str,
        *,
        vector_store: str,
        vector_store_config: Mapping[str, Any],
        **options: Unpack[RequestOptions],
    ) -> DocumentStore | None:
        """Change only the vector store configuration; ``None`` if the server changed nothing."""
        body = {
            "storeId": store_id,
            "vectorStoreName": vector_store,
            "vectorStoreConfig": dict(vector_store_config),
        }
        data = await self._call(_UPDATE_VECTORS, json_body=body, options=options)
        if not data:
            return None
        return structure(data, DocumentStore)

    async def delete(
        self, store_id: str, *, doc_id: str | None = None, **options: Unpack[RequestOptions]
    ) -> None:
        """
        Delete the store's documents from the vector store (all, or one loader's).

        The server can do this only with a record manager configured.
        """
        await self._call(
            _DELETE_VECTORS, {"store_id": store_id}, params={"docId": doc_id}, options=options
        )

    async def query(
        self,
        store_id: str,
        query: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        **options: Unpack[RequestOptions],
    ) -> QueryResult:
        """
        Search the store's vector store.

        Args:
            store_id: The store (its vector store and embeddings must be configured).
            query: The text to search for.
            inputs: Overrides of the vector store's inputs, e.g. ``{"topK": 2}``.
        """
        body: dict[str, Any] = {"storeId": store_id, "query": query}
        if inputs is not None:
            body["inputs"] = dict(inputs)
        data = await self._call(_QUERY, json_body=body, options=options)
        return structure(data, QueryResult)


class Components(Resource):
    """The components the server offers for document stores."""

    __slots__ = ()

    async def _list(
        self, what: str, options: Mapping[str, Any] | None = None
    ) -> builtins.list[ComponentNode]:
        data = await self._call(_COMPONENTS[what], options=options)
        return structure(data, builtins.list[ComponentNode])

    async def loaders(self, **options: Unpack[RequestOptions]) -> builtins.list[ComponentNode]:
        """Document loaders (``plainText``, ``textFile``, ``pdfFile`` ...)."""
        return await self._list("loaders", options=options)

    async def embeddings(self, **options: Unpack[RequestOptions]) -> builtins.list[ComponentNode]:
        """Embeddings (``openAIEmbeddings`` ...)."""
        return await self._list("embeddings", options=options)

    async def vector_stores(
        self, **options: Unpack[RequestOptions]
    ) -> builtins.list[ComponentNode]:
        """Vector stores (``memoryVectorStore``, ``pinecone`` ...)."""
        return await self._list("vectorstore", options=options)

    async def record_managers(
        self, **options: Unpack[RequestOptions]
    ) -> builtins.list[ComponentNode]:
        """Record managers (``SQLiteRecordManager`` ...)."""
        return await self._list("recordmanager", options=options)


class DocumentStores(Resource):
    """
    Document stores: ``/api/v1/document-store``.

    Sub-groups: `loaders`, `chunks`, `vector_store`, `components`.
    """

    __slots__ = ("chunks", "components", "loaders", "vector_store")

    loaders: Loaders
    chunks: Chunks
    vector_store: VectorStore
    components: Components

    def __init__(self, ctx: ResourceContext) -> None:
        super().__init__(ctx)
        self.loaders = Loaders(ctx)
        self.chunks = Chunks(ctx)
        self.vector_store = VectorStore(ctx)
        self.components = Components(ctx)

    # -- stores -----------------------------------------------------------------------------

    async def create(
        self,
        *,
        name: str,
        description: str | None = None,
        embedding_config: Mapping[str, Any] | None = None,
        vector_store_config: Mapping[str, Any] | None = None,
        record_manager_config: Mapping[str, Any] | None = None,
        **options: Unpack[RequestOptions],
    ) -> DocumentStore:
        """
        Create an empty store.

        Args:
            name: Its name.
            description: Its description.
            embedding_config: ``{"name": ..., "config": {...}}`` of the embeddings.
            vector_store_config: ``{"name": ..., "config": {...}}`` of the vector store.
            record_manager_config: ``{"name": ..., "config": {...}}`` of a record manager.
        """
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        for key, value in (
            ("embeddingConfig", embedding_config),
            ("vectorStoreConfig", vector_store_config),
            ("recordManagerConfig", record_manager_config),
        ):
            if value is not None:
                body[key] = _json_text(value)
        data = await self._call(_CREATE, json_body=body, options=options)
        return structure(data, DocumentStore)

    @overload
    async def list(self, **options: Unpack[RequestOptions]) -> builtins.list[DocumentStore]: ...

    @overload
    async def list(
        self, *, page: int, limit: int, **options: Unpack[RequestOptions]
    ) -> Page[DocumentStore]: ...

    async def list(
        self,
        *,
        page: int | None = None,
        limit: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> builtins.list[DocumentStore] | Page[DocumentStore]:
        """List the stores: all of them, or one `Page` when *page* and *limit* are given."""
        return await self._get_list(_LIST, DocumentStore, page=page, limit=limit, options=options)

    def iter(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, **options: Unpack[RequestOptions]
    ) -> AsyncIterator[DocumentStore]:
        """Iterate over all stores, *page_size* per request."""
        return self._iter_pages(_LIST, DocumentStore, page_size=page_size, options=options)

    async def get(self, store_id: str, **options: Unpack[RequestOptions]) -> DocumentStore:
        """
        Read one store with its loaders.

        Raises:
            NotFoundError: No such store in the key's workspace.
        """
        data = await self._call(_GET, {"store_id": store_id}, options=options)
        return structure(data, DocumentStore)

    async def update(
        self,
        store_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        embedding_config: Mapping[str, Any] | None = None,
        vector_store_config: Mapping[str, Any] | None = None,
        record_manager_config: Mapping[str, Any] | None = None,
        **options: Unpack[RequestOptions],
    ) -> DocumentStore:
        """Change a store's name, description or configurations; omitted ones stay."""
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        for key, value in (
            ("embeddingConfig", embedding_config),
            ("vectorStoreConfig", vector_store_config),
            ("recordManagerConfig", record_manager_config),
        ):
            if value is not None:
                body[key] = _json_text(value)
        data = await self._call(_UPDATE, {"store_id": store_id}, json_body=body, options=options)
        return structure(data, DocumentStore)

    async def delete(self, store_id: str, **options: Unpack[RequestOptions]) -> DeleteResult:
        """Delete a store with its chunks and files (and its vectors, with a record manager)."""
        data = await self._call(_DELETE, {"store_id": store_id}, options=options)
        if isinstance(data, dict) and isinstance(data.get("deleted"), int):
            return DeleteResult(affected=data["deleted"], raw=data)
        return DeleteResult(raw=data)

    async def configs(self, store_id: str, doc_id: str, **options: Unpack[RequestOptions]) -> Any:
        """The node configurations of a loader, as the server describes them (UI helper)."""
        return await self._call(_CONFIGS, {"store_id": store_id, "doc_id": doc_id}, options=options)

    # -- one-call upsert --------------------------------------------------------------------

    async def upsert(
        self,
        store_id: str,
        *,
        files: Iterable[FileInput] | None = None,
        doc_id: str | None = None,
        loader: str | None = None,
        loader_config: Mapping[str, Any] | None = None,
        splitter: str | None = None,
        splitter_config: Mapping[str, Any] | None = None,
        embedding: str | None = None,
        embedding_config: Mapping[str, Any] | None = None,
        vector_store: str | None = None,
        vector_store_config: Mapping[str, Any] | None = None,
        record_manager: str | None = None,
        record_manager_config: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        replace_existing: bool | None = None,
        create_new_doc_store: bool | None = None,
        doc_store: Mapping[str, Any] | None = None,
        **options: Unpack[RequestOptions],
    ) -> UpsertResult:
        """
        Load, split, embed and upsert in one call: into an existing loader of the store
        (*doc_id*, its saved configuration completed by what is given here) or a new one.

        With *files* the request is multipart/form-data (paths are streamed from disk) and
        each file feeds the loader's file input.

        Args:
            store_id: The store.
            files: Files for the loader (paths or ``(name, bytes[, mime])``).
            doc_id: An existing loader to re-run (its configuration is the base).
            loader: The loader component, e.g. ``"plainText"``, with *loader_config*.
            loader_config: The loader's inputs.
            splitter: The splitter component, with *splitter_config*.
            splitter_config: The splitter's inputs.
            embedding: The embeddings component, with *embedding_config*.
            embedding_config: The embeddings' inputs.
            vector_store: The vector store component, with *vector_store_config*.
            vector_store_config: The vector store's inputs.
            record_manager: A record manager component, with *record_manager_config*.
            record_manager_config: The record manager's inputs.
            metadata: Metadata added to every document.
            replace_existing: Replace the chunks of *doc_id* instead of adding a loader.
            create_new_doc_store: Create a new store (named by *doc_store*) for the upsert.
            doc_store: ``{"name", "description"}`` of that new store.

        Returns:
            The vector store's result, with the loader id in *doc_id*.
        """
        fields: dict[str, Any] = {
            "docId": doc_id,
            "loader": _component(loader, loader_config),
            "splitter": _component(splitter, splitter_config),
            "embedding": _component(embedding, embedding_config),
            "vectorStore": _component(vector_store, vector_store_config),
            "recordManager": _component(record_manager, record_manager_config),
            "metadata": dict(metadata) if metadata is not None else None,
            "replaceExisting": replace_existing,
            "createNewDocStore": create_new_doc_store,
            "docStore": dict(doc_store) if doc_store is not None else None,
        }
        path = {"store_id": store_id}
        if files is not None:
            parts = form_files(files)
            if not parts:
                raise ValueError("files is empty: give at least one file, or files=None")
            # The server parses the object fields of a multipart upsert from JSON text.
            data = await self._call(
                _UPSERT, path, form=form_fields(fields), files=parts, options=options
            )
        else:
            body = {key: value for key, value in fields.items() if value is not None}
            data = await self._call(_UPSERT, path, json_body=body, options=options)
        return structure(data, UpsertResult)

    async def refresh(
        self,
        store_id: str,
        items: Sequence[Mapping[str, Any]] | None = None,
        **options: Unpack[RequestOptions],
    ) -> builtins.list[UpsertResult]:
        """
        Re-run loaders and upsert again: every loader of the store, or the given *items*
        (upsert bodies in wire form, e.g. ``[{"docId": ...}]``).
        """
        body = {"items": [dict(item) for item in items]} if items else {}
        data = await self._call(_REFRESH, {"store_id": store_id}, json_body=body, options=options)
        return structure(data, builtins.list[UpsertResult])


def _chunk(store_id: str, doc_id: str, chunk_id: str) -> dict[str, str]:
    return {"store_id": store_id, "doc_id": doc_id, "chunk_id": chunk_id}
