"""Every ```python block of the docs/api/ pages runs against the real Flowise of the harness.

Blocks are found and executed as in ``tests/unit/test_docs.py`` (in page order, one namespace
per page, each in a worker thread with its own event loop). The examples read the server, the
key and the ids they need from the environment: each page gets ``FLOWISE_BASE_URL``,
``FLOWISE_API_KEY``, ``OPENAI_API_KEY``, ``OPENAI_CREDENTIAL_ID`` and ``OPENAI_BASE_URL`` (the
fake model), plus what its setup below prepares (flows, a document store, the files the examples
open, in a temporary working directory). Whatever a setup creates is deleted afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from flowise_async import AsyncFlowise, NotFoundError
from harness.server import RealFlowise
from tests.unit.test_docs import DOCS, _run, blocks_of


pytestmark = pytest.mark.integration

PAGES = [page for page in sorted((DOCS / "api").glob("*.md")) if blocks_of(page)]
EXPECTED = {
    "api_keys",
    "assistants",
    "attachments",
    "chat_messages",
    "chatflows",
    "credentials",
    "document_store",
    "executions",
    "feedback",
    "leads",
    "predictions",
    "system",
    "tools",
    "upsert_history",
    "variables",
    "vectors",
}
# One block may stream, upsert and embed on a loaded 2-core machine; a hang still fails fast.
BLOCK_TIMEOUT = 120
# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@attrs.define
class Setup:
    """What a page's setup may use; ``cleanup`` runs after the page, also when it fails."""

    client: AsyncFlowise
    real: RealFlowise
    chatflows: dict[str, str]
    workdir: Path
    cleanup: contextlib.AsyncExitStack

    async def flow(
        self, template: str, flow_data: dict[str, Any] | None = None, **fields: Any
    ) -> str:
        """Create a chatflow from *template* (or *flow_data*), deleted after the page."""
        flow = await self.client.chatflows.create(
            name=f"docs-{template}-{uuid.uuid4().hex[:8]}",
            flow_data=flow_data or self.real.flow_data(template),
            **fields,
        )
        self.cleanup.push_async_callback(self._delete_flow, flow.id)
        return flow.id

    async def _delete_flow(self, flow_id: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self.client.chatflows.delete(flow_id)


PageSetup = Callable[[Setup], Awaitable[dict[str, str]]]


def _vision_flow(real: RealFlowise) -> dict[str, Any]:
    """The conversation template with image uploads allowed on its chat model."""
    flow = real.flow_data("conversation")
    for node in flow["nodes"]:
        if node["data"]["name"] == "chatOpenAI":
            node["data"]["inputs"]["allowImageUploads"] = True
    return flow


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


async def _conversation(setup: Setup) -> dict[str, str]:
    return {"CHATFLOW_ID": setup.chatflows["conversation"]}


async def _predictions(setup: Setup) -> dict[str, str]:
    (setup.workdir / "cat.png").write_bytes(PNG)
    (setup.workdir / "report.txt").write_text("Sales grew by 12% in March.\n\nCosts stayed flat.")
    return {
        "VISION_CHATFLOW_ID": await setup.flow("vision", _vision_flow(setup.real)),
        # The page itself enables the file input through the flow's API configuration.
        "CHATFLOW_ID": await setup.flow("textfile", _text_file_flow(setup.real)),
    }


async def _attachments(setup: Setup) -> dict[str, str]:
    (setup.workdir / "notes.txt").write_text("The meeting is at noon.")
    flow_id = await setup.flow(
        "conversation",
        chatbot_config={"fullFileUpload": {"status": True, "allowedUploadFileTypes": "text/plain"}},
    )
    return {"CHATFLOW_ID": flow_id}


async def _document_store(setup: Setup) -> dict[str, str]:
    (setup.workdir / "faq.txt").write_text("Flowise is a low-code LLM app builder.")
    store = await setup.client.document_store.create(name=f"docs-{uuid.uuid4().hex[:8]}")

    async def delete() -> None:
        with contextlib.suppress(NotFoundError):
            await setup.client.document_store.delete(store.id)

    setup.cleanup.push_async_callback(delete)
    return {"STORE_ID": store.id}


async def _retrieval(setup: Setup) -> dict[str, str]:
    return {"CHATFLOW_ID": await setup.flow("retrieval")}


async def _upserted_retrieval(setup: Setup) -> dict[str, str]:
    env = await _retrieval(setup)
    await setup.client.vectors.upsert(env["CHATFLOW_ID"])  # one record for the page to read
    return env


async def _agentflow(setup: Setup) -> dict[str, str]:
    flow_data = setup.real.flow_data("agentflow-hitl")
    return {"AGENTFLOW_ID": await setup.flow("agentflow-hitl", flow_data, type="AGENTFLOW")}


async def _nothing(setup: Setup) -> dict[str, str]:
    return {}


SETUPS: dict[str, PageSetup] = {
    "attachments": _attachments,
    "chat_messages": _conversation,
    "document_store": _document_store,
    "executions": _agentflow,
    "feedback": _conversation,
    "leads": _conversation,
    "predictions": _predictions,
    "upsert_history": _upserted_retrieval,
    "vectors": _retrieval,
}


def test_every_api_page_is_run() -> None:
    """Each API group's page has runnable examples (a broken parser or a lost page fails)."""
    assert {page.stem for page in PAGES} == EXPECTED
    assert set(SETUPS) <= EXPECTED


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
async def test_api_page_examples_run(
    page: Path,
    *,
    real_flowise: RealFlowise,
    chatflows: dict[str, str],
    client: AsyncFlowise,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Every ```python block of the page runs without error against the real server."""
    monkeypatch.chdir(tmp_path)
    env = {
        "FLOWISE_BASE_URL": real_flowise.base_url,
        "FLOWISE_API_KEY": real_flowise.api_key,
        "OPENAI_API_KEY": "sk-fake-docs",
        "OPENAI_CREDENTIAL_ID": real_flowise.credential_id,
        "OPENAI_BASE_URL": real_flowise.llm_base_url,
    }
    namespace: dict[str, Any] = {"__name__": f"docs_api_{page.stem}"}
    async with contextlib.AsyncExitStack() as cleanup:
        setup = Setup(client, real_flowise, chatflows, tmp_path, cleanup)
        env.update(await SETUPS.get(page.stem, _nothing)(setup))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for block in blocks_of(page):
            await asyncio.wait_for(
                asyncio.to_thread(_run, block, block.source, namespace), BLOCK_TIMEOUT
            )
