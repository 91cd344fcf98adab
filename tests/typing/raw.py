"""
Type-checked only (``nox -s typecheck``): ``with_raw_response`` keeps each method's types.

Never run; mypy --strict must accept every line. `assert_type` fails the check when a type
differs (``Any`` included), and each ``type: ignore`` below must be needed: a wrong argument
is an error, as on the plain method.
"""

from __future__ import annotations

from typing import Any, assert_type

from flowise_async import APIResponse, AsyncFlowise, EventStream, Prediction
from flowise_async.models import (
    ApiKey,
    Chatflow,
    DocumentStore,
    DocumentStoreLoader,
    Execution,
    Page,
    Tool,
    Variable,
)


async def groups(flowise: AsyncFlowise) -> None:
    raw = flowise.with_raw_response
    assert_type(await raw.chatflows.get("id"), APIResponse[Chatflow])
    assert_type(await raw.chatflows.create(name="n", flow_data={}), APIResponse[Chatflow])
    assert_type(await raw.chatflows.list(), APIResponse[list[Chatflow]])
    assert_type(await raw.chatflows.list(type="AGENTFLOW"), APIResponse[list[Chatflow]])
    assert_type(await raw.chatflows.list(page=1, limit=10), APIResponse[Page[Chatflow]])
    assert_type(await raw.variables.list(), APIResponse[list[Variable]])
    assert_type(await raw.tools.list(page=2, limit=5), APIResponse[Page[Tool]])
    assert_type(await raw.document_store.list(), APIResponse[list[DocumentStore]])
    assert_type(await raw.document_store.get("s"), APIResponse[DocumentStore])
    assert_type(
        await raw.document_store.loaders.save("s", loader="pdf", loader_config={}),
        APIResponse[DocumentStoreLoader],
    )
    assert_type(await raw.executions.get("e"), APIResponse[Execution])
    assert_type(await raw.api_keys.list(), APIResponse[list[ApiKey]])
    assert_type(await raw.predictions.create("id", "q"), APIResponse[Prediction])
    assert_type(await raw.ping(), APIResponse[str])
    assert_type(await raw.request("GET", "/api/v1/nodes"), APIResponse[Any])
    response = await raw.chatflows.get("id", timeouts=None)  # type: ignore[arg-type]
    assert_type(response.parse(), Chatflow)
    await raw.chatflows.get(1)  # type: ignore[arg-type]
    await raw.predictions.create("id", "q", no_such_option=1)  # type: ignore[call-arg]


async def stream(flowise: AsyncFlowise) -> Prediction:
    async with flowise.with_raw_response.predictions.stream("id", "Hi") as response:
        assert_type(response, APIResponse[EventStream])
        print(response.status, response.headers.get("content-type"))
        return await response.data.final()
