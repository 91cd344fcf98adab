"""
The examples of docs/agentflows.md run against the real Flowise of the harness.

They need an agent flow that stops for a person, which the fake server of the guide's other
pages (tests/unit/test_docs.py) does not run, so the page writes them as
``{code-block} python`` directives, and this test runs those blocks: in page order, in one
namespace, each in a worker thread with its own event loop, as ``test_docs_api`` does.
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
from tests.unit.test_docs import DOCS, Block, _run


pytestmark = pytest.mark.integration

PAGE = DOCS / "agentflows.md"
BLOCK_TIMEOUT = 120


def code_blocks(page: Path) -> list[Block]:
    """The ```{code-block} python blocks of *page*, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() == "```{code-block} python":
            start = index + 1
            end = start
            while lines[end].strip() != "```":
                end += 1
            blocks.append(Block(page, start + 1, "\n".join(lines[start:end]) + "\n", None))
            index = end
        index += 1
    return blocks


def test_the_page_has_its_examples() -> None:
    """The runner finds the page's examples (a broken parser or a lost page fails)."""
    assert len(code_blocks(PAGE)) >= 6


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
    for block in code_blocks(PAGE):
        await asyncio.wait_for(
            asyncio.to_thread(_run, block, block.source, namespace), BLOCK_TIMEOUT
        )
