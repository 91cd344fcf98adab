"""Document stores: stores, loaders, chunks, vector store, components, upsert and refresh."""

from __future__ import annotations

from aioresponses import aioresponses

from flowise_async import AsyncFlowise
from flowise_async.models import ChunkPage, DocumentStore, LoaderPreview, QueryResult, UpsertResult
from tests.unit._resources_helpers import BASE, client, query, route, sent


__all__ = ["client"]

DS = "/api/v1/document-store"

LOADER = {
    "id": "d1",
    "loaderId": "plainText",
    "loaderName": "plainText",
    "loaderConfig": {"text": "hello"},
    "splitterId": None,
    "totalChunks": 2,
    "totalChars": 10,
    "status": "SYNC",
}

STORE_ENTITY = {  # the entity form: configuration columns are JSON strings
    "id": "s1",
    "name": "docs",
    "description": None,
    "loaders": "[]",
    "whereUsed": "[]",
    "status": "EMPTY",
    "vectorStoreConfig": None,
    "embeddingConfig": '{"name":"openAIEmbeddings","config":{}}',
    "recordManagerConfig": None,
    "createdDate": "2025",
    "updatedDate": "2025",
    "workspaceId": "ws",
}

STORE_DTO = {  # the DTO form: decoded
    **STORE_ENTITY,
    "loaders": [LOADER],
    "whereUsed": [],
    "embeddingConfig": {"name": "openAIEmbeddings", "config": {}},
    "totalChunks": 2,
    "totalChars": 10,
}

PAGE = {
    "chunks": [
        {
            "id": "k1",
            "docId": "d1",
            "storeId": "s1",
            "chunkNo": 1,
            "pageContent": "hello",
            "metadata": '{"source":"a"}',
        }
    ],
    "count": 1,
    "file": LOADER,
    "currentPage": 1,
    "storeName": "docs",
    "description": None,
    "workspaceId": "ws",
    "docId": "d1",
    "characters": 5,
}


async def test_store_crud_decodes_both_forms(client: AsyncFlowise, mocked: aioresponses) -> None:
    """The entity (JSON strings) and the DTO (decoded) forms give the same typed store."""
    mocked.post(route(f"{DS}/store"), payload=STORE_ENTITY)
    mocked.get(f"{BASE}{DS}/store/s1", payload=STORE_DTO)
    mocked.put(f"{BASE}{DS}/store/s1", payload={**STORE_DTO, "name": "renamed"})
    mocked.delete(f"{BASE}{DS}/store/s1", payload={"deleted": 1})
    created = await client.document_store.create(
        name="docs", embedding_config={"name": "openAIEmbeddings", "config": {}}
    )
    _, kwargs = sent(mocked, "POST")
    assert kwargs["json"] == {
        "name": "docs",
        "embeddingConfig": '{"name": "openAIEmbeddings", "config": {}}',
    }
    assert isinstance(created, DocumentStore)
    assert created.loaders == []
    assert created.embedding_config == {"name": "openAIEmbeddings", "config": {}}
    store = await client.document_store.get("s1")
    assert store.loaders[0].loader_config == {"text": "hello"}
    assert store.total_chunks == 2
    assert (await client.document_store.update("s1", name="renamed")).name == "renamed"
    _, kwargs = sent(mocked, "PUT")
    assert kwargs["json"] == {"name": "renamed"}
    assert (await client.document_store.delete("s1")).affected == 1


