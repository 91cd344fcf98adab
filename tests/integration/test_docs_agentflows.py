"""
The examples of docs/agentflows.md run against the real Flowise of the harness.

``tests/unit/test_docs.py`` runs the same ```python blocks against the fake server (its
agent flows wait for a person as Flowise 3.1.4's do); this test runs them, in page order, in
one namespace, each in a worker thread with its own event loop, against a real server, with
the flows they read from the environment.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from flowise_async import AsyncFlowise
from harness.server import RealFlowise
from tests.integration.test_api_uploads import API_CONFIG, _text_file_flow
from tests.unit.test_docs import DOCS, _run, blocks_of


pytestmark = pytest.mark.integration

PAGE = DOCS / "agentflows.md"
BLOCK_TIMEOUT = 120


def test_the_page_has_its_examples() -> None:
    """The runner finds the page's examples (a broken parser or a lost page fails)."""
    assert len(blocks_of(PAGE)) >= 6


@pytest.fixture
async def flows(client: AsyncFlowise, real_flowise: RealFlowise) -> AsyncIterator[dict[str, str]]:
    """The flows the page's examples use, deleted afterwards."""
    made: dict[str, str] = {}
    specs: dict[str, dict[str, Any]] = {
        "AGENTFLOW_ID": {
            "type": "AGENTFLOW",
            "flow_data": real_flowise.flow_data("agentflow-hitl"),
        },
        "CHATFLOW_ID": {"flow_data": real_flowise.flow_data("conversation")},
        "FILE_CHATFLOW_ID": {
            "flow_data": _text_file_flow(real_flowise),
            "api_config": API_CONFIG,
        },
    }
    try:
        for name, fields in specs.items():
            flow = await client.chatflows.create(name=f"docs-{uuid.uuid4().hex[:8]}", **fields)
            made[name] = flow.id
        yield made
    finally:
        for flow_id in made.values():
            await client.chatflows.delete(flow_id)


async def test_agentflows_page_examples_run(
    real_flowise: RealFlowise,
    flows: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Every example of the page runs without error against the real server."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWISE_BASE_URL", real_flowise.base_url)
    monkeypatch.setenv("FLOWISE_API_KEY", real_flowise.api_key)
    for name, value in flows.items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {"__name__": "docs_agentflows"}
    for block in blocks_of(PAGE):
        await asyncio.wait_for(
            asyncio.to_thread(_run, block, block.source, namespace), BLOCK_TIMEOUT
        )
