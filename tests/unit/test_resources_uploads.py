"""Uploads: base64 data URIs, and multipart requests parsed by a real local server."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from flowise_async import AsyncFlowise, Upload
from flowise_async.models import Attachment, UpsertResult
from tests.unit._resources_helpers import FormServer, form_client, form_server


__all__ = ["form_client", "form_server"]


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("cat.png", "image/png"),
        ("photo.jpg", "image/jpeg"),
        ("notes.txt", "text/plain"),
        ("doc.pdf", "application/pdf"),
    ],
)
def test_upload_from_bytes_builds_a_data_uri(name: str, mime: str) -> None:
    """from_bytes guesses the MIME type from the name and encodes a base64 data URI."""
    upload = Upload.from_bytes(b"\x00\x01abc", name=name)
    assert upload.mime == mime
    assert upload.data == f"data:{mime};base64," + base64.b64encode(b"\x00\x01abc").decode()
    assert upload.type == "file"


def test_upload_types_and_sources(tmp_path: Path) -> None:
    """from_path/from_file/from_url/full_text give the documented types."""
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello")
    assert Upload.from_path(path, type="file:rag").data == "data:text/plain;base64,aGVsbG8="
    assert Upload.from_path(path, type="file:rag").type == "file:rag"
    assert Upload.from_bytes(b"x", name="a.webm", type="audio").mime == "audio/webm"
    audio = Upload.from_file(io.BytesIO(b"RIFF"), name="a.webm", type="audio")
    assert (audio.type, audio.mime) == ("audio", "audio/webm")
    url = Upload.from_url("https://example.com/cat.png")
    assert (url.type, url.data, url.name) == ("url", "https://example.com/cat.png", "cat.png")
    full = Upload.full_text("some text", name="a.txt")
    assert (full.type, full.data) == ("file:full", "some text")
    assert "aGVsbG8" not in repr(Upload.from_path(path))


async def test_prediction_with_files_is_multipart(
    form_client: AsyncFlowise, form_server: FormServer, tmp_path: Path
) -> None:
    """create_with_files sends repeated `files` parts and the overrides as top-level fields."""
    form_server.answer = {"text": "read it", "chatId": "c1", "chatMessageId": "m1"}
    first = tmp_path / "a.txt"
    first.write_bytes(b"alpha " * 50_000)  # streamed from disk in chunks
    prediction = await form_client.predictions.create_with_files(
        "flow-1",
        "summarise",
        files=[first, ("b.csv", b"x,y\n1,2\n")],
        chat_id="c1",
        override_config={"returnSourceDocuments": True, "vars": {"city": "Paris"}},
    )
    assert prediction.text == "read it"
    [request] = form_server.requests
    assert request["path"] == "/api/v1/prediction/flow-1"
    assert request["content_type"] == "multipart/form-data"
    fields = request["fields"]
    assert fields["files"] == [
        ("a.txt", "text/plain", b"alpha " * 50_000),
        ("b.csv", "text/csv", b"x,y\n1,2\n"),
    ]
    assert fields["question"] == ["summarise"]
    assert fields["chatId"] == ["c1"]
    assert fields["returnSourceDocuments"] == ["true"]
    assert fields["vars"] == ['{"city": "Paris"}']


async def test_prediction_with_files_refuses_clashing_overrides(form_client: AsyncFlowise) -> None:
    """An override that would overwrite question/chatId is refused."""
    with pytest.raises(ValueError, match="must not repeat"):
        await form_client.predictions.create_with_files(
            "f", "q", files=[("a.txt", b"x")], override_config={"question": "other"}
        )


async def test_prediction_with_files_needs_a_file(form_client: AsyncFlowise) -> None:
    """An empty file list is refused; a missing path is a FileNotFoundError."""
    with pytest.raises(ValueError, match="files is empty"):
        await form_client.predictions.create_with_files("f", "q", files=[])
    with pytest.raises(FileNotFoundError):
        await form_client.predictions.create_with_files("f", "q", files=[Path("/nonexistent.txt")])


async def test_attachments(form_client: AsyncFlowise, form_server: FormServer) -> None:
    """attachments.create posts the files and the base64 flag, and types the answer."""
    form_server.answer = [
        {"name": "a.txt", "mimeType": "text/plain", "size": 5, "content": "hello"}
    ]
    [attachment] = await form_client.attachments.create(
        "flow-1", "chat-1", [("a.txt", b"hello")], base64=True
    )
    assert attachment == Attachment(name="a.txt", mime_type="text/plain", size=5, content="hello")
    [request] = form_server.requests
    assert request["path"] == "/api/v1/attachments/flow-1/chat-1"
    assert request["fields"]["files"] == [("a.txt", "text/plain", b"hello")]
    assert request["fields"]["base64"] == ["true"]


async def test_vector_upsert_multipart_and_json(
    form_client: AsyncFlowise, form_server: FormServer
) -> None:
    """vectors.upsert is multipart with files (overrides as fields), JSON without."""
    form_server.answer = {"numAdded": 2, "addedDocs": []}
    result = await form_client.vectors.upsert(
        "flow-1",
        files=[("a.txt", b"doc")],
        stop_node_id="memoryVectorStore_0",
        override_config={"chunkSize": 100},
    )
    assert result == UpsertResult(num_added=2)
    [request] = form_server.requests
    assert request["path"] == "/api/v1/vector/upsert/flow-1"
    assert request["fields"]["stopNodeId"] == ["memoryVectorStore_0"]
    assert request["fields"]["chunkSize"] == ["100"]
    assert request["fields"]["files"] == [("a.txt", "text/plain", b"doc")]


async def test_document_store_upsert_multipart(
    form_client: AsyncFlowise, form_server: FormServer
) -> None:
    """A multipart document store upsert sends object fields as JSON text."""
    form_server.answer = {"numAdded": 1, "docId": "d1"}
    result = await form_client.document_store.upsert(
        "s1",
        files=[("a.txt", b"doc")],
        loader="textFile",
        loader_config={},
        replace_existing=False,
        metadata={"team": "a"},
    )
    assert result.doc_id == "d1"
    [request] = form_server.requests
    fields = request["fields"]
    assert request["path"] == "/api/v1/document-store/upsert/s1"
    assert fields["loader"] == ['{"name": "textFile", "config": {}}']
    assert fields["metadata"] == ['{"team": "a"}']
    assert fields["replaceExisting"] == ["false"]
    assert fields["files"] == [("a.txt", "text/plain", b"doc")]