async def test_store_list_and_iter(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Stores list as an array or pages; iter walks the pages."""
    mocked.get(route(f"{DS}/store"), payload=[STORE_DTO])
    mocked.get(route(f"{DS}/store"), payload={"data": [STORE_DTO], "total": 1})
    assert [s.id for s in await client.document_store.list()] == ["s1"]
    assert [s.id async for s in client.document_store.iter()] == ["s1"]


async def test_loaders(client: AsyncFlowise, mocked: aioresponses) -> None:
    """preview/save/process/delete send the loader object with the store id."""
    mocked.post(
        route(f"{DS}/loader/preview"),
        payload={
            "chunks": [{"pageContent": "hello", "metadata": {}}],
            "totalChunks": 3,
            "previewChunkCount": 1,
        },
    )
    mocked.post(route(f"{DS}/loader/save"), payload=LOADER)
    mocked.post(route(f"{DS}/loader/process/d1"), payload=PAGE)
    mocked.delete(f"{BASE}{DS}/loader/s1/d1", payload=STORE_DTO)
    preview = await client.document_store.loaders.preview(
        "s1",
        loader="plainText",
        loader_config={"text": "hello"},
        splitter="characterTextSplitter",
        splitter_config={"chunkSize": 5},
        preview_chunk_count=1,
    )
    assert isinstance(preview, LoaderPreview)
    assert preview.total_chunks == 3
    assert preview.chunks[0].page_content == "hello"
    _, kwargs = sent(mocked, "POST", f"{DS}/loader/preview")
    assert kwargs["json"] == {
        "storeId": "s1",
        "loaderId": "plainText",
        "loaderName": "plainText",
        "loaderConfig": {"text": "hello"},
        "splitterId": "characterTextSplitter",
        "splitterName": "characterTextSplitter",
        "splitterConfig": {"chunkSize": 5},
        "previewChunkCount": 1,
    }
    saved = await client.document_store.loaders.save(
        "s1", loader="plainText", loader_config={"text": "hello"}
    )
    assert saved.id == "d1"
    page = await client.document_store.loaders.process(
        "s1", "d1", loader="plainText", loader_config={"text": "hello"}
    )
    _, kwargs = sent(mocked, "POST", f"{DS}/loader/process/d1")
    assert kwargs["json"]["id"] == "d1"
    assert kwargs["json"]["storeId"] == "s1"
    assert isinstance(page, ChunkPage)
    assert page.chunks[0].metadata == {"source": "a"}
    assert page.file is not None
    assert page.file.total_chunks == 2
    assert (await client.document_store.loaders.delete("s1", "d1")).id == "s1"


async def test_chunks(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Chunks: page in the path, update body, delete, iter over pages."""
    mocked.get(f"{BASE}{DS}/chunks/s1/all/2", payload={**PAGE, "currentPage": 2})
    mocked.put(f"{BASE}{DS}/chunks/s1/d1/k1", payload=PAGE)
    mocked.delete(f"{BASE}{DS}/chunks/s1/d1/k1", payload=PAGE)
    mocked.get(f"{BASE}{DS}/chunks/s1/d1/1", payload=PAGE)
    assert (await client.document_store.chunks.list("s1", page=2)).current_page == 2
    await client.document_store.chunks.update(
        "s1", "d1", "k1", page_content="new", metadata={"source": "b"}
    )
    _, kwargs = sent(mocked, "PUT")
    assert kwargs["json"] == {"pageContent": "new", "metadata": {"source": "b"}}
    assert (await client.document_store.chunks.delete("s1", "d1", "k1")).count == 1
    assert [c.id async for c in client.document_store.chunks.iter("s1", "d1")] == ["k1"]


async def test_vector_store(client: AsyncFlowise, mocked: aioresponses) -> None:
    """insert/save/update/delete/query send names and configs under the wire names."""
    mocked.post(
        route(f"{DS}/vectorstore/insert"),
        payload={"numAdded": 2, "addedDocs": [{"pageContent": "a", "metadata": {}}]},
    )
    mocked.post(route(f"{DS}/vectorstore/save"), payload=STORE_ENTITY)
    mocked.post(route(f"{DS}/vectorstore/update"), payload={})
    mocked.delete(route(f"{DS}/vectorstore/s1"), body="", status=200)
    mocked.post(
        route(f"{DS}/vectorstore/query"),
        payload={
            "timeTaken": 12,
            "docs": [{"pageContent": "a", "metadata": {"x": 1}, "id": "k1", "chunkNo": 1}],
        },
    )
    result = await client.document_store.vector_store.insert(
        "s1",
        embedding="openAIEmbeddings",
        embedding_config={"basepath": "http://x"},
        vector_store="memoryVectorStore",
        vector_store_config={},
    )
    _, kwargs = sent(mocked, "POST", f"{DS}/vectorstore/insert")
    assert kwargs["json"] == {
        "storeId": "s1",
        "embeddingName": "openAIEmbeddings",
        "embeddingConfig": {"basepath": "http://x"},
        "vectorStoreName": "memoryVectorStore",
        "vectorStoreConfig": {},
    }
    assert isinstance(result, UpsertResult)
    assert result.num_added == 2
    assert result.added_docs[0].page_content == "a"
    await client.document_store.vector_store.save("s1", vector_store="memoryVectorStore")
    assert (
        await client.document_store.vector_store.update(
            "s1", vector_store="memoryVectorStore", vector_store_config={"topK": 2}
        )
        is None
    )
    await client.document_store.vector_store.delete("s1", doc_id="d1")
    url, _ = sent(mocked, "DELETE")
    assert query(url) == {"docId": "d1"}
    found = await client.document_store.vector_store.query("s1", "a?", inputs={"topK": 1})
    _, kwargs = sent(mocked, "POST", f"{DS}/vectorstore/query")
    assert kwargs["json"] == {"storeId": "s1", "query": "a?", "inputs": {"topK": 1}}
    assert isinstance(found, QueryResult)
    assert found.time_taken == 12
    assert found.docs[0].chunk_no == 1


async def test_components(client: AsyncFlowise, mocked: aioresponses) -> None:
    """The component listings are typed nodes keeping the rest in extra."""
    node = {
        "name": "plainText",
        "label": "Plain Text",
        "category": "Document Loaders",
        "version": 2,
    }
    for what in ("loaders", "embeddings", "vectorstore", "recordmanager"):
        mocked.get(f"{BASE}{DS}/components/{what}", payload=[node])
    components = client.document_store.components
    for listing in (
        components.loaders,
        components.embeddings,
        components.vector_stores,
        components.record_managers,
    ):
        [got] = await listing()
        assert got.name == "plainText"
        assert got.extra == {"version": 2}


async def test_upsert_json_and_refresh(client: AsyncFlowise, mocked: aioresponses) -> None:
    """upsert without files is JSON with {name, config} pairs; refresh sends items."""
    mocked.post(route(f"{DS}/upsert/s1"), payload={"numAdded": 1, "docId": "d9"})
    mocked.post(route(f"{DS}/refresh/s1"), payload=[{"numAdded": 1}])
    result = await client.document_store.upsert(
        "s1",
        loader="plainText",
        loader_config={"text": "x"},
        embedding="openAIEmbeddings",
        embedding_config={},
        metadata={"team": "a"},
        replace_existing=True,
    )
    _, kwargs = sent(mocked, "POST", f"{DS}/upsert/s1")
    assert kwargs["json"] == {
        "loader": {"name": "plainText", "config": {"text": "x"}},
        "embedding": {"name": "openAIEmbeddings", "config": {}},
        "metadata": {"team": "a"},
        "replaceExisting": True,
    }
    assert result.doc_id == "d9"
    [refreshed] = await client.document_store.refresh("s1", [{"docId": "d9"}])
    _, kwargs = sent(mocked, "POST", f"{DS}/refresh/s1")
    assert kwargs["json"] == {"items": [{"docId": "d9"}]}
    assert refreshed.num_added == 1


async def test_configs(client: AsyncFlowise, mocked: aioresponses) -> None:
    """configs() returns the server's description as JSON."""
    mocked.get(f"{BASE}{DS}/store-configs/s1/d1", payload=[{"nodeId": "n"}])
    assert await client.document_store.configs("s1", "d1") == [{"nodeId": "n"}]
