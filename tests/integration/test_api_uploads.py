"""Multipart uploads to a flow whose loader reads files (real Flowise)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from flowise_async import AsyncFlowise
from harness.server import RealFlowise


pytestmark = pytest.mark.integration

LINES = ("2.2.8", "3.0.13", "3.1.4")  # the API is the same in queue mode

RIVERS = "The Seine flows through Paris.\n\nThe Spree flows through Berlin."
# Files reach a loader only if the flow's API configuration lets callers override its input.
API_CONFIG = {
    "overrideConfig": {
        "status": True,
        "nodes": {
            "Text File": [{"label": "Txt File", "name": "txtFile", "type": "file", "enabled": True}]
        },
    }
}


def _text_file_flow(real: RealFlowise) -> dict[str, Any]:
    """The retrieval template with its plain-text loader replaced by a text-file loader."""
    flow = real.flow_data("retrieval")
    for node in flow["nodes"]:
        if node["id"] == "plainText_0":
            node["data"].update(
                name="textFile",
                label="Text File",
                type="Document",
                category="Document Loaders",
                inputs={
                    "txtFile": "",
                    "textSplitter": "{{characterTextSplitter_0.data.instance}}",
                    "metadata": "",
                    "omitMetadataKeys": "",
                },
            )
    return flow


@pytest.fixture
async def file_flow(client: AsyncFlowise, real_flowise: RealFlowise) -> AsyncIterator[str]:
    """A retrieval flow fed by a text file, deleted after the test."""
    flow = await client.chatflows.create(
        name=f"it-files-{uuid.uuid4().hex[:8]}",
        flow_data=_text_file_flow(real_flowise),
        api_config=API_CONFIG,
    )
    yield flow.id
    await client.chatflows.delete(flow.id)


async def test_vector_upsert_with_a_file(
    client: AsyncFlowise, file_flow: str, tmp_path: Path
) -> None:
    """A multipart vector upsert embeds the file's chunks (streamed from disk)."""
    path = tmp_path / "rivers.txt"
    path.write_text(RIVERS)
    result = await client.vectors.upsert(file_flow, files=[path])
    assert result.num_added == 2
    assert {doc.page_content for doc in result.added_docs} == {
        "The Seine flows through Paris.",
        "The Spree flows through Berlin.",
    }


async def test_prediction_with_a_file_retrieves_from_it(
    client: AsyncFlowise, file_flow: str
) -> None:
    """create_with_files runs the flow on the uploaded file: its chunks are the sources."""
    prediction = await client.predictions.create_with_files(
        file_flow,
        "Which river flows through Berlin?",
        files=[("rivers.txt", RIVERS.encode())],
    )
    assert prediction.text
    assert {doc.page_content for doc in prediction.source_documents} == {
        "The Seine flows through Paris.",
        "The Spree flows through Berlin.",
    }
    messages = await client.chat_messages.list(file_flow, chat_id=prediction.chat_id)
    assert next(m.content for m in messages) == "Which river flows through Berlin?"
