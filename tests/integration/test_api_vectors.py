"""Vector upsert, retrieval and upsert history on a real Flowise."""

from __future__ import annotations

import pytest

from flowise_async import AsyncFlowise


pytestmark = pytest.mark.integration

LINES = ("2.2.8", "3.0.13", "3.1.4")  # the API is the same in queue mode


async def test_upsert_then_retrieve_then_history(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """Upsert the retrieval flow's documents, get them back as sources, then see the history."""
    flow = chatflows["retrieval"]
    before = {r.id for r in await client.upsert_history.list(flow)}
    result = await client.vectors.upsert(flow, stop_node_id="memoryVectorStore_0")
    assert result.num_added == 3
    assert {doc.page_content for doc in result.added_docs} == {
        "Paris is the capital of France.",
        "Berlin is the capital of Germany.",
        "Madrid is the capital of Spain.",
    }

    prediction = await client.predictions.create(flow, "What is the capital of France?")
    sources = [doc.page_content for doc in prediction.source_documents]
    assert sources
    assert set(sources) <= {doc.page_content for doc in result.added_docs}
    assert all(doc.metadata.get("source") == "capitals.txt" for doc in prediction.source_documents)

    history = await client.upsert_history.list(flow, order="DESC")
    new = [r for r in history if r.id not in before]
    assert len(new) == 1
    assert isinstance(new[0].result, dict)
    assert new[0].result.get("numAdded") == 3
    deleted = await client.upsert_history.delete([new[0].id])
    assert deleted.affected in (1, None)
    assert new[0].id not in {r.id for r in await client.upsert_history.list(flow)}
