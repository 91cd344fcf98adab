"""The ``llm`` package as a gateway client: a private user directory and its OpenAI clients."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest


def write_llm_home(home: Path, *, api_base: str, key: str, model_id: str, model: str) -> Path:
    """Make *home* an ``LLM_USER_PATH`` naming the gateway as an OpenAI-compatible model."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "extra-openai-models.yaml").write_text(
        f"- model_id: {model_id}\n"
        f"  model_name: {json.dumps(model)}\n"
        f"  api_base: {json.dumps(api_base)}\n"
        "  api_key_name: flowise-gateway\n"
    )
    (home / "keys.json").write_text(json.dumps({"flowise-gateway": key}))
    return home


@asynccontextmanager
async def closing_openai_clients(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[Any]]:
    """Record the OpenAI clients llm makes and close them at the end (llm leaves them open)."""
    openai = pytest.importorskip("openai", reason="needs openai (test extra)")
    made: list[Any] = []

    class AsyncOpenAI(openai.AsyncOpenAI):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    class OpenAI(openai.OpenAI):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    with monkeypatch.context() as patch:
        patch.setattr(openai, "AsyncOpenAI", AsyncOpenAI)
        patch.setattr(openai, "OpenAI", OpenAI)
        try:
            yield made
        finally:
            for client in made:
                if isinstance(client, AsyncOpenAI):
                    await client.close()
                else:
                    client.close()
