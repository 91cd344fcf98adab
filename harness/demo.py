"""
Stream a prediction token by token through ``flowise_async``, against a real Flowise.

Without configuration it installs Flowise if needed, starts the fake model and Flowise on
127.0.0.1, creates a demo chatflow through the library, streams one answer to the terminal
and stops everything again::

    python -m harness.demo
    python -m harness.demo "Tell me something [[words=20]]"

With ``FLOWISE_BASE_URL`` set it uses that server instead and creates nothing on it: the
chatflow is the one given with ``--chatflow-id`` or ``FLOWISE_CHATFLOW_ID``, else the server's
only chatflow (when it has several, they are listed to choose from); the key comes from
``FLOWISE_API_KEY``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from harness.server import RealFlowise


DEFAULT_QUESTION = (
    "Hello from flowise_async! This answer streams one word at a time, as it is made."
)
TOKEN_DELAY_MS = 120  # the fake model waits this long before each token, so streaming shows


async def stream_answer(base_url: str, api_key: str | None, chatflow_id: str, question: str) -> str:
    """Stream the answer to *question* to stdout, event by event; return the answer text."""
    from flowise_async import AsyncFlowise
    from flowise_async.events import (
        EndEvent,
        MetadataEvent,
        SourceDocumentsEvent,
        StartEvent,
        TokenEvent,
        UsedToolsEvent,
    )

    started = time.monotonic()
    first_token: float | None = None
    parts: list[str] = []
    async with (
        AsyncFlowise(base_url, api_key=api_key) as client,
        client.predictions.stream(chatflow_id, question) as stream,
    ):
        print(f"question: {question}")
        print(f"chat id:  {stream.chat_id}")
        print("answer:   ", end="", flush=True)
        async for event in stream:
            match event:
                case StartEvent():
                    pass
                case TokenEvent(text=text):
                    if first_token is None and text:
                        first_token = time.monotonic() - started
                    parts.append(text)
                    print(text, end="", flush=True)
                case SourceDocumentsEvent(documents=documents):
                    print(f"\n[{len(documents)} source documents]", flush=True)
                case UsedToolsEvent(tools=tools):
                    print(f"\n[tools: {', '.join(tool.tool for tool in tools)}]", flush=True)
                case MetadataEvent(chat_message_id=message_id):
                    print(f"\nmessage id: {message_id}", flush=True)
                case EndEvent():
                    print("[end of stream]", flush=True)
                case _:
                    print(f"\n[{type(event).__name__}]", flush=True)
    total = time.monotonic() - started
    timing = f"first token after {first_token:.2f} s, " if first_token is not None else ""
    print(f"({timing}{len(parts)} token events, {total:.2f} s in all)")
    return "".join(parts)


def _demo_flow_data(real: RealFlowise) -> dict[str, Any]:
    """The conversation flow, with the model asked (by a header) to pace its tokens."""
    flow_data = real.flow_data("conversation")
    for node in flow_data["nodes"]:
        if node["data"]["name"] == "chatOpenAI":
            # ChatOpenAI's "baseOptions" become default headers of its requests.
            node["data"]["inputs"]["baseOptions"] = json.dumps(
                {"X-Fake-Delay-Ms": str(TOKEN_DELAY_MS)}
            )
    return flow_data


async def _with_own_server(question: str) -> int:
    from flowise_async import AsyncFlowise
    from harness.server import FlowiseServer

    print("starting the fake model and Flowise (install first if needed) ...", flush=True)
    # SQLite, Flowise's own default: nothing system-wide to install, no root needed.
    with FlowiseServer(database="sqlite") as real:
        async with AsyncFlowise(real.base_url, api_key=real.api_key) as client:
            flow = await client.chatflows.create(
                name="flowise-async demo", type="CHATFLOW", flow_data=_demo_flow_data(real)
            )
            print(f"created chatflow {flow.id} on {real.base_url}", flush=True)
            try:
                await stream_answer(real.base_url, real.api_key, flow.id, question)
            finally:
                await client.chatflows.delete(flow.id)
        print("stopping Flowise and the fake model ...", flush=True)
    return 0


async def _with_given_server(
    base_url: str, api_key: str | None, chatflow_id: str | None, question: str
) -> int:
    """Stream from a server this demo did not start: choose a chatflow, never create one."""
    from flowise_async import AsyncFlowise, AuthenticationError, FlowiseError

    try:
        if chatflow_id is None:
            async with AsyncFlowise(base_url, api_key=api_key) as client:
                flows = await client.chatflows.list()
            if len(flows) != 1:
                print(f"{base_url} has {len(flows)} chatflows:", file=sys.stderr)
                for flow in flows:
                    print(f"  {flow.id}  {flow.name}  ({flow.type})", file=sys.stderr)
                print(
                    "choose one: --chatflow-id ID or FLOWISE_CHATFLOW_ID"
                    if flows
                    else "create one in the Flowise UI, then run the demo again",
                    file=sys.stderr,
                )
                return 2
            chatflow_id = flows[0].id
            print(f"using chatflow {chatflow_id} ({flows[0].name}), the only one on {base_url}")
        await stream_answer(base_url, api_key, chatflow_id, question)
    except AuthenticationError as exc:
        print(f"error: {exc.message}; set FLOWISE_API_KEY to a key of {base_url}", file=sys.stderr)
        return 4
    except FlowiseError as exc:
        print(f"\nerror: {exc.message}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Stream a Flowise prediction to the terminal.")
    parser.add_argument("question", nargs="?", default=DEFAULT_QUESTION)
    parser.add_argument(
        "--chatflow-id",
        default=os.environ.get("FLOWISE_CHATFLOW_ID"),
        help="chatflow to use with FLOWISE_BASE_URL (default: $FLOWISE_CHATFLOW_ID, else the "
        "server's only chatflow)",
    )
    args = parser.parse_args(argv)
    base_url = os.environ.get("FLOWISE_BASE_URL")
    if base_url:
        api_key = os.environ.get("FLOWISE_API_KEY") or None
        return asyncio.run(
            _with_given_server(base_url, api_key, args.chatflow_id or None, args.question)
        )
    return asyncio.run(_with_own_server(args.question))


if __name__ == "__main__":
    sys.exit(main())
